"""Starting a payment (the initiator) and waiting for its end: POST /payments/<token>/<target>.

``payment_initiate`` runs Raiden's checks in Raiden's order, then, in one transaction with the
first hop's channel row locked, adds the lock to our end, signs the LockedTransfer and records
it with the Payment; the message leaves after commit. Between co-hosted nodes the whole flow
(SecretRequest, RevealSecret, Unlock) then runs in this thread before ``payment_initiate``
returns. Otherwise it waits for the Payment row to end (a retried delivery, an expiring lock).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import TokenNetwork
from channels_app.offchain import channel_state_of, channel_state_save, channels_lock, locks_to_json
from channels_app.selectors import token_network_by_token
from raidennode.errors import Conflict, InsufficientFunds
from raidennode.nodes.models import Node
from raidennode.nodes.services import node_account
from raidennode.protocol.channel import ChannelError, initial_expiration, lock_timeout_usable, send_lock
from raidennode.protocol.constants import UINT64_MAX, UINT256_MAX
from raidennode.protocol.hashing import sha256
from raidennode.protocol.messages import Lock, LockedTransfer
from raidennode.protocol.metadata import route_metadata
from raidennode.sql import row_insert, row_select, row_update, rows_select

from ..models import Payment
from .messaging import (
    CONTEXT_MAX_AGE,
    chain_context,
    message_identifier_new,
    message_record,
    messages_send_after_commit,
    state_change_log,
)
from .routing import Route, direct_hop, node_hops, routes_find


class PaymentFailed(Conflict):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Payment couldn't be completed because: {reason}")
        self.reason = reason


NO_CHANNEL = "You have no suitable channel to initiate this payment."
NO_ROUTE = "None of the available routes could be used"


@dataclass(frozen=True)
class PaymentRequest:
    token_address: str
    target: str
    amount: int
    identifier: int | None = None
    secret: bytes | None = None
    secrethash: bytes | None = None
    lock_timeout: int | None = None
    paths: list[list[str]] | None = None


def _validate(node: Node, request: PaymentRequest) -> TokenNetwork:
    if request.target == node.address:
        raise Conflict("Address must be different than ours")
    if request.amount <= 0:
        raise Conflict("Amount negative")
    if request.amount > UINT256_MAX:
        raise Conflict("Amount too large")
    token_network = token_network_by_token(request.token_address)
    if token_network is None:
        raise Conflict("Token address is not known.")
    if request.identifier is not None:
        if request.identifier <= 0:
            raise Conflict("Payment identifier cannot be 0 or negative")
        if request.identifier > UINT64_MAX:
            raise Conflict("Payment identifier is too large")
    if request.secret is not None and request.secrethash is not None and sha256(request.secret) != request.secrethash:
        raise Conflict("provided secret and secret_hash do not match.")
    return token_network


def _existing(node: Node, request: PaymentRequest, token_network: TokenNetwork, identifier: int) -> Payment | None:
    """An earlier payment with this identifier to this target: the same one (attach, or replay its
    result) or a conflict."""
    earlier = (
        Payment.objects.filter(
            node=node, role=Payment.Role.INITIATOR, target=request.target, payment_identifier=identifier
        )
        .order_by("-id")
        .first()
    )
    if earlier is None:
        return None
    same = (
        earlier.amount == request.amount
        and earlier.token_network_id == token_network.pk
        and (request.secrethash is None or earlier.secrethash == "0x" + request.secrethash.hex())
    )
    if earlier.status == Payment.Status.PENDING:
        if not same:
            raise Conflict("Another payment with the same id is in flight")
        return earlier
    if earlier.status == Payment.Status.SUCCEEDED and same:
        return earlier  # a retried request: the payment was made once, answer with it again
    if not same:
        raise Conflict(f"Payment identifier {identifier} was already used for another payment to {request.target}")
    return None  # the same payment failed before: trying again is a new attempt


def _capacity_check(node: Node, token_network: TokenNetwork, request: PaymentRequest) -> None:
    hops = node_hops(node, token_network)
    if not hops:
        raise PaymentFailed(NO_CHANNEL)
    best = max(hop.distributable for hop in hops)
    if best < request.amount:
        raise InsufficientFunds(
            f"Payment couldn't be completed because: insufficient balance: this node can send at most "
            f"{best} in one payment in this token network, {request.amount} was asked"
        )


def _routes(node: Node, token_network: TokenNetwork, request: PaymentRequest) -> list[Route]:
    if request.paths is None:
        hop = direct_hop(node, token_network, request.target)
        if hop is not None and hop.distributable >= request.amount:
            return [Route(path=[node.address, request.target], first_channel_pk=hop.pk, locked_amount=request.amount)]
    _capacity_check(node, token_network, request)
    routes = routes_find(node, token_network, request.target, request.amount, paths=request.paths)
    if not routes:
        if Node.objects.filter(address=request.target).exists():
            raise PaymentFailed(NO_ROUTE)
        raise PaymentFailed(
            f"the target {request.target} is not hosted by this deployment, and only co-hosted nodes can "
            "be paid (no transport to other nodes is configured)"
        )
    return routes


def payment_initiate(node: Node, request: PaymentRequest) -> Payment:
    """Makes a payment and blocks until it succeeded or failed; the finished Payment.

    Raises Conflict (Raiden's 409 reasons, PaymentFailed), InsufficientFunds (402).
    Locks the first hop's Channel row while adding the lock.
    """
    return payment_wait(payment_start(node, request))


def payment_start(node: Node, request: PaymentRequest) -> Payment:
    """Sends a payment's first LockedTransfer and returns the pending Payment without waiting
    for its end (an earlier payment when the identifier names one in flight or done).

    Raises Conflict (Raiden's 409 reasons, PaymentFailed), InsufficientFunds (402).
    Locks the first hop's Channel row while adding the lock.
    """
    token_network = _validate(node, request)
    if request.identifier is not None:
        identifier = request.identifier
        earlier = _existing(node, request, token_network, identifier)
        if earlier is not None:
            return earlier
    else:
        # A fresh identifier names a new payment: no earlier one to attach to or replay.
        identifier = secrets.randbits(64) or 1
    routes = _routes(node, token_network, request)
    secret = request.secret
    if secret is None and request.secrethash is None:
        secret = secrets.token_bytes(32)
    secrethash = request.secrethash or sha256(secret)
    try:
        return _send_first_transfer(node, request, token_network, routes, identifier, secret, secrethash)
    except IntegrityError:
        # A concurrent identical request inserted its payment first: attach to it.
        earlier = _existing(node, request, token_network, identifier)
        if earlier is None:
            raise Conflict("Another payment with the same id is in flight") from None
        return earlier


def _send_first_transfer(
    node: Node,
    request: PaymentRequest,
    token_network: TokenNetwork,
    routes: list[Route],
    identifier: int,
    secret: bytes | None,
    secrethash: bytes,
) -> Payment:
    context = chain_context(CONTEXT_MAX_AGE)
    account = node_account(node)
    reasons = []
    for route in routes:
        with transaction.atomic():
            channel = channels_lock([route.first_channel_pk])[route.first_channel_pk]
            state = channel_state_of(channel, context.chain_id)
            if request.lock_timeout is not None and not lock_timeout_usable(
                request.lock_timeout, state.reveal_timeout, state.settle_timeout
            ):
                reasons.append("the lock timeout does not fit the channel")
                continue
            expiration = initial_expiration(context.block, state.reveal_timeout, request.lock_timeout)
            lock = Lock(amount=route.locked_amount, expiration=expiration, secrethash=secrethash)
            try:
                state, proof = send_lock(state, lock)
            except ChannelError as exc:
                reasons.append(str(exc))
                continue
            transfer = LockedTransfer(
                message_identifier=message_identifier_new(),
                payment_identifier=identifier,
                **proof.envelope_fields(),
                token=request.token_address,
                recipient=route.path[1],
                target=request.target,
                initiator=node.address,
                lock=lock,
                metadata=route_metadata([address.lower() for address in route.path]),
            ).signed(account.signer)
            channel_state_save(channel, state)
            payment = payment_create(
                node=node,
                role=Payment.Role.INITIATOR,
                token_network=token_network,
                payment_identifier=identifier,
                initiator=node.address,
                target=request.target,
                amount=request.amount,
                secrethash="0x" + secrethash.hex(),
                secret="0x" + secret.hex() if secret else "",
                expiration=expiration,
                payee_channel=channel,
                payee_amount=route.locked_amount,
                transfer_transferred=proof.transferred_amount,
                transfer_locked=proof.locked_amount,
                route=route.path,
            )
            row = message_record(node, route.path[1], transfer, channel, locks=locks_to_json(state.our.locks))
            state_change_log(
                node,
                "payment_initiated",
                {"payment": payment.pk, "identifier": str(identifier), "target": request.target, "route": route.path},
            )
            messages_send_after_commit([row])
        return payment
    raise PaymentFailed(NO_ROUTE + (f" ({'; '.join(reasons)})" if reasons else ""))


def payment_wait(payment: Payment, poll: float = 0.05) -> Payment:
    """Blocks until ``payment`` succeeded or failed (Raiden's POST /payments has no timeout:
    the lock's expiry ends every payment); raises PaymentFailed for a failed one."""
    # Between co-hosted nodes the flow has usually ended by now: look before sleeping.
    payment = row_select(Payment, "id = %s", [payment.pk])
    interval = 0.002
    while payment.status == Payment.Status.PENDING:
        time.sleep(interval)
        interval = min(interval * 2, poll)
        payment = row_select(Payment, "id = %s", [payment.pk])
    if payment.status == Payment.Status.FAILED:
        raise PaymentFailed(payment.failure_reason or "the payment failed")
    return payment


_RELATIONS = ("node", "token_network", "payer_channel", "payee_channel")


def _attnames(values: dict) -> dict:
    """Model instances of the foreign keys as their ids (the columns' attribute names)."""
    out = {}
    for name, value in values.items():
        if name in _RELATIONS:
            out[f"{name}_id"] = value.pk if value is not None else None
        else:
            out[name] = value
    return out


def payment_create(**values) -> Payment:
    """Inserts a Payment (one hand-written INSERT, see raidennode.sql); the instance."""
    payment = Payment(**values)
    payment.pk = row_insert(Payment, _attnames(values))
    return payment


def payment_update(payment: Payment, **values) -> None:
    """Writes ``values`` to the payment's row (inside the caller's transaction)."""
    row_update(Payment, payment.pk, _attnames(values))


def payment_finish(payment: Payment, status: str, reason: str = "", **fields) -> None:
    """Ends a payment (inside the caller's transaction), writing ``fields`` in the same UPDATE."""
    payment.status = status
    payment.failure_reason = reason
    payment.finished_at = timezone.now()
    payment_update(payment, status=status, failure_reason=reason, finished_at=payment.finished_at, **fields)


def payment_for_update(node: Node, secrethash: bytes, role: str) -> Payment | None:
    """The node's payment in ``role`` with that secret hash, its row locked."""
    return row_select(
        Payment,
        "node_id = %s AND secrethash = %s AND role = %s",
        [node.pk, "0x" + secrethash.hex(), role],
        for_update=True,
    )


def payments_for_update(node: Node, secrethash: bytes) -> list[Payment]:
    """Every part the node has in payments with that secret hash (one, except in a token swap),
    rows locked in id order."""
    return rows_select(
        Payment, "node_id = %s AND secrethash = %s ORDER BY id", [node.pk, "0x" + secrethash.hex()], for_update=True
    )
