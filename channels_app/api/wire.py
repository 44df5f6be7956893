"""Output shapes of Raiden's API v1 (spec section 3): integers as strings, EIP-55 addresses."""

from __future__ import annotations

from ..models import Channel


def channel_to_wire(channel: Channel) -> dict:
    """The 11-key channel object. ``balance`` = deposit - withdrawn (+ transfers, later)."""
    nc = channel.network_channel
    our_deposit = channel.our_deposit
    our_withdrawn = channel.our_withdrawn
    return {
        "channel_identifier": str(nc.identifier),
        "token_network_address": nc.token_network.address,
        "token_address": nc.token_network.token_address,
        "partner_address": channel.partner_address,
        "settle_timeout": str(nc.settle_timeout),
        "reveal_timeout": str(channel.reveal_timeout),
        "balance": str(our_deposit - our_withdrawn),
        "state": channel.state,
        "total_deposit": str(our_deposit),
        "total_withdraw": str(our_withdrawn),
        "network_state": "unknown",
    }


def partner_to_wire(channel: Channel, api_prefix: str) -> dict:
    token = channel.network_channel.token_network.token_address
    return {
        "partner_address": channel.partner_address,
        "channel": f"{api_prefix}/channels/{token}/{channel.partner_address}",
    }
