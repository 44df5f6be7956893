"""What co-hosted nodes do on their own for payments, each time the chain advances.

- expire our locks whose expiration passed without the secret being registered on chain:
  send LockExpired and fail the payment (the amount comes back to our balance);
- register on chain the secret of a lock we are owed when the payer has not unlocked it and the
  lock comes within its reveal timeout of expiring (target and mediator), so that the lock can be
  claimed on chain; end such a payment once the on-chain unlock paid it;
- end the payments whose lock expired in a channel that is no longer open (no LockExpired
  can be sent there; the contract returns the lock to its sender at settlement);
- expire our withdraws that never reached the chain: send WithdrawExpired;
- advance token swaps: start a taker's payment once the maker's lock is here, record how
  swaps ended (transfers_app.services.swaps);
- send again the messages whose delivery failed (Raiden's retry backoff).

Each step is its own transaction on the channel row it changes, so a duty that crashes leaves
nothing half-done and the next round picks up where it stopped.
"""

from __future__ import annotations

import logging

from django.db import transaction

from channels_app.models import ChainEvent, ChainOperation, Channel, NetworkChannel
from channels_app.offchain import channel_state_of, channel_state_save, channels_lock, locks_to_json
from channels_app.services.operations import operation_create
from raidennode.nodes.models import Node
from raidennode.nodes.services import node_account
from raidennode.protocol.channel import ChannelError, send_lock_expired
from raidennode.protocol.messages import LockExpired

from ..models import Payment
from ..selectors import secret_registered_before
from .messaging import (
    Context,
    chain_context,
    message_identifier_new,
    message_record,
    messages_redeliver,
    messages_send_after_commit,
    state_change_log,
)
from .payments import payment_finish
from .swaps import swaps_advance
from .withdraws import withdraw_expire

logger = logging.getLogger(__name__)


def transfer_duties_run() -> int:
    """Runs every payment duty once; how many locks, withdraws and messages it handled."""
    context = chain_context()
    return (
        locks_expire(context)
        + secrets_register(context)
        + payments_paid_on_chain()
        + payments_expire(context)
        + withdraws_expire(context)
        + swaps_advance(context)
        + messages_redeliver()
    )


def _lock_expiry_block(expiration: int, context: Context) -> int:
    # The partner accepts LockExpired from expiration + confirmations on (it has to see the
    # same block confirmed); twice that leaves a margin for a partner whose view lags.
    return expiration + 2 * context.confirmations


def _open_channels_with_locks():
    return Channel.objects.filter(
        network_channel__state=NetworkChannel.State.OPENED, node__state=Node.State.RUNNING
    ).exclude(our_locks=[])


def locks_expire(context: Context) -> int:
    """Sends LockExpired for each of our locks past its expiry; the number expired.

    Locks each channel row while removing the lock; the initiator's Payment fails with
    "lock expired". A lock whose secret was registered on chain in time is left alone: the
    partner may claim it on chain.
    """
    expired = 0
    for pk, locks in _open_channels_with_locks().values_list("pk", "our_locks"):
        for _amount, expiration, secrethash_hex in locks:
            if context.block < _lock_expiry_block(int(expiration), context):
                continue
            if secret_registered_before(secrethash_hex, int(expiration)):
                continue
            expired += _lock_expire(pk, bytes.fromhex(secrethash_hex[2:]), context)
    return expired


def _lock_expire(channel_pk: int, secrethash: bytes, context: Context) -> int:
    with transaction.atomic():
        channel = channels_lock([channel_pk]).get(channel_pk)
        if channel is None:
            return 0
        node = channel.node
        try:
            state, proof, lock = send_lock_expired(channel_state_of(channel, context.chain_id), secrethash)
        except ChannelError:
            return 0  # removed meanwhile (unlocked or expired by a concurrent round)
        message = LockExpired(
            message_identifier=message_identifier_new(),
            **proof.envelope_fields(),
            recipient=channel.partner_address,
            secrethash=secrethash,
        ).signed(node_account(node).signer)
        channel_state_save(channel, state)
        row = message_record(node, channel.partner_address, message, channel, locks=locks_to_json(state.our.locks))
        payment = (
            Payment.objects.select_for_update()
            .filter(
                node=node,
                secrethash="0x" + secrethash.hex(),
                role=Payment.Role.INITIATOR,
                status=Payment.Status.PENDING,
            )
            .first()
        )
        if payment is not None:
            payment_finish(payment, Payment.Status.FAILED, "lock expired")
        state_change_log(
            node,
            "lock_expired",
            {"channel": channel.pk, "secrethash": "0x" + secrethash.hex(), "amount": str(lock.amount)},
        )
        messages_send_after_commit([row])
    logger.info("lock %s of channel %s expired", secrethash.hex(), channel_pk)
    return 1


