"""Reading tokens and channels. Every query here is bounded: no N+1 over channels.

The list endpoints read ``ChannelView`` rows straight from ``values_list`` (no model instances:
for a node with 1,000 channels that is 5x faster, see docs/performance.md); a single channel
that a service returns becomes a ChannelView with ``ChannelView.of``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from raidennode.nodes.models import Node

from .models import ChainEvent, Channel, NetworkChannel, TokenNetwork, channel_api_state


@dataclass(frozen=True, slots=True)
class ChannelView:
    """What the API shows of one node's channel."""

    identifier: int
    token_network_address: str
    token_address: str
    partner_address: str
    settle_timeout: int
    reveal_timeout: int
    state: str
    our_deposit: int
    our_withdrawn: int
    partner_deposit: int
    partner_withdrawn: int
    our_transferred: int = 0
    partner_transferred: int = 0
    # the largest total of our pending (off-chain) withdraws, 0 when none
    our_withdraw_pending: int = 0

    @property
    def total_withdraw(self) -> int:
        return max(self.our_withdrawn, self.our_withdraw_pending)

    @property
    def balance(self) -> int:
        """Spec 3: deposit - total withdraw - what we sent + what we received (locks not subtracted)."""
        return self.our_deposit - self.total_withdraw - self.our_transferred + self.partner_transferred

    @classmethod
    def of(cls, channel: Channel) -> ChannelView:
        nc = channel.network_channel
        return cls(
            nc.identifier,
            nc.token_network.address,
            nc.token_network.token_address,
            channel.partner_address,
            nc.settle_timeout,
            channel.reveal_timeout,
            channel.state,
            channel.our_deposit,
            channel.our_withdrawn,
            channel.partner_deposit,
            channel.partner_withdrawn,
            channel.our_transferred,
            channel.partner_transferred,
            _withdraw_pending(channel.our_withdraws),
        )


def _withdraw_pending(withdraws: list) -> int:
    return max((int(total) for total, _expiration, _nonce in withdraws), default=0)


_VIEW_COLUMNS = (
    "network_channel__identifier",
    "network_channel__token_network__address",
    "network_channel__token_network__token_address",
    "partner_address",
    "network_channel__settle_timeout",
    "reveal_timeout",
    "network_channel__state",
    "local_state",
    "is_participant1",
    "network_channel__participant1_deposit",
    "network_channel__participant1_withdrawn",
    "network_channel__participant2_deposit",
    "network_channel__participant2_withdrawn",
    "our_transferred",
    "partner_transferred",
    "our_withdraws",
)


def _view_of_row(row: tuple) -> ChannelView:
    (identifier, network, token, partner, settle, reveal, chain_state, local_state, first, d1, w1, d2, w2) = row[:13]
    sent, received, withdraws = row[13:]
    if not first:
        d1, w1, d2, w2 = d2, w2, d1, w1
    state = channel_api_state(chain_state, local_state)
    return ChannelView(
        identifier,
        network,
        token,
        partner,
        settle,
        reveal,
        state,
        d1,
        w1,
        d2,
        w2,
        sent,
        received,
        _withdraw_pending(withdraws),
    )


def token_network_by_token(token_address: str) -> TokenNetwork | None:
    return TokenNetwork.objects.filter(token_address=token_address).first()


def token_addresses() -> list[str]:
    return list(TokenNetwork.objects.order_by("id").values_list("token_address", flat=True))


def _channels(node: Node) -> QuerySet[Channel]:
    return Channel.objects.filter(node=node).select_related("network_channel__token_network")


def _unsettled(node: Node, token_address: str | None = None) -> QuerySet[Channel]:
    channels = Channel.objects.filter(node=node).exclude(network_channel__state=NetworkChannel.State.SETTLED)
    if token_address is not None:
        channels = channels.filter(network_channel__token_network__token_address=token_address)
    return channels.order_by("id")


def channel_list_for(node: Node, token_address: str | None = None) -> list[Channel]:
    """The node's channels that are not settled (settled channels leave the node's state)."""
    return list(_unsettled(node, token_address).select_related("network_channel__token_network"))


def channel_views_for(node: Node, token_address: str | None = None) -> list[ChannelView]:
    """channel_list_for as ChannelViews, in one query without model instances."""
    return [_view_of_row(row) for row in _unsettled(node, token_address).values_list(*_VIEW_COLUMNS)]


def channel_get(node: Node, token_address: str, partner_address: str) -> Channel | None:
    """The node's latest unsettled, usable channel with ``partner_address`` in that token's network."""
    return (
        _channels(node)
        .filter(network_channel__token_network__token_address=token_address, partner_address=partner_address)
        .exclude(network_channel__state=NetworkChannel.State.SETTLED)
        .exclude(local_state=Channel.LocalState.UNUSABLE)
        .order_by("-network_channel_id", "-id")
        .first()
    )


def channel_by_pk(pk: int) -> Channel:
    return Channel.objects.select_related("network_channel__token_network", "node").get(pk=pk)


def connections_for(node: Node) -> dict[str, dict[str, int]]:
    """{token: {"sum_deposits", "channels"}} over the node's open channels."""
    summary: dict[str, dict[str, int]] = {}
    for view in channel_views_for(node):
        if view.state != "opened":
            continue
        entry = summary.setdefault(view.token_address, {"sum_deposits": 0, "channels": 0})
        entry["sum_deposits"] += view.our_deposit
        entry["channels"] += 1
    return summary


# the largest block number a column holds: a bound beyond it bounds nothing
BLOCK_NUMBER_MAX = 2**63 - 1


def _chain_events_in(events: QuerySet[ChainEvent], from_block: int, to_block: int | None) -> list[tuple]:
    """(name, args, block_number, created_at) of ``events`` inside the blocks, in chain order."""
    if from_block > BLOCK_NUMBER_MAX:
        return []
    events = events.filter(block_number__gte=from_block)
    if to_block is not None and to_block < BLOCK_NUMBER_MAX:
        events = events.filter(block_number__lte=to_block)
    return list(events.order_by("block_number", "log_index").values_list("name", "args", "block_number", "created_at"))


def network_events_in(registry_address: str, from_block: int, to_block: int | None) -> list[tuple]:
    """The registry's TokenNetworkCreated events inside the blocks (see ``_chain_events_in``)."""
    events = ChainEvent.objects.filter(name="TokenNetworkCreated", address=registry_address)
    return _chain_events_in(events, from_block, to_block)


def token_network_events_in(token_network: TokenNetwork, from_block: int, to_block: int | None) -> list[tuple]:
    """Every channel opened in the token network inside the blocks (see ``_chain_events_in``)."""
    events = ChainEvent.objects.filter(token_network=token_network, name="ChannelOpened")
    return _chain_events_in(events, from_block, to_block)


def channel_events_in(
    node: Node, token_network: TokenNetwork, partner_address: str, from_block: int, to_block: int | None
) -> list[tuple] | None:
    """The chain events of every channel the node has had with the partner in the token network
    (settled ones too) inside the blocks; None when there was no such channel."""
    identifiers = list(
        Channel.objects.filter(
            node=node, network_channel__token_network=token_network, partner_address=partner_address
        ).values_list("network_channel__identifier", flat=True)
    )
    if not identifiers:
        return None
    events = ChainEvent.objects.filter(token_network=token_network, channel_identifier__in=identifiers)
    return _chain_events_in(events, from_block, to_block)
