"""Recording, sending and receiving protocol messages.

Outgoing messages are recorded (``message_record``) in the transaction of the state change that
produced them and handed to the transport only after that transaction commits
(``messages_send_after_commit``). Receiving (``message_receive``) is one transaction: it claims
the message (pending -> processed, so a duplicate finds nothing to do), checks the signature,
runs the handler of its type, writes the state-change log and records the replies.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels_app.models import Channel, Deployment
from raidennode.nodes.models import Node
from raidennode.protocol.channel import InvalidBalanceProof, NonceGap
from raidennode.protocol.messages import InvalidMessage, message_from_dict
from raidennode.transport.base import DeliveryRefused, Envelope, Transport
from raidennode.transport.local import LocalTransport

from ..models import Message, StateChange

logger = logging.getLogger(__name__)

# Raiden's retry schedule: 5 s, doubling, at most 60 s between attempts.
RETRY_INITIAL = 5.0
RETRY_MAX = 60.0


def message_identifier_new() -> int:
    return secrets.randbits(64)


@dataclass
class Context:
    """What a step knows of the chain: its id and the latest confirmed block."""

    chain_id: int
    block: int
    confirmations: int = field(default_factory=lambda: settings.RAIDEN_CONFIRMATIONS)


_context_cache: dict[str, tuple[float, Context]] = {}
CONTEXT_MAX_AGE = 0.25


def chain_context(max_age: float = 0.0) -> Context:
    """The chain id and latest confirmed block; up to ``max_age`` seconds old.

    A flow step may use a view a fraction of a block old (it decides nothing an older block
    would make unsafe); expiry decisions always read it fresh.
    """
    now = time.monotonic()
    cached = _context_cache.get("context")
    if max_age and cached is not None and now - cached[0] <= max_age:
        return cached[1]
    chain_id, block = Deployment.objects.values_list("chain_id", "synced_block").get()
    context = Context(chain_id=chain_id, block=block)
    _context_cache["context"] = (now, context)
    return context


# Messages whose validity depends on the block having passed a deadline read the chain fresh.
_FRESH_CONTEXT_KINDS = {"LockExpired", "WithdrawExpired"}


# --- recording and sending ----------------------------------------------------------------------


@cache
def _node_ids() -> dict[str, int]:
    return {}


def hosted_node_id(address: str) -> int | None:
    """The id of the co-hosted node with this address (cached: nodes are never deleted)."""
    cached = _node_ids().get(address)
    if cached is not None:
        return cached
    node_id = Node.objects.filter(address=address).values_list("id", flat=True).first()
    if node_id is not None:
        _node_ids()[address] = node_id
    return node_id


def message_record(
    node: Node,
    recipient: str,
    message,
    channel: Channel | None = None,
    locks: list | None = None,
) -> Message:
    """Stores a signed outgoing message of ``node`` (call inside the state transaction)."""
    proof = getattr(message, "balance_proof", None)
    row = Message(
        sender=node.address,
        recipient=recipient,
        sender_node=node,
        recipient_node_id=hosted_node_id(recipient),
        kind=message.TYPE,
        message_identifier=message.message_identifier,
        payload=message.to_dict(),
        # The redelivery net, should the in-process delivery after commit never happen.
        next_attempt_at=timezone.now() + timedelta(seconds=RETRY_INITIAL),
    )
    if channel is not None:
        row.token_network_id = channel.network_channel.token_network_id
        row.channel_identifier = channel.network_channel.identifier
        row.nonce = proof.nonce if proof is not None else getattr(message, "nonce", None)
    if proof is not None:
        row.balance_hash = "0x" + proof.balance_hash.hex()
        row.locks = locks
    row.save(force_insert=True)
    return row


def state_change_log(node: Node, kind: str, data: dict) -> None:
    StateChange.objects.create(node=node, kind=kind, data=data)


def _envelope(row: Message) -> Envelope:
    return Envelope(message_id=row.pk, sender=row.sender, recipient=row.recipient, payload=row.payload)


def messages_send_after_commit(rows: Iterable[Message]) -> None:
    envelopes = [_envelope(row) for row in rows]
    if envelopes:
        transaction.on_commit(lambda: transport().send(envelopes), robust=True)


# --- the transport --------------------------------------------------------------------------------


@cache
def transport() -> Transport:
    return LocalTransport(
        deliver=message_deliver,
        hosted=lambda address: hosted_node_id(address) is not None,
        failed=message_delivery_failed,
    )


def message_delivery_failed(envelope: Envelope, exc: Exception) -> None:
    """Schedules the next attempt of a message whose delivery failed (Raiden's backoff)."""
    row = Message.objects.filter(pk=envelope.message_id, status=Message.Status.PENDING).first()
    if row is None:
        return
    delay = min(RETRY_INITIAL * 2 ** min(row.attempts, 8), RETRY_MAX)
    Message.objects.filter(pk=row.pk).update(
        attempts=row.attempts + 1,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        error=str(exc)[:500],
    )


def messages_redeliver(now=None, limit: int = 500) -> int:
    """Sends again the pending messages whose next attempt is due; how many were sent."""
    now = now or timezone.now()
    rows = list(Message.objects.filter(status=Message.Status.PENDING, next_attempt_at__lte=now).order_by("id")[:limit])
    if rows:
        transport().send([_envelope(row) for row in rows])
    return len(rows)


# --- receiving ------------------------------------------------------------------------------------


class Deferred(Exception):
    """The message cannot be processed yet (an earlier one has not arrived): keep it pending."""


@dataclass
class Outcome:
    """What a handler produced: replies to send after commit, and a log entry."""

    replies: list[Message] = field(default_factory=list)
    log: dict = field(default_factory=dict)


Handler = Callable[[Node, object, Message, Context], Outcome]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler

    return register


def message_receive(message_id: int) -> None:
    """Processes one message for its co-hosted recipient, in one transaction.

    Raises DeliveryRefused while the recipient node is stopped (the message stays pending).
    A message whose nonce is ahead waits (pending) for the earlier one, which delivers it next.
    An invalid message is marked rejected and never retried.
    """
    from . import handlers  # noqa: F401  (registers the handlers)

    replies: list[Message] = []
    successor: Message | None = None
    rejected: Exception | None = None
    with transaction.atomic():
        row = (
            Message.objects.select_for_update(of=("self",))
            .select_related("recipient_node")
            .filter(pk=message_id, status=Message.Status.PENDING)
            .first()
        )
        if row is None:
            return  # processed already: a duplicate delivery
        node = row.recipient_node
        if node is None:
            raise DeliveryRefused(f"{row.recipient} is not hosted here")
        if not node.is_running:
            raise DeliveryRefused(f"node {node.address} is stopped")
        handler = HANDLERS.get(row.kind)
        try:
            message = message_from_dict(row.payload)
            if message.sender() != row.sender:
                raise InvalidMessage("the signature is not the sender's")
            if handler is None:
                raise InvalidMessage(f"{row.kind} is not handled by this node")
            context = chain_context(0.0 if row.kind in _FRESH_CONTEXT_KINDS else CONTEXT_MAX_AGE)
            outcome = handler(node, message, row, context)
        except NonceGap:
            raise Deferred() from None
        except (InvalidMessage, InvalidBalanceProof) as exc:
            # Leave the atomic block by rolling back whatever the handler changed, then record
            # the rejection in a transaction of its own (below).
            rejected = exc
            transaction.set_rollback(True)
        else:
            Message.objects.filter(pk=row.pk).update(status=Message.Status.PROCESSED, processed_at=timezone.now())
            state_change_log(node, f"received_{row.kind}", {"message": row.pk, **outcome.log})
            replies = outcome.replies
            if row.nonce is not None:
                successor = (
                    Message.objects.filter(
                        sender=row.sender,
                        token_network_id=row.token_network_id,
                        channel_identifier=row.channel_identifier,
                        nonce=row.nonce + 1,
                        status=Message.Status.PENDING,
                    )
                    .only("id", "sender", "recipient", "payload")
                    .first()
                )
    if rejected is not None:
        _message_reject(row, node, rejected)
        return
    # After commit: our replies first, then the sender's next message on this channel.
    if successor is not None:
        replies = [*replies, successor]
    if replies:
        transport().send([_envelope(reply) for reply in replies])


def _message_reject(row: Message, node: Node, exc: Exception) -> None:
    logger.warning("rejected %s %s from %s: %s", row.kind, row.pk, row.sender, exc)
    with transaction.atomic():
        updated = Message.objects.filter(pk=row.pk, status=Message.Status.PENDING).update(
            status=Message.Status.REJECTED, error=str(exc)[:500], processed_at=timezone.now()
        )
        if updated:
            state_change_log(node, "message_rejected", {"message": row.pk, "kind": row.kind, "reason": str(exc)})


def message_deliver(envelope: Envelope) -> None:
    """The local transport's delivery: receive, and park a message that came too early."""
    try:
        message_receive(envelope.message_id)
    except Deferred:
        # Stays pending: processing its predecessor delivers it; the redelivery loop is the net.
        Message.objects.filter(pk=envelope.message_id).update(next_attempt_at=timezone.now() + timedelta(seconds=1))
