"""A Channel row as the pure protocol's ChannelState, and back.

Payments (transfers_app) lock Channel rows, turn them into ChannelStates, apply the rules of
raidennode.protocol.channel and write the new end states back with ``channel_state_save``, all in
one transaction. The on-chain parts (deposits, withdrawals, open or not) come from the
NetworkChannel row and are never written here.
"""

from __future__ import annotations

from functools import cache

from django.db import connection
from django.utils import timezone

from raidennode.nodes.models import Node
from raidennode.protocol.channel import ChannelState, EndState, PendingWithdraw
from raidennode.protocol.messages import Lock
from raidennode.sql import instance_from_row, row_update

from .models import Channel, NetworkChannel, TokenNetwork

# --- locking Channel rows ---------------------------------------------------------------------
#
# Every step of a payment locks one or two Channel rows with their NetworkChannel, TokenNetwork
# and Node. Django's SQL compiler cost more CPU than PostgreSQL for that query (docs/performance.md),
# so it is written once here and the model instances are built from the row directly.

_JOINED = ((Channel, "c"), (NetworkChannel, "nc"), (TokenNetwork, "tn"), (Node, "n"))


@cache
def _select_sql() -> str:
    columns = ", ".join(
        f"{alias}.{connection.ops.quote_name(field.column)}"
        for model, alias in _JOINED
        for field in model._meta.concrete_fields
    )
    return (
        f"SELECT {columns} FROM {Channel._meta.db_table} c "
        f"JOIN {NetworkChannel._meta.db_table} nc ON nc.id = c.network_channel_id "
        f"JOIN {TokenNetwork._meta.db_table} tn ON tn.id = nc.token_network_id "
        f"JOIN {Node._meta.db_table} n ON n.id = c.node_id "
    )


def _channels_locked(where: str, params: list) -> list[Channel]:
    lock = " FOR UPDATE OF c" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cursor:
        cursor.execute(f"{_select_sql()}WHERE {where} ORDER BY c.id{lock}", params)
        rows = cursor.fetchall()
    channels = []
    for row in rows:
        parts, start = [], 0
        for model, _alias in _JOINED:
            width = len(model._meta.concrete_fields)
            parts.append(instance_from_row(model, row[start : start + width]))
            start += width
        channel, network_channel, token_network, node = parts
        network_channel.token_network = token_network
        channel.network_channel = network_channel
        channel.node = node
        channels.append(channel)
    return channels


def channels_lock(pks: list[int]) -> dict[int, Channel]:
    """Locks Channel rows (ascending primary keys: two mediators never deadlock) with their
    network channel, token network and node loaded; {pk: channel}. Call inside a transaction."""
    if not pks:
        return {}
    placeholders = ", ".join(["%s"] * len(pks))
    return {channel.pk: channel for channel in _channels_locked(f"c.id IN ({placeholders})", list(pks))}


def channel_lock_by_identifier(node_id: int, token_network_address: str, identifier: int) -> Channel | None:
    """Locks a node's Channel row of that token network's channel identifier (see channels_lock)."""
    identifier_param = NetworkChannel._meta.get_field("identifier").get_db_prep_value(identifier, connection)
    found = _channels_locked(
        "c.node_id = %s AND tn.address = %s AND nc.identifier = %s", [node_id, token_network_address, identifier_param]
    )
    return found[0] if found else None


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
    channel.updated_at = timezone.now()
    fields.append("updated_at")
    row_update(Channel, channel.pk, {name: getattr(channel, name) for name in fields})
