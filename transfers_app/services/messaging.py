"""Recording, sending and receiving protocol messages.

Outgoing messages are recorded (``message_record``) in the transaction of the state change that
produced them and handed to the transport only after that transaction commits
(``messages_send_after_commit``). Receiving (``message_receive``) is one transaction: it claims
the message (pending -> processed, so a duplicate finds nothing to do), checks the signature,
runs the handler of its type, writes the state-change log and records the replies.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from channels_app.models import Channel, Deployment
from raidennode.nodes.models import Node
from raidennode.protocol.channel import InvalidBalanceProof, NonceGap
from raidennode.protocol.messages import InvalidMessage, message_from_dict
from raidennode.sql import row_insert
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
    values = {
        "sender": node.address,
        "recipient": recipient,
        "sender_node_id": node.pk,
        "recipient_node_id": hosted_node_id(recipient),
        "kind": message.TYPE,
        "message_identifier": message.message_identifier,
        "payload": message.to_dict(),
        # The redelivery net, should the in-process delivery after commit never happen.
        "next_attempt_at": timezone.now() + timedelta(seconds=RETRY_INITIAL),
    }
    if channel is not None:
        values["token_network_id"] = channel.network_channel.token_network_id
        values["channel_identifier"] = channel.network_channel.identifier
        values["nonce"] = proof.nonce if proof is not None else getattr(message, "nonce", None)
    if proof is not None:
        values["balance_hash"] = "0x" + proof.balance_hash.hex()
        values["locks"] = locks
    row = Message(**values)
    row.pk = row_insert(Message, values)
    return row


def state_change_log(node: Node, kind: str, data: dict) -> None:
    row_insert(StateChange, {"node_id": node.pk, "kind": kind, "data": data})


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


_CLAIM_SQL = """
    UPDATE {message} SET status = %s, processed_at = %s
    WHERE id = %s AND status = %s
      AND recipient_node_id IN (SELECT id FROM {node} WHERE state = %s)
    RETURNING sender, recipient, kind, payload, nonce, token_network_id, channel_identifier, recipient_node_id
"""


def _claim(message_id: int) -> Message | None:
    """Marks a pending message of a running co-hosted node processed (one statement, inside the
    caller's transaction: the row stays locked until commit, and a rollback un-claims it).

    Returns the claimed row (not re-read), None when it was processed already; raises
    DeliveryRefused when its recipient is stopped or not hosted here.
    """
    sql = _CLAIM_SQL.format(message=Message._meta.db_table, node=Node._meta.db_table)
    params = [Message.Status.PROCESSED, timezone.now(), message_id, Message.Status.PENDING, Node.State.RUNNING]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        claimed = cursor.fetchone()
    if claimed is None:
        row = Message.objects.filter(pk=message_id).values_list("status", "recipient", "recipient_node__state").first()
        if row is None or row[0] != Message.Status.PENDING:
            return None  # processed already: a duplicate delivery
        raise DeliveryRefused(f"{row[1]} is not hosted here" if row[2] is None else f"node {row[1]} is stopped")
    sender, recipient, kind, payload, nonce, token_network_id, channel_identifier, node_id = claimed
    if isinstance(payload, str):  # SQLite returns JSON as text
        payload = json.loads(payload)
    return Message(
        pk=message_id,
        sender=sender,
        recipient=recipient,
        kind=kind,
        payload=payload,
        nonce=nonce,
        token_network_id=token_network_id,
        channel_identifier=channel_identifier,
        recipient_node_id=node_id,
        status=Message.Status.PROCESSED,
    )


_recipients: dict[int, tuple[float, Node]] = {}
RECIPIENT_MAX_AGE = 1.0


def _recipient(node_id: int) -> Node:
    """The recipient node, read at most once a second per process: ``_claim`` checked that it is
    running; handlers read its address, key and fee settings (an admin change applies within 1 s).
    """
    now = time.monotonic()
    cached = _recipients.get(node_id)
    if cached is not None and now - cached[0] <= RECIPIENT_MAX_AGE:
        return cached[1]
    node = Node.objects.get(pk=node_id)
    _recipients[node_id] = (now, node)
    return node


def message_receive(message_id: int, _depth: int = 0) -> None:
    """Processes one message for its co-hosted recipient, in one transaction.

    Raises DeliveryRefused while the recipient node is stopped (the message stays pending).
    A message whose nonce is ahead of the recipient's view first has its stored predecessors
    processed (they committed before it: the sender assigns nonces under the channel row lock);
    one whose predecessor is not stored yet stays pending (Deferred). An invalid message is
    marked rejected and never retried. Locks the message row and whatever its handler locks.
    """
    from . import handlers  # noqa: F401  (registers the handlers)

    replies: list[Message] = []
    rejected: Exception | None = None
    gap = False
    with transaction.atomic():
        row = _claim(message_id)
        if row is None:
            return
        node = _recipient(row.recipient_node_id)
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
            gap = True
            transaction.set_rollback(True)
        except (InvalidMessage, InvalidBalanceProof) as exc:
            # Roll back whatever the handler changed; the rejection is recorded on its own below.
            rejected = exc
            transaction.set_rollback(True)
        else:
            state_change_log(node, f"received_{row.kind}", {"message": row.pk, **outcome.log})
            replies = outcome.replies
    if rejected is not None:
        _message_reject(row, node, rejected)
        return
    if gap:
        if _depth >= 64 or not _receive_predecessors(row, _depth):
            raise Deferred()
        message_receive(message_id, _depth + 1)
        return
    if replies:
        transport().send([_envelope(reply) for reply in replies])


def _receive_predecessors(row: Message, depth: int) -> bool:
    """Processes the stored, pending messages of the same sender and channel with lower nonces;
    False when there are none (the missing one has not been stored yet)."""
    earlier = list(
        Message.objects.filter(
            sender=row.sender,
            recipient=row.recipient,
            token_network_id=row.token_network_id,
            channel_identifier=row.channel_identifier,
            nonce__lt=row.nonce,
            status=Message.Status.PENDING,
        )
        .order_by("nonce")
        .values_list("pk", flat=True)
    )
    for pk in earlier:
        message_receive(pk, depth + 1)
    return bool(earlier)


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
        # Stays pending (its predecessor is not stored yet): the redelivery loop tries again.
        Message.objects.filter(pk=envelope.message_id).update(next_attempt_at=timezone.now() + timedelta(seconds=1))
