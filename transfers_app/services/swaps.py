"""Token swaps (the older API's PUT /token_swaps/<partner>/<identifier>): an atomic exchange of
two tokens built on two payments locked on one secret hash.

1. The maker registers: a secret only it knows, and at once a payment of ``sending_amount`` of
   ``sending_token`` to the taker, locked on the secret's hash with a long lock timeout. The
   payment holds no secret, so the taker's SecretRequest is not answered.
2. The taker registers (before or after the maker's lock arrives). Once a pending lock from the
   maker with the swap's identifier is here, of the agreed token and amount, the taker pays
   ``sending_amount`` of its ``sending_token`` back, locked on the same hash, expiring at least
   ``reveal_timeout`` blocks before the maker's lock does. Any other lock is not answered.
3. The maker's node receives that lock (``swap_counter_lock_received``, in the handler's
   transaction): if it is what was agreed and safe to wait for, it reveals the secret to the
   taker as the target of the taker's payment. The taker's node, learning the secret, unlocks
   its payment to the maker and reveals the secret back as the target of the maker's payment,
   which the maker then unlocks. Both complete.

Either both payments complete or neither: the taker only locks after the maker has; the maker
only reveals after the taker has locked; the taker's lock expires first, so a taker who learns
the secret late still has ``reveal_timeout`` blocks to claim the maker's lock (on chain if need
be). A taker who never shows up, or a lock that does not match, lets every lock expire and each
side has its tokens back. ``swaps_advance`` (a payment duty) starts the taker's payment when the
maker's lock arrives after the taker registered, and records how each swap ended.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from raidennode.errors import Conflict, InvalidInput, ServiceError
from raidennode.nodes.models import Node
from raidennode.nodes.services import node_account
from raidennode.protocol.channel import is_safe_to_wait
from raidennode.protocol.hashing import sha256
from raidennode.protocol.messages import LockedTransfer, RevealSecret

from ..models import Message, Payment, TokenSwap
from ..selectors import secret_registered_before
from .messaging import (
    Context,
    chain_context,
    message_identifier_new,
    message_record,
    messages_send_after_commit,
    state_change_log,
)
from .payments import PaymentRequest, payment_start, payment_update

logger = logging.getLogger(__name__)

# How long a taker waits for the maker's lock before the swap fails.
TAKER_WAIT = timedelta(hours=1)


def swap_lock_timeout() -> int:
    """The lock timeout of the maker's payment: long enough for the taker's lock to expire
    ``reveal_timeout`` blocks earlier and still leave it more than ``reveal_timeout`` blocks."""
    return min(settings.RAIDEN_DEFAULT_SETTLE_TIMEOUT, 4 * settings.RAIDEN_DEFAULT_REVEAL_TIMEOUT)


def swap_register(
    node: Node,
    *,
    partner: str,
    identifier: int,
    role: str,
    sending_token: str,
    sending_amount: int,
    receiving_token: str,
    receiving_amount: int,
) -> tuple[TokenSwap, bool]:
    """Registers the node's side of a swap; returns it and whether it is new.

    A maker's payment starts at once; a taker's when the maker's lock is here (now or later).
    Registering the same swap again returns the existing one. Raises InvalidInput (400) for
    amounts or tokens that make no swap, Conflict (409) for an identifier used for another swap
    with this partner, an unknown token or no route, InsufficientFunds (402) when the maker's
    channels cannot carry its payment.
    """
    if partner == node.address:
        raise Conflict("Address must be different than ours")
    if sending_amount <= 0 or receiving_amount <= 0:
        raise InvalidInput("sending_amount and receiving_amount must be positive")
    if sending_token == receiving_token:
        raise InvalidInput("A token swap exchanges two different tokens")
    if identifier <= 0 or identifier >= 2**64:
        raise InvalidInput("The identifier must be between 1 and 2^64 - 1")
    terms = {
        "role": role,
        "sending_token": sending_token,
        "sending_amount": sending_amount,
        "receiving_token": receiving_token,
        "receiving_amount": receiving_amount,
    }
    earlier = TokenSwap.objects.filter(node=node, partner=partner, identifier=identifier).first()
    if earlier is not None:
        if all(getattr(earlier, key) == value for key, value in terms.items()):
            return earlier, False
        raise Conflict(f"A token swap with identifier {identifier} and {partner} exists already with other terms")
    if role == TokenSwap.Role.MAKER:
        return _maker_start(node, partner, identifier, terms), True
    try:
        swap = TokenSwap.objects.create(node=node, partner=partner, identifier=identifier, **terms)
    except IntegrityError:
        return swap_register(node, partner=partner, identifier=identifier, **terms)
    state_change_log(node, "token_swap_registered", {"swap": swap.pk, "role": role})
    swap_taker_advance(swap.pk, chain_context())
    swap.refresh_from_db()
    return swap, True


def _maker_start(node: Node, partner: str, identifier: int, terms: dict) -> TokenSwap:
    secret = secrets.token_bytes(32)
    secrethash = sha256(secret)
    swap = TokenSwap.objects.create(
        node=node,
        partner=partner,
        identifier=identifier,
        secret="0x" + secret.hex(),
        secrethash="0x" + secrethash.hex(),
        **terms,
    )
    try:
        # The payment knows only the hash: a SecretRequest of the taker's is not answered.
        payment_start(
            node,
            PaymentRequest(
                token_address=terms["sending_token"],
                target=partner,
                amount=terms["sending_amount"],
                identifier=identifier,
                secrethash=secrethash,
                lock_timeout=swap_lock_timeout(),
            ),
        )
    except ServiceError:
        swap.delete()  # nothing was locked: the swap never existed
        raise
    state_change_log(node, "token_swap_registered", {"swap": swap.pk, "role": "maker"})
    return swap


def _incoming_lock_of(swap: TokenSwap) -> Payment | None:
    """The pending lock the maker sent the taker for this swap, if it is here."""
    return (
        Payment.objects.filter(
            node_id=swap.node_id,
            role=Payment.Role.TARGET,
            status=Payment.Status.PENDING,
            initiator=swap.partner,
            payment_identifier=swap.identifier,
            token_network__token_address=swap.receiving_token,
        )
        .select_related("payer_channel")
        .order_by("id")
        .first()
    )


def swap_taker_advance(swap_pk: int, context: Context) -> bool:
    """The taker's step: once the maker's lock is here as agreed, pays the maker back with a
    lock on the same hash that expires ``reveal_timeout`` blocks before the maker's. Returns
    whether the payment started. Locks the swap row; a lock that does not match fails the swap.
    """
    with transaction.atomic():
        swap = TokenSwap.objects.select_for_update().filter(pk=swap_pk).first()
        if swap is None or swap.status != TokenSwap.Status.PENDING or swap.counter_sent:
            return False
        incoming = _incoming_lock_of(swap)
        if incoming is None:
            return False
        if incoming.amount != swap.receiving_amount:
            _swap_fail(swap, f"the maker locked {incoming.amount}, not the agreed {swap.receiving_amount}")
            return False
        lock_timeout = incoming.expiration - incoming.payer_channel.reveal_timeout - context.block
        try:
            payment_start(
                swap.node,
                PaymentRequest(
                    token_address=swap.sending_token,
                    target=swap.partner,
                    amount=swap.sending_amount,
                    identifier=swap.identifier,
                    secrethash=bytes.fromhex(incoming.secrethash[2:]),
                    lock_timeout=lock_timeout,
                ),
            )
        except ServiceError as exc:
            _swap_fail(swap, f"the taker's payment could not start: {exc.message}")
            return False
        swap.secrethash = incoming.secrethash
        swap.counter_sent = True
        swap.save(update_fields=["secrethash", "counter_sent"])
        state_change_log(swap.node, "token_swap_counter_sent", {"swap": swap.pk})
    return True


def swap_counter_lock_received(
    node: Node, payment: Payment, message: LockedTransfer, reveal_timeout: int, context: Context
) -> list[Message]:
    """The maker's step, in the handler's transaction: the taker's lock on our swap's hash has
    arrived (``payment`` is our part as its target). Reveals the secret to the taker when the lock
    is as agreed and leaves time to claim it on chain; otherwise fails the swap and reveals
    nothing (both locks expire). The replies to send. Locks the swap row.
    """
    swap = (
        TokenSwap.objects.select_for_update()
        .filter(node=node, secrethash=payment.secrethash, role=TokenSwap.Role.MAKER, status=TokenSwap.Status.PENDING)
        .first()
    )
    if swap is None or swap.revealed:
        return []
    token = payment.token_network.token_address
    if message.initiator != swap.partner or token != swap.receiving_token:
        _swap_fail(swap, f"a lock on the swap's hash came from {message.initiator} in {token}")
        return []
    if message.lock.amount < swap.receiving_amount:
        _swap_fail(swap, f"the taker locked {message.lock.amount}, not the agreed {swap.receiving_amount}")
        return []
    if not is_safe_to_wait(message.lock.expiration, context.block, reveal_timeout):
        _swap_fail(swap, "the taker's lock expires too soon to be claimed safely")
        return []
    secret = bytes.fromhex(swap.secret[2:])
    reveal = RevealSecret(message_identifier=message_identifier_new(), secret=secret).signed(node_account(node).signer)
    payment_update(payment, secret=swap.secret, secret_requested=True, secret_revealed=True)
    Payment.objects.filter(node=node, secrethash=swap.secrethash, role=Payment.Role.INITIATOR).update(
        secret=swap.secret
    )
    swap.revealed = True
    swap.save(update_fields=["revealed"])
    state_change_log(node, "token_swap_revealed", {"swap": swap.pk})
    return [message_record(node, payment.payer_channel.partner_address, reveal)]


def swap_taker_learns_secret(swap: TokenSwap) -> bool:
    """A maker may register the secret on chain (to claim the taker's lock there) instead of
    revealing it: the taker then takes the secret from the chain for the maker's lock, reveals it
    to the maker to be unlocked off-chain, and the payment duties register and claim it on chain
    otherwise. Locks the taker's part. Whether the secret was learned now."""
    with transaction.atomic():
        part = (
            Payment.objects.select_for_update(of=("self",))
            .select_related("payer_channel")
            .filter(
                node_id=swap.node_id,
                secrethash=swap.secrethash,
                role=Payment.Role.TARGET,
                status=Payment.Status.PENDING,
                secret="",
            )
            .first()
        )
        if part is None:
            return False
        secret = secret_registered_before(part.secrethash, part.expiration)
        if secret is None:
            return False
        payment_update(part, secret=secret, secret_revealed=True)
        node = swap.node
        reveal = RevealSecret(message_identifier=message_identifier_new(), secret=bytes.fromhex(secret[2:])).signed(
            node_account(node).signer
        )
        row = message_record(node, part.payer_channel.partner_address, reveal)
        state_change_log(node, "token_swap_secret_from_chain", {"swap": swap.pk})
        messages_send_after_commit([row])
    return True


def _swap_fail(swap: TokenSwap, reason: str) -> None:
    swap.status = TokenSwap.Status.FAILED
    swap.failure_reason = reason
    swap.finished_at = timezone.now()
    swap.save(update_fields=["status", "failure_reason", "finished_at"])
    logger.info("token swap %s of %s failed: %s", swap.identifier, swap.node_id, reason)


def swaps_advance(context: Context) -> int:
    """The swap duty: starts takers' payments whose maker's lock has arrived, and records how
    swaps ended (both payments succeeded: completed; one failed: failed). How many changed."""
    changed = 0
    pending = TokenSwap.objects.filter(status=TokenSwap.Status.PENDING)
    for swap_pk in pending.filter(role=TokenSwap.Role.TAKER, counter_sent=False).values_list("pk", flat=True):
        changed += swap_taker_advance(swap_pk, context)
    for swap in pending.exclude(secrethash=""):
        parts = list(
            Payment.objects.filter(node_id=swap.node_id, secrethash=swap.secrethash).values_list(
                "role", "status", "failure_reason"
            )
        )
        failed = [reason for _role, status, reason in parts if status == Payment.Status.FAILED]
        if failed:
            _swap_fail(swap, failed[0] or "a payment of the swap failed")
            changed += 1
        elif len(parts) == 2 and all(status == Payment.Status.SUCCEEDED for _r, status, _f in parts):
            TokenSwap.objects.filter(pk=swap.pk).update(status=TokenSwap.Status.COMPLETED, finished_at=timezone.now())
            changed += 1
    for swap in pending.filter(role=TokenSwap.Role.TAKER, counter_sent=True):
        changed += swap_taker_learns_secret(swap)
    stale = pending.filter(role=TokenSwap.Role.TAKER, counter_sent=False, created_at__lt=timezone.now() - TAKER_WAIT)
    for swap in stale:
        _swap_fail(swap, "the maker's lock did not arrive")
        changed += 1
    return changed


def swap_to_wire(swap: TokenSwap) -> dict:
    return {
        "identifier": str(swap.identifier),
        "partner_address": swap.partner,
        "role": swap.role,
        "sending_token": swap.sending_token,
        "sending_amount": str(swap.sending_amount),
        "receiving_token": swap.receiving_token,
        "receiving_amount": str(swap.receiving_amount),
        "secret_hash": swap.secrethash or None,
        "status": swap.status,
        "failure_reason": swap.failure_reason or None,
    }
