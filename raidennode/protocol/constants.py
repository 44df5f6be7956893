"""Constants of the Raiden protocol and contracts 0.40.0 (spec section 1)."""

from enum import IntEnum

from .hashing import keccak256

UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1

NULL_ADDRESS_BYTES = b"\x00" * 20
NULL_ADDRESS = "0x0000000000000000000000000000000000000000"
EMPTY_HASH = b"\x00" * 32
EMPTY_SIGNATURE = b"\x00" * 65
LOCKSROOT_OF_NO_LOCKS = keccak256(b"")

CONTRACTS_VERSION = "0.40.0"
# The version the node reports on GET /version: the reference client it is wire-compatible with.
RAIDEN_VERSION = "3.0.1"

# Raiden's minimum reveal timeout on mainnet and the public testnets; 1 on any other chain.
PUBLIC_CHAIN_IDS = frozenset({1, 3, 4, 5, 42, 627})


def minimum_reveal_timeout(chain_id: int) -> int:
    return 20 if chain_id in PUBLIC_CHAIN_IDS else 1


class MessageTypeId(IntEnum):
    """The message type word inside signed on-chain payloads (lib/MessageType.sol)."""

    BALANCE_PROOF = 1
    BALANCE_PROOF_UPDATE = 2
    WITHDRAW = 3
    COOPERATIVE_SETTLE = 4
    IOU = 5
    MSReward = 6


class ChainChannelState(IntEnum):
    """TokenNetwork.ChannelState as getChannelInfo returns it."""

    NON_EXISTENT = 0
    OPENED = 1
    CLOSED = 2
    SETTLED = 3
    REMOVED = 4
