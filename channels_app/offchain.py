"""A Channel row as the pure protocol's ChannelState, and back.

Payments (transfers_app) lock Channel rows, turn them into ChannelStates, apply the rules of
raidennode.protocol.channel and write the new end states back with ``channel_state_save``, all in
one transaction. The on-chain parts (deposits, withdrawals, open or not) come from the
NetworkChannel row and are never written here.
"""

from __future__ import annotations

from raidennode.protocol.channel import ChannelState, EndState, PendingWithdraw
from raidennode.protocol.messages import Lock

from .models import Channel, NetworkChannel


def locks_from_json(rows: list) -> tuple[Lock, ...]:
    return tuple(
        Lock(int(amount), int(expiration), bytes.fromhex(secrethash[2:])) for amount, expiration, secrethash in rows
    )


def locks_to_json(locks: tuple[Lock, ...]) -> list:
    return [[str(lock.amount), lock.expiration, "0x" + lock.secrethash.hex()] for lock in locks]


def withdraws_from_json(rows: list) -> tuple[PendingWithdraw, ...]:
    return tuple(PendingWithdraw(int(total), int(expiration), int(nonce)) for total, expiration, nonce in rows)


def withdraws_to_json(withdraws: tuple[PendingWithdraw, ...]) -> list:
    return [[str(w.total_withdraw), w.expiration, w.nonce] for w in withdraws]


def channel_state_of(channel: Channel, chain_id: int) -> ChannelState:
    """The protocol state of a Channel loaded with its network_channel and token_network."""
    nc = channel.network_channel
    our = EndState(
        address=channel.node.address,
        deposit=channel.our_deposit,
        withdrawn=channel.our_withdrawn,
        nonce=channel.our_nonce,
        transferred=channel.our_transferred,
        locks=locks_from_json(channel.our_locks),
        withdraws=withdraws_from_json(channel.our_withdraws),
    )
    partner = EndState(
        address=channel.partner_address,
        deposit=channel.partner_deposit,
        withdrawn=channel.partner_withdrawn,
        nonce=channel.partner_nonce,
        transferred=channel.partner_transferred,
        locks=locks_from_json(channel.partner_locks),
        withdraws=withdraws_from_json(channel.partner_withdraws),
    )
    return ChannelState(
        chain_id=chain_id,
        token_network_address=nc.token_network.address,
        channel_identifier=nc.identifier,
        settle_timeout=nc.settle_timeout,
        reveal_timeout=channel.reveal_timeout,
        is_open=nc.state == NetworkChannel.State.OPENED and channel.local_state == Channel.LocalState.NONE,
        our=our,
        partner=partner,
    )


def channel_state_save(channel: Channel, state: ChannelState, partner_balance_proof: dict | None = None) -> None:
    """Writes the off-chain end states of ``state`` to ``channel`` (whose row the caller locked)."""
    our, partner = state.our, state.partner
    channel.our_nonce = our.nonce
    channel.our_transferred = our.transferred
    channel.our_locked = our.locked_amount
    channel.our_locks = locks_to_json(our.locks)
    channel.our_withdraws = withdraws_to_json(our.withdraws)
    channel.partner_nonce = partner.nonce
    channel.partner_transferred = partner.transferred
    channel.partner_locked = partner.locked_amount
    channel.partner_locks = locks_to_json(partner.locks)
    channel.partner_withdraws = withdraws_to_json(partner.withdraws)
    fields = [
        "our_nonce",
        "our_transferred",
        "our_locked",
        "our_locks",
        "our_withdraws",
        "partner_nonce",
        "partner_transferred",
        "partner_locked",
        "partner_locks",
        "partner_withdraws",
    ]
    if partner_balance_proof is not None:
        channel.partner_balance_proof = partner_balance_proof
        fields.append("partner_balance_proof")
    Channel.objects.filter(pk=channel.pk).update(**{name: getattr(channel, name) for name in fields})
