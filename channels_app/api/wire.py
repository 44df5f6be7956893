"""Output shapes of Raiden's API v1 (spec section 3): integers as strings, EIP-55 addresses."""

from __future__ import annotations

from ..models import Channel
from ..selectors import ChannelView


def channel_to_wire(channel: ChannelView | Channel) -> dict:
    """The 11-key channel object; ``balance`` as ChannelView.balance (spec section 3)."""
    view = channel if isinstance(channel, ChannelView) else ChannelView.of(channel)
    return {
        "channel_identifier": str(view.identifier),
        "token_network_address": view.token_network_address,
        "token_address": view.token_address,
        "partner_address": view.partner_address,
        "settle_timeout": str(view.settle_timeout),
        "reveal_timeout": str(view.reveal_timeout),
        "balance": str(view.balance),
        "state": view.state,
        "total_deposit": str(view.our_deposit),
        "total_withdraw": str(view.total_withdraw),
        "network_state": "unknown",
    }


def partner_to_wire(view: ChannelView, api_prefix: str) -> dict:
    return {
        "partner_address": view.partner_address,
        "channel": f"{api_prefix}/channels/{view.token_address}/{view.partner_address}",
    }
