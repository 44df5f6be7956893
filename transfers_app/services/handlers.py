"""What a node does with each transfer message it receives (spec 4.7): target, mediator, initiator.

Every handler runs inside ``message_receive``'s transaction, locks the Channel rows it changes
(in ascending primary-key order when it touches two), applies the pure rules of
raidennode.protocol.channel, records its replies and returns them; they leave after commit.
Raising InvalidMessage / InvalidBalanceProof rejects the message with nothing changed.
"""

from __future__ import annotations

from django.db import connection

from channels_app.models import Channel
from channels_app.offchain import (
    channel_lock_by_identifier,
    channel_state_of,
    channel_state_save,
    channels_lock,
    locks_to_json,
)
from raidennode.nodes.models import Node
from raidennode.nodes.services import node_account
from raidennode.protocol.channel import (
    ChannelError,
    InvalidBalanceProof,
    balance,
    is_safe_to_wait,
    may_forward,
    receive_lock,
    receive_lock_expired,
    receive_unlock,
    send_lock,
    send_unlock,
)
from raidennode.protocol.fees import ChannelFeeView, amount_without_fees, channel_fee_view
from raidennode.protocol.messages import (
    InvalidMessage,
    Lock,
    LockedTransfer,
    LockExpired,
    RevealSecret,
    SecretRequest,
    Unlock,
)
from raidennode.protocol.metadata import metadata_routes
from raidennode.sql import row_select

from ..models import Message, Payment
from ..selectors import secret_registered_before
from .messaging import Context, Outcome, handles, message_identifier_new, message_record
from .payments import payment_create, payment_finish, payment_for_update, payment_update, payments_for_update
from .swaps import swap_counter_lock_received


def channel_for_update(node: Node, token_network_address: str, channel_identifier: int) -> Channel:
    channel = channel_lock_by_identifier(node.pk, token_network_address, channel_identifier)
    if channel is None:
        raise InvalidMessage(f"no channel {channel_identifier} of {token_network_address} with this node")
    return channel


def partner_proof_json(message) -> dict:
    """The partner's balance proof to keep, with its signature exactly as received."""
    proof = message.balance_proof
    return {
        "nonce": proof.nonce,
        "transferred_amount": str(proof.transferred_amount),
        "locked_amount": str(proof.locked_amount),
        "locksroot": "0x" + proof.locksroot.hex(),
        "balance_hash": "0x" + proof.balance_hash.hex(),
        "additional_hash": "0x" + message.message_hash().hex(),
        "signature": "0x" + message.signature.hex(),
    }


def _incoming_payment_for_update(node: Node, secrethash: bytes) -> Payment | None:
    """Our part as payee of a lock with this hash: target, else mediator (locked)."""
    # a node is never both (a mediator refuses a hash it has any part in), so one row at most
    return row_select(
        Payment,
        "node_id = %s AND secrethash = %s AND role IN ('target', 'mediator')",
        [node.pk, "0x" + secrethash.hex()],
        for_update=True,
    )


# --- LockedTransfer: target or mediator -----------------------------------------------------------


@handles(LockedTransfer.TYPE)
def locked_transfer_received(node: Node, message: LockedTransfer, row: Message, context: Context) -> Outcome:
    if message.recipient != node.address:
        raise InvalidMessage("the transfer is for another recipient")
    if message.target == node.address:
        return _as_target(node, message, context)
    return _as_mediator(node, message, context)