def secrets_register(context: Context) -> int:
    """Starts registerSecret for each lock we are owed, know the secret of, and were not paid
    off-chain for, once fewer than ``reveal_timeout`` blocks are left before its expiration
    (spec 4.7: "register the secret on chain"); the number started. Deduplicated per secret hash.
    """
    started = 0
    owed = (
        Payment.objects.filter(status=Payment.Status.PENDING, role__in=(Payment.Role.TARGET, Payment.Role.MEDIATOR))
        .exclude(secret="")
        .filter(expiration__gt=context.block)
        .select_related("payer_channel", "node")
    )
    for payment in owed:
        channel = payment.payer_channel
        if channel is None or payment.expiration - context.block > channel.reveal_timeout:
            continue  # still time for the payer's Unlock
        if not any(lock[2] == payment.secrethash for lock in channel.partner_locks):
            continue  # the lock is gone (unlocked or expired)
        with transaction.atomic():
            _, created = operation_create(
                node=payment.node,
                kind=ChainOperation.Kind.SECRET_REGISTER,
                args={"secret": payment.secret, "secrethash": payment.secrethash},
                serial_key=f"secret:{payment.secrethash}",
                dedupe_key=f"secret:{payment.secrethash}",
            )
            if created:
                state_change_log(payment.node, "secret_register", {"payment": payment.pk})
        started += created
    return started


def payments_paid_on_chain() -> int:
    """Ends as succeeded the pending payments we are owed whose lock an on-chain unlock paid: the
    payer's channel settled and ChannelUnlocked for the payer's locks was applied."""
    ended = 0
    owed = (
        Payment.objects.filter(status=Payment.Status.PENDING, role__in=(Payment.Role.TARGET, Payment.Role.MEDIATOR))
        .exclude(secret="")
        .filter(payer_channel__network_channel__state=NetworkChannel.State.SETTLED)
        .select_related("payer_channel__network_channel__token_network")
    )
    for payment in owed:
        nc = payment.payer_channel.network_channel
        unlocked = ChainEvent.objects.filter(
            token_network=nc.token_network,
            channel_identifier=nc.identifier,
            name="ChannelUnlocked",
            args__sender=payment.payer_channel.partner_address,
        ).exists()
        if not unlocked:
            continue
        with transaction.atomic():
            locked = Payment.objects.select_for_update().filter(pk=payment.pk, status=Payment.Status.PENDING).first()
            if locked is not None:
                payment_finish(locked, Payment.Status.SUCCEEDED)
                state_change_log(locked.node, "payment_paid_on_chain", {"payment": locked.pk})
                ended += 1
    return ended


def payments_expire(context: Context) -> int:
    """Ends the pending payments whose lock has expired and that no LockExpired can end.

    An initiator's payment whose secret was registered on chain in time succeeded (the target
    can claim the lock on chain); otherwise, on a channel that is no longer open, it fails with
    "lock expired" (open channels are the LockExpired duty's). A mediator's or target's that never
    learned the secret fails too; one that knows it stays pending for the on-chain claim.
    Locks each Payment row.
    """
    overdue = Payment.objects.filter(status=Payment.Status.PENDING).exclude(
        expiration__gte=context.block - 2 * context.confirmations
    )
    others = (
        overdue.exclude(role=Payment.Role.INITIATOR)
        .filter(secret="")
        .exclude(payer_channel__network_channel__state=NetworkChannel.State.OPENED)
    )
    candidates = [*overdue.filter(role=Payment.Role.INITIATOR).values_list("pk", flat=True)]
    candidates += others.values_list("pk", flat=True)
    ended = 0
    for pk in candidates:
        with transaction.atomic():
            payment = (
                Payment.objects.select_for_update(of=("self",))
                .select_related("payee_channel__network_channel")
                .filter(pk=pk, status=Payment.Status.PENDING)
                .first()
            )
            if payment is None:
                continue
            if payment.role == Payment.Role.INITIATOR:
                secret = secret_registered_before(payment.secrethash, payment.expiration)
                if secret is not None:
                    payment_finish(payment, Payment.Status.SUCCEEDED, secret=secret)
                    state_change_log(payment.node, "payment_paid_on_chain", {"payment": payment.pk})
                    ended += 1
                    continue
                if payment.payee_channel.network_channel.state == NetworkChannel.State.OPENED:
                    continue  # the LockExpired duty ends it
            payment_finish(payment, Payment.Status.FAILED, "lock expired")
            state_change_log(payment.node, "payment_expired", {"payment": payment.pk})
            ended += 1
    return ended


def withdraws_expire(context: Context) -> int:
    """Sends WithdrawExpired for each of our pending withdraws past its expiration."""
    expired = 0
    channels = Channel.objects.filter(
        network_channel__state=NetworkChannel.State.OPENED, node__state=Node.State.RUNNING
    ).exclude(our_withdraws=[])
    for pk, node_id, withdraws in channels.values_list("pk", "node_id", "our_withdraws"):
        for total, expiration, _nonce in withdraws:
            if context.block >= _lock_expiry_block(int(expiration), context):
                withdraw_expire(Node.objects.get(pk=node_id), pk, int(total), context)
                expired += 1
    return expired
