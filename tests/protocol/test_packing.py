"""Properties of the packed payloads (spec section 2): sizes, field positions, locksroot, balance hash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from raidennode.protocol.constants import EMPTY_HASH, LOCKSROOT_OF_NO_LOCKS, UINT256_MAX, MessageTypeId
from raidennode.protocol.hashing import keccak256, secrethash
from raidennode.protocol.packing import (
    compute_locksroot,
    hash_balance_data,
    pack_balance_proof,
    pack_iou,
    pack_lock,
    pack_reward_proof,
    pack_signed_balance_proof,
    pack_withdraw,
    u256,
)

uint256 = st.integers(min_value=0, max_value=UINT256_MAX)
hash32 = st.binary(min_size=32, max_size=32)
address = st.binary(min_size=20, max_size=20)
signature = st.binary(min_size=65, max_size=65)
locks = st.lists(st.builds(pack_lock, uint256, uint256, hash32), max_size=8)


@given(empty=st.sampled_from([[], (), iter([]), set(), (x for x in ())]))
def test_locksroot_of_no_locks_is_keccak_of_nothing(empty):
    assert compute_locksroot(empty) == keccak256(b"") == LOCKSROOT_OF_NO_LOCKS


@given(encoded=locks)
def test_locksroot_is_keccak_of_the_concatenation(encoded):
    assert compute_locksroot(encoded) == keccak256(b"".join(encoded))
    assert compute_locksroot(iter(encoded)) == compute_locksroot(encoded)


@given(expiration=uint256, amount=uint256, secret=hash32)
def test_lock_is_96_bytes(expiration, amount, secret):
    lock = pack_lock(expiration, amount, secrethash(secret))
    assert len(lock) == 96
    assert int.from_bytes(lock[:32], "big") == expiration
    assert int.from_bytes(lock[32:64], "big") == amount
    assert lock[64:] == secrethash(secret)


@settings(max_examples=300)
@given(transferred=uint256, locked=uint256, locksroot=hash32)
def test_balance_hash(transferred, locked, locksroot):
    balance_hash = hash_balance_data(transferred, locked, locksroot)
    if transferred == 0 and locked == 0 and locksroot == LOCKSROOT_OF_NO_LOCKS:
        assert balance_hash == EMPTY_HASH
    else:
        assert balance_hash == keccak256(u256(transferred) + u256(locked) + locksroot)


@given(
    token_network=address,
    chain_id=uint256,
    channel=uint256,
    balance_hash=hash32,
    nonce=uint256,
    additional_hash=hash32,
    partner_signature=signature,
    msg_type=st.sampled_from([MessageTypeId.BALANCE_PROOF, MessageTypeId.BALANCE_PROOF_UPDATE]),
)
def test_balance_proof_and_counter_signature_layout(
    token_network, chain_id, channel, balance_hash, nonce, additional_hash, partner_signature, msg_type
):
    packed = pack_balance_proof(token_network, chain_id, channel, balance_hash, nonce, additional_hash)
    assert len(packed) == 212
    assert packed[52:84] == u256(1)  # type 1 by default
    counter = pack_signed_balance_proof(
        token_network, chain_id, channel, balance_hash, nonce, additional_hash, partner_signature, msg_type
    )
    assert len(counter) == 277
    assert counter == packed[:52] + u256(msg_type) + packed[84:] + partner_signature
    assert counter[:212] == pack_balance_proof(
        token_network, chain_id, channel, balance_hash, nonce, additional_hash, msg_type
    )


@given(token_network=address, chain_id=uint256, channel=uint256, participant=address, total=uint256, exp=uint256)
def test_withdraw_layout(token_network, chain_id, channel, participant, total, exp):
    packed = pack_withdraw(token_network, chain_id, channel, participant, total, exp)
    assert len(packed) == 200
    assert packed == token_network + u256(chain_id) + u256(3) + u256(channel) + participant + u256(total) + u256(exp)


@given(one_to_n=address, chain_id=uint256, sender=address, receiver=address, amount=uint256, exp=uint256)
def test_iou_layout(one_to_n, chain_id, sender, receiver, amount, exp):
    packed = pack_iou(one_to_n, chain_id, sender, receiver, amount, exp)
    assert len(packed) == 188
    assert packed == one_to_n + u256(chain_id) + u256(5) + sender + receiver + u256(amount) + u256(exp)


@given(ms=address, chain_id=uint256, token_network=address, non_closing=address, sig=signature, reward=uint256)
def test_reward_proof_layout(ms, chain_id, token_network, non_closing, sig, reward):
    packed = pack_reward_proof(ms, chain_id, token_network, non_closing, sig, reward)
    assert len(packed) == 221
    assert packed == ms + u256(chain_id) + u256(6) + token_network + non_closing + sig + u256(reward)
