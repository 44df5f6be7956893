"""Byte-exact payloads that the contracts verify (spec section 2)."""

from collections.abc import Iterable

from .constants import EMPTY_HASH, LOCKSROOT_OF_NO_LOCKS, MessageTypeId
from .hashing import keccak256


def u256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def hash_balance_data(transferred_amount: int, locked_amount: int, locksroot: bytes) -> bytes:
    """balance_hash; the all-empty balance is 32 zero bytes, as the reference client does."""
    if transferred_amount == 0 and locked_amount == 0 and locksroot == LOCKSROOT_OF_NO_LOCKS:
        return EMPTY_HASH
    return keccak256(u256(transferred_amount) + u256(locked_amount) + locksroot)


def pack_lock(expiration: int, amount: int, secrethash: bytes) -> bytes:
    """One lock, 96 bytes: expiration || amount || secrethash."""
    return u256(expiration) + u256(amount) + secrethash


def compute_locksroot(encoded_locks: Iterable[bytes]) -> bytes:
    """keccak of the pending locks in insertion order; keccak(b"") with none."""
    return keccak256(b"".join(encoded_locks))


def pack_balance_proof(
    token_network_address: bytes,
    chain_id: int,
    channel_identifier: int,
    balance_hash: bytes,
    nonce: int,
    additional_hash: bytes,
    msg_type: MessageTypeId = MessageTypeId.BALANCE_PROOF,
) -> bytes:
    """The 212 bytes a balance proof's sender signs."""
    return (
        token_network_address
        + u256(chain_id)
        + u256(msg_type)
        + u256(channel_identifier)
        + balance_hash
        + u256(nonce)
        + additional_hash
    )


def pack_signed_balance_proof(
    token_network_address: bytes,
    chain_id: int,
    channel_identifier: int,
    balance_hash: bytes,
    nonce: int,
    additional_hash: bytes,
    partner_signature: bytes,
    msg_type: MessageTypeId,
) -> bytes:
    """The 277 bytes of a counter-signature: type 1 for closeChannel, type 2 for an update."""
    return (
        pack_balance_proof(
            token_network_address, chain_id, channel_identifier, balance_hash, nonce, additional_hash, msg_type
        )
        + partner_signature
    )


def pack_withdraw(
    token_network_address: bytes,
    chain_id: int,
    channel_identifier: int,
    participant: bytes,
    total_withdraw: int,
    expiration_block: int,
) -> bytes:
    """The 200 bytes both participants sign for setTotalWithdraw and cooperative settle."""
    return (
        token_network_address
        + u256(chain_id)
        + u256(MessageTypeId.WITHDRAW)
        + u256(channel_identifier)
        + participant
        + u256(total_withdraw)
        + u256(expiration_block)
    )


def pack_iou(
    one_to_n_address: bytes,
    chain_id: int,
    sender: bytes,
    receiver: bytes,
    amount: int,
    expiration_block: int,
) -> bytes:
    """The 188 bytes the payer signs for OneToN.claim: one_to_n || chain_id || 5 || sender
    || receiver || amount || expiration_block (chain_id is the one stored in OneToN)."""
    return (
        one_to_n_address
        + u256(chain_id)
        + u256(MessageTypeId.IOU)
        + sender
        + receiver
        + u256(amount)
        + u256(expiration_block)
    )


def pack_reward_proof(
    monitoring_service_address: bytes,
    chain_id: int,
    token_network_address: bytes,
    non_closing_participant: bytes,
    non_closing_signature: bytes,
    reward_amount: int,
) -> bytes:
    """The 221 bytes of a monitoring-service reward proof, signed by the non-closing participant:
    ms || chain_id || 6 || token_network || non_closing || its type-2 counter-signature || reward."""
    return (
        monitoring_service_address
        + u256(chain_id)
        + u256(MessageTypeId.MSReward)
        + token_network_address
        + non_closing_participant
        + non_closing_signature
        + u256(reward_amount)
    )
