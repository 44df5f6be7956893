"""Reading tokens and channels. Every query here is bounded: no N+1 over channels."""

from __future__ import annotations

from django.db.models import QuerySet

from raidennode.nodes.models import Node

from .models import Channel, NetworkChannel, TokenNetwork


def token_network_by_token(token_address: str) -> TokenNetwork | None:
    return TokenNetwork.objects.filter(token_address=token_address).first()


def token_addresses() -> list[str]:
    return list(TokenNetwork.objects.order_by("id").values_list("token_address", flat=True))


def _channels(node: Node) -> QuerySet[Channel]:
    return Channel.objects.filter(node=node).select_related("network_channel__token_network")


def channel_list_for(node: Node, token_address: str | None = None) -> list[Channel]:
    """The node's channels that are not settled (settled channels leave the node's state)."""
    channels = _channels(node).exclude(network_channel__state=NetworkChannel.State.SETTLED)
    if token_address is not None:
        channels = channels.filter(network_channel__token_network__token_address=token_address)
    return list(channels.order_by("id"))


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
    return _channels_all().get(pk=pk)


def _channels_all() -> QuerySet[Channel]:
    return Channel.objects.select_related("network_channel__token_network", "node")


def channel_for_network_channel(node: Node, network_channel: NetworkChannel) -> Channel | None:
    return _channels(node).filter(network_channel=network_channel).first()


def connections_for(node: Node) -> dict[str, dict[str, int]]:
    """{token: {"sum_deposits", "channels"}} over the node's open channels."""
    summary: dict[str, dict[str, int]] = {}
    for channel in _channels(node).filter(
        network_channel__state=NetworkChannel.State.OPENED, local_state=Channel.LocalState.NONE
    ):
        token = channel.network_channel.token_network.token_address
        entry = summary.setdefault(token, {"sum_deposits": 0, "channels": 0})
        entry["sum_deposits"] += channel.our_deposit
        entry["channels"] += 1
    return summary