def _roles_with(node: Node, secrethash: bytes) -> set[str]:
    """The roles the node already has in payments with this secret hash."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT role FROM transfers_app_payment WHERE node_id = %s AND secrethash = %s",
            [node.pk, "0x" + secrethash.hex()],
        )
        return {row[0] for row in cursor.fetchall()}


def _as_target(node: Node, message: LockedTransfer, context: Context) -> Outcome:
    channel = channel_for_update(node, message.token_network_address, message.channel_identifier)
    state = receive_lock(channel_state_of(channel, context.chain_id), message.balance_proof, message.lock)
    roles = _roles_with(node, message.lock.secrethash)
    if Payment.Role.TARGET in roles or Payment.Role.MEDIATOR in roles:
        raise InvalidMessage("a transfer with this secret hash was received before")
    channel_state_save(channel, state, partner_balance_proof=partner_proof_json(message))
    # Paying with this hash ourselves: the taker's half of a token swap of ours.
    swap = Payment.Role.INITIATOR in roles
    request_secret = not swap and is_safe_to_wait(message.lock.expiration, context.block, state.reveal_timeout)
    payment = payment_create(
        node=node,
        role=Payment.Role.TARGET,
        secret_requested=request_secret,
        token_network=channel.network_channel.token_network,
        payment_identifier=message.payment_identifier,
        initiator=message.initiator,
        target=node.address,
        amount=message.lock.amount,
        secrethash="0x" + message.lock.secrethash.hex(),
        expiration=message.lock.expiration,
        payer_channel=channel,
        transfer_transferred=message.transferred_amount,
        transfer_locked=message.locked_amount,
    )
    replies = []
    if swap:
        replies += swap_counter_lock_received(node, payment, message, state.reveal_timeout, context)
    if request_secret:
        request = SecretRequest(
            message_identifier=message_identifier_new(),
            payment_identifier=message.payment_identifier,
            secrethash=message.lock.secrethash,
            amount=message.lock.amount,
            expiration=message.lock.expiration,
        ).signed(node_account(node).signer)
        replies.append(message_record(node, message.initiator, request))
    return Outcome(replies, {"payment": payment.pk, "role": "target"})


def _next_hop(node: Node, message: LockedTransfer) -> str | None:
    for route in metadata_routes(message.metadata):
        if node.address in route:
            index = route.index(node.address)
            if index + 1 < len(route):
                return route[index + 1]
    return None


def _fee_view(node: Node, channel: Channel, state) -> ChannelFeeView:
    capacity = state.our.deposit + state.partner.deposit - state.our.withdrawn - state.partner.withdrawn
    return channel_fee_view(
        node.mediation_fee_flat,
        node.mediation_fee_proportional,
        node.mediation_fee_imbalance,
        balance(state.our, state.partner),
        capacity,
    )


def _as_mediator(node: Node, message: LockedTransfer, context: Context) -> Outcome:
    payer_pk = (
        Channel.objects.filter(
            node=node,
            network_channel__token_network__address=message.token_network_address,
            network_channel__identifier=message.channel_identifier,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if payer_pk is None:
        raise InvalidMessage("no such channel with this node")
    next_hop = _next_hop(node, message)
    payee_pk = None
    if next_hop is not None:
        payee_pk = (
            Channel.objects.filter(
                node=node,
                network_channel__token_network__address=message.token_network_address,
                partner_address=next_hop,
            )
            .exclude(network_channel__state="settled")
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
    locked = channels_lock([pk for pk in (payer_pk, payee_pk) if pk is not None])
    payer = locked[payer_pk]
    payer_state = receive_lock(channel_state_of(payer, context.chain_id), message.balance_proof, message.lock)
    if _roles_with(node, message.lock.secrethash):
        raise InvalidMessage("a transfer with this secret hash was received before")
    channel_state_save(payer, payer_state, partner_balance_proof=partner_proof_json(message))
    payment = payment_create(
        node=node,
        role=Payment.Role.MEDIATOR,
        token_network=payer.network_channel.token_network,
        payment_identifier=message.payment_identifier,
        initiator=message.initiator,
        target=message.target,
        amount=message.lock.amount,
        secrethash="0x" + message.lock.secrethash.hex(),
        expiration=message.lock.expiration,
        payer_channel=payer,
        transfer_transferred=message.transferred_amount,
        transfer_locked=message.locked_amount,
    )
    log = {"payment": payment.pk, "role": "mediator"}
    payee = locked.get(payee_pk) if payee_pk is not None else None
    if payee is None:
        payment_update(payment, failure_reason=f"no channel to the next hop {next_hop}")
        return Outcome([], {**log, "forwarded": False})
    payee_state = channel_state_of(payee, context.chain_id)
    if not may_forward(message.lock.expiration, context.block, payee_state.reveal_timeout, payee_state.settle_timeout):
        payment_update(payment, failure_reason="the lock expires too soon to forward it")
        return Outcome([], {**log, "forwarded": False})
    amount = amount_without_fees(
        message.lock.amount, _fee_view(node, payer, payer_state), _fee_view(node, payee, payee_state)
    )
    if amount is None or amount <= 0:
        payment_update(payment, failure_reason="the fees exceed the amount")
        return Outcome([], {**log, "forwarded": False})
    lock = Lock(amount=amount, expiration=message.lock.expiration, secrethash=message.lock.secrethash)
    try:
        payee_state, proof = send_lock(payee_state, lock)
    except ChannelError as exc:
        payment_update(payment, failure_reason=f"cannot forward: {exc}")
        return Outcome([], {**log, "forwarded": False})
    forwarded = LockedTransfer(
        message_identifier=message_identifier_new(),
        payment_identifier=message.payment_identifier,
        **proof.envelope_fields(),
        token=message.token,
        recipient=next_hop,
        target=message.target,
        initiator=message.initiator,
        lock=lock,
        metadata=message.metadata,
    ).signed(node_account(node).signer)
    channel_state_save(payee, payee_state)
    payment_update(payment, payee_channel=payee, payee_amount=amount)
    reply = message_record(node, next_hop, forwarded, payee, locks=locks_to_json(payee_state.our.locks))
    return Outcome([reply], {**log, "forwarded": True, "amount": str(amount)})


# --- SecretRequest: the initiator reveals the secret to the target --------------------------------


@handles(SecretRequest.TYPE)
def secret_request_received(node: Node, message: SecretRequest, row: Message, context: Context) -> Outcome:
    payment = payment_for_update(node, message.secrethash, Payment.Role.INITIATOR)
    sender = row.sender
    if (
        payment is None
        or payment.status != Payment.Status.PENDING
        or sender != payment.target
        or message.payment_identifier != payment.payment_identifier
        or message.amount < payment.amount
        or message.expiration != payment.expiration
        or payment.secret_requested
    ):
        return Outcome([], {"ignored": "the secret request does not match a payment of ours"})
    payment_update(payment, secret_requested=True)
    if not payment.secret:
        return Outcome([], {"payment": payment.pk, "revealed": False})  # we only know the hash
    reveal = RevealSecret(message_identifier=message_identifier_new(), secret=bytes.fromhex(payment.secret[2:])).signed(
        node_account(node).signer
    )
    return Outcome([message_record(node, payment.target, reveal)], {"payment": payment.pk, "revealed": True})


# --- RevealSecret: the secret travels back, Unlocks travel forward --------------------------------


def _unlock_payee(node: Node, payment: Payment, secret: bytes, context: Context) -> Message:
    """Sends Unlock to our payee for this payment's lock (we learned the secret from it)."""
    channel = channels_lock([payment.payee_channel_id])[payment.payee_channel_id]
    state, proof, lock = send_unlock(channel_state_of(channel, context.chain_id), bytes.fromhex(payment.secrethash[2:]))
    unlock = Unlock(
        message_identifier=message_identifier_new(),
        payment_identifier=payment.payment_identifier,
        **proof.envelope_fields(),
        secret=secret,
    ).signed(node_account(node).signer)
    channel_state_save(channel, state)
    return message_record(node, channel.partner_address, unlock, channel, locks=locks_to_json(state.our.locks))


