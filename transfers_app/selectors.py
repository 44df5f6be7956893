"""Reading payments: the payment history (GET /payments*) and in-flight transfers.

Both read plain rows with ``values_list`` in one query each; the API turns them into wire dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from channels_app.models import ChainEvent, TokenNetwork
from raidennode.nodes.models import Node

from .models import Payment


@dataclass(frozen=True, slots=True)
class PaymentEventRow:
    role: str
    status: str
    amount: int
    identifier: int
    initiator: str
    target: str
    failure_reason: str
    finished_at: datetime
    token_address: str


_EVENT_COLUMNS = (
    "role",
    "status",
    "amount",
    "payment_identifier",
    "initiator",
    "target",
    "failure_reason",
    "finished_at",
    "token_network__token_address",
)


BIGINT_MAX = 2**63 - 1


def payment_events_for(
    node: Node,
    token_network: TokenNetwork | None = None,
    partner: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[PaymentEventRow]:
    """The node's finished payments as Raiden's payment events, oldest first.

    Sent: the initiator's succeeded and failed payments; received: the target's succeeded ones.
    With ``partner``, sent payments to it and received payments from it.
    """
    events = Payment.objects.filter(node=node, finished_at__isnull=False).filter(
        Q(role=Payment.Role.INITIATOR) | Q(role=Payment.Role.TARGET, status=Payment.Status.SUCCEEDED)
    )
    if token_network is not None:
        events = events.filter(token_network=token_network)
    if partner is not None:
        events = events.filter(
            Q(role=Payment.Role.INITIATOR, target=partner) | Q(role=Payment.Role.TARGET, initiator=partner)
        )
    # SQL's OFFSET and LIMIT are bigints: a larger offset is past the end, a larger limit is none
    if offset > BIGINT_MAX:
        return []
    events = events.order_by("finished_at", "id")[offset:]
    if limit is not None and limit <= BIGINT_MAX:
        events = events[:limit]
    return [PaymentEventRow(*row) for row in events.values_list(*_EVENT_COLUMNS)]


@dataclass(frozen=True, slots=True)
class PendingTransferRow:
    identifier: int
    token_address: str
    token_network_address: str
    channel_identifier: int
    initiator: str
    target: str
    transferred_amount: int
    locked_amount: int
    role: str


def pending_transfers_for(
    node: Node, token_network: TokenNetwork | None = None, partner: str | None = None
) -> list[PendingTransferRow]:
    """The node's in-flight transfers: the initiator's outgoing one, the mediator's and the
    target's incoming one (spec 3.4); with ``partner``, only those on our channel with it."""
    pending = Payment.objects.filter(node=node, status=Payment.Status.PENDING)
    if token_network is not None:
        pending = pending.filter(token_network=token_network)
    rows = pending.order_by("id").values_list(
        "payment_identifier",
        "token_network__token_address",
        "token_network__address",
        "role",
        "payee_channel__network_channel__identifier",
        "payee_channel__partner_address",
        "payer_channel__network_channel__identifier",
        "payer_channel__partner_address",
        "initiator",
        "target",
        "transfer_transferred",
        "transfer_locked",
    )
    result = []
    for identifier, token, network, role, payee_id, payee, payer_id, payer, initiator, target, sent, locked in rows:
        channel_identifier, channel_partner = (payee_id, payee) if role == Payment.Role.INITIATOR else (payer_id, payer)
        if channel_identifier is None or (partner is not None and channel_partner != partner):
            continue
        result.append(
            PendingTransferRow(identifier, token, network, channel_identifier, initiator, target, sent, locked, role)
        )
    return result


def secret_registered_before(secrethash: str, block: int) -> str | None:
    """The secret of ``secrethash`` ("0x..."), when its registration on chain (an ingested
    SecretRevealed) was mined before ``block``: a lock expiring at ``block`` can then be claimed."""
    event = (
        ChainEvent.objects.filter(name="SecretRevealed", args__secrethash=secrethash, block_number__lt=block)
        .values_list("args", flat=True)
        .first()
    )
    return event["secret"] if event else None
