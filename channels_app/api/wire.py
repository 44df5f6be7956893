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


# --- the older API's events (seeds/002, "Querying Events"); docs/api.md has the mapping ---------

# today's contract event -> the older document's event_type (others keep their contract name)
OLD_EVENT_TYPES = {
    "TokenNetworkCreated": "TokenAdded",
    "ChannelOpened": "ChannelNew",
    "ChannelNewDeposit": "ChannelNewBalance",
    "NonClosingBalanceProofUpdated": "TransferUpdated",
}
# The contracts' argument order (PostgreSQL's jsonb keeps keys in an order of its own).
EVENT_ARGS = {
    "ChannelWithdraw": ("channel_identifier", "participant", "total_withdraw"),
    "ChannelClosed": ("channel_identifier", "closing_participant", "nonce", "balance_hash"),
    "NonClosingBalanceProofUpdated": ("channel_identifier", "closing_participant", "nonce", "balance_hash"),
    "ChannelSettled": (
        "channel_identifier",
        "participant1",
        "participant1_amount",
        "participant1_locksroot",
        "participant2",
        "participant2_amount",
        "participant2_locksroot",
    ),
    "ChannelUnlocked": ("channel_identifier", "receiver", "sender", "locksroot", "unlocked_amount", "returned_tokens"),
}


def chain_event_to_wire(name: str, args: dict, block_number: int, token_network_address: str | None) -> dict:
    """One ingested chain event in the older API's shape (``args`` as ChainEvent stores them)."""
    if name == "TokenNetworkCreated":
        return {
            "event_type": "TokenAdded",
            "token_address": args["token_address"],
            "channel_manager_address": args["token_network_address"],
            "token_network_address": args["token_network_address"],
            "block_number": block_number,
        }
    if name == "ChannelOpened":
        # A channel has no contract of its own any more: it lives in its token network's contract
        # under an identifier, so netting_channel is that contract and channel_identifier says which.
        return {
            "event_type": "ChannelNew",
            "settle_timeout": args["settle_timeout"],
            "netting_channel": token_network_address,
            "participant1": args["participant1"],
            "participant2": args["participant2"],
            "token_network_address": token_network_address,
            "channel_identifier": args["channel_identifier"],
            "block_number": block_number,
        }
    if name == "ChannelNewDeposit":
        return {
            "event_type": "ChannelNewBalance",
            "participant": args["participant"],
            "balance": args["total_deposit"],
            "channel_identifier": args["channel_identifier"],
            "total_deposit": args["total_deposit"],
            "block_number": block_number,
        }
    ordered = {key: args[key] for key in EVENT_ARGS.get(name, ()) if key in args}
    ordered.update(args)
    return {"event_type": OLD_EVENT_TYPES.get(name, name), **ordered, "block_number": block_number}