@handles(RevealSecret.TYPE)
def reveal_secret_received(node: Node, message: RevealSecret, row: Message, context: Context) -> Outcome:
    """Each pending part of ours with this secret hash takes the secret (one part, except the two
    of a token swap, which the same reveal completes together)."""
    replies: list[Message] = []
    logs = []
    for payment in payments_for_update(node, message.secrethash):
        if payment.status != Payment.Status.PENDING:
            continue
        part_replies, log = _secret_revealed(node, payment, message, row.sender, context)
        replies += part_replies
        logs.append(log)
    if not logs:
        return Outcome([], {"ignored": "no pending payment with this secret"})
    return Outcome(replies, logs[0] if len(logs) == 1 else {"parts": logs})


def _secret_revealed(
    node: Node, payment: Payment, message: RevealSecret, sender: str, context: Context
) -> tuple[list[Message], dict]:
    secret_hex = "0x" + message.secret.hex()
    payee = payment.payee_channel.partner_address if payment.payee_channel_id else None
    payer = payment.payer_channel.partner_address if payment.payer_channel_id else None
    replies: list[Message] = []
    if payment.role == Payment.Role.TARGET:
        if payment.secret_revealed:
            return [], {"ignored": "already revealed"}
        reveal = RevealSecret(message_identifier=message_identifier_new(), secret=message.secret).signed(
            node_account(node).signer
        )
        replies.append(message_record(node, payer, reveal))
        payment_update(payment, secret=secret_hex, secret_revealed=True)
        return replies, {"payment": payment.pk, "role": "target"}
    if sender != payee:
        return [], {"ignored": "the secret must come from our payee"}
    if payment.role == Payment.Role.MEDIATOR:
        if payment.unlocked:
            return [], {"ignored": "already unlocked"}
        reveal = RevealSecret(message_identifier=message_identifier_new(), secret=message.secret).signed(
            node_account(node).signer
        )
        replies.append(message_record(node, payer, reveal))
        if is_safe_to_wait(payment.expiration, context.block, payment.payer_channel.reveal_timeout):
            replies.append(_unlock_payee(node, payment, message.secret, context))
            payment_update(payment, secret=secret_hex, secret_revealed=True, unlocked=True)
        else:
            # Too late to pay the payee off-chain safely: keep the secret, register it on chain.
            payment_update(payment, secret=secret_hex, secret_revealed=True)
        return replies, {"payment": payment.pk, "role": "mediator"}
    # initiator: the first hop proved it knows the secret; pay it.
    if payment.unlocked:
        return [], {"ignored": "already unlocked"}
    replies.append(_unlock_payee(node, payment, message.secret, context))
    payment_finish(payment, Payment.Status.SUCCEEDED, secret=secret_hex, unlocked=True)
    return replies, {"payment": payment.pk, "role": "initiator", "succeeded": True}


# --- Unlock: the payer paid us -------------------------------------------------------------------


@handles(Unlock.TYPE)
def unlock_received(node: Node, message: Unlock, row: Message, context: Context) -> Outcome:
    channel = channel_for_update(node, message.token_network_address, message.channel_identifier)
    state, lock = receive_unlock(channel_state_of(channel, context.chain_id), message.balance_proof, message.secret)
    channel_state_save(channel, state, partner_balance_proof=partner_proof_json(message))
    payment = _incoming_payment_for_update(node, lock.secrethash)
    if payment is not None and payment.status == Payment.Status.PENDING:
        secret_hex = "0x" + message.secret.hex()
        if payment.role == Payment.Role.TARGET or payment.unlocked:
            payment_finish(payment, Payment.Status.SUCCEEDED, secret=secret_hex)
        else:
            payment_update(payment, secret=secret_hex)
    return Outcome([], {"payment": payment.pk if payment else None, "amount": str(lock.amount)})


# --- LockExpired: the payer took its lock back ---------------------------------------------------


@handles(LockExpired.TYPE)
def lock_expired_received(node: Node, message: LockExpired, row: Message, context: Context) -> Outcome:
    channel = channel_for_update(node, message.token_network_address, message.channel_identifier)
    state = channel_state_of(channel, context.chain_id)
    lock = state.partner.lock_for(message.secrethash)
    if lock is not None and secret_registered_before("0x" + message.secrethash.hex(), lock.expiration):
        raise InvalidBalanceProof("the secret of this lock was registered on chain in time")
    state, lock = receive_lock_expired(
        state, message.balance_proof, message.secrethash, context.block, context.confirmations
    )
    channel_state_save(channel, state, partner_balance_proof=partner_proof_json(message))
    payment = _incoming_payment_for_update(node, message.secrethash)
    pending = payment is not None and payment.status == Payment.Status.PENDING
    # A mediator that already unlocked to its payee lost the lock's amount: the payment stays
    # open for the on-chain claim (issue 4); anything else ends here.
    if pending and (
        payment.role == Payment.Role.TARGET or (payment.role == Payment.Role.MEDIATOR and not payment.unlocked)
    ):
        payment_finish(payment, Payment.Status.FAILED, "lock expired")
    return Outcome([], {"payment": payment.pk if payment else None, "expired": str(lock.amount)})
