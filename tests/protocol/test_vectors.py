"""Every vector of spec section 6.1/6.2 and Appendix A, rebuilt with raidennode.protocol.

Each test builds the bytes from the plain inputs (keys, amounts, nonces, secrets) and compares every
hex value of the vector: lock bytes, locksroots, balance hashes, packed payloads, EIP-191 digests
and signatures (RFC 6979 makes them deterministic), and the recovered signer.
"""

from __future__ import annotations

import pytest

from raidennode.protocol.addresses import is_checksum_address, to_checksum_address
from raidennode.protocol.constants import EMPTY_HASH, EMPTY_SIGNATURE, LOCKSROOT_OF_NO_LOCKS, MessageTypeId
from raidennode.protocol.hashing import keccak256, secrethash, sha256
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
from raidennode.protocol.signing import eip191_digest, recover
from tests.protocol.vectors import (
    ADDRESSES,
    BALANCE_PROOFS,
    CHAIN_ID,
    CHANNEL_ID,
    S_A1,
    S_B1,
    S_B2,
    TOKEN_NETWORK,
    VECTORS,
    addr,
    h,
    hx,
    signer,
)


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def hdr(cmdid: int) -> bytes:
    """The 4-byte header of the non-envelope messages (spec 4.2)."""
    return bytes([cmdid, 0, 0, 0])


def create_address(sender: bytes, nonce: int) -> bytes:
    """CREATE address = keccak(rlp([sender, nonce]))[12:], for nonces < 128."""
    assert 0 <= nonce < 0x80
    encoded_nonce = b"\x80" if nonce == 0 else bytes([nonce])
    payload = b"\x94" + sender + encoded_nonce
    return keccak256(bytes([0xC0 + len(payload)]) + payload)[12:]


# Lock and balance inputs of the history of channel 1 (spec 6.2).
LOCK_A1 = pack_lock(110, 10, secrethash(S_A1))
LOCK_B1 = pack_lock(115, 30, secrethash(S_B1))
LOCK_B2 = pack_lock(120, 5, secrethash(S_B2))
PENDING_LOCKS = {
    "A_LockedTransfer_1": [LOCK_A1],
    "A_Unlock_1": [],
    "B_LockedTransfer_1": [LOCK_B1],
    "B_Unlock_1": [],
    "B_LockedTransfer_2": [LOCK_B2],
}


# --- 6.1 fixed inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A", "B", "deployer", "C"])
def test_key_addresses(name):
    account = signer(name)
    assert account.address == addr(name)
    assert to_checksum_address(account.address) == ADDRESSES[name]
    assert to_checksum_address(ADDRESSES[name].lower()) == ADDRESSES[name]
    assert is_checksum_address(ADDRESSES[name])
    assert not is_checksum_address(ADDRESSES[name].lower())
    assert repr(account) == f"Signer({ADDRESSES[name].lower()})"


@pytest.mark.parametrize(
    ("name", "creator", "nonce"),
    [
        ("SecretRegistry", "deployer", 0),
        ("TokenNetworkRegistry", "deployer", 1),
        ("CustomToken", "deployer", 2),
        ("TokenNetwork", "TokenNetworkRegistry", 1),
    ],
)
def test_contract_addresses_are_create_addresses(name, creator, nonce):
    assert to_checksum_address(create_address(addr(creator), nonce)) == ADDRESSES[name]
    assert is_checksum_address(ADDRESSES[name])


def test_chain_and_channel_inputs():
    assert CHAIN_ID == 31337
    assert CHANNEL_ID == 1
    assert VECTORS["settle_timeout"] == 500
    assert VECTORS["registry_args"] == [20, 555428, 10]


def test_participants_hash_and_unlock_key():
    a, b = addr("A"), addr("B")
    assert int.from_bytes(a, "big") < int.from_bytes(b, "big")
    participants_hash = keccak256(min(a, b) + max(a, b))
    assert hx(participants_hash) == "0xb13032b8e4b772d349ee31c43b467e1d07519d68d615e180c3f9b9cf48cfd4e4"
    # getUnlockIdentifier(channel, sender=B, receiver=A)
    unlock_key = keccak256(u256(CHANNEL_ID) + b + a)
    assert hx(unlock_key) == "0xea5e323ddf0accf4f39a5bcbd47c53d9590ec1017aa5c970ad7bd6b54f4c8e58"


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (S_A1, "0x02d449a31fbb267c8f352e9968a79e3e5fc95c1bbeaa502fd6454ebde5a4bedc"),
        (S_B1, "0x9f72ea0cf49536e3c66c787f705186df9a4378083753ae9536d65b3ad7fcddc4"),
        (S_B2, "0xdeb0e38ced1e41de6f92e70e80c418d2d356afaaa99e26f5939dbc7d3ef4772a"),
    ],
)
def test_secrethashes(secret, expected):
    assert hx(secrethash(secret)) == expected
    assert hx(sha256(secret)) == expected
    assert hx(keccak256(secret)) != expected  # sha256, not keccak (spec section 1)


def test_secrets_match_their_vectors():
    assert VECTORS["secrets"] == {"S_A1": "0x" + "11" * 32, "S_B1": "0x" + "22" * 32, "S_B2": "0x" + "33" * 32}
    for name, secret in (("A_LockedTransfer_1", S_A1), ("B_LockedTransfer_1", S_B1), ("B_LockedTransfer_2", S_B2)):
        vector = VECTORS[name]
        assert h(vector["secret"]) == secret
        assert hx(secrethash(secret)) == vector["secrethash"]


def test_hash_primitives():
    assert hx(keccak256(b"")) == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"") == LOCKSROOT_OF_NO_LOCKS
    assert EMPTY_HASH == b"\x00" * 32
    assert EMPTY_SIGNATURE == b"\x00" * 65
    assert hx(sha256(b"")) == "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- 6.2 locks, locksroots, balance hashes -----------------------------------------------------------


def test_lock_bytes():
    assert hx(LOCK_A1) == VECTORS["A_LockedTransfer_1"]["lock_packed"]
    assert hx(LOCK_B2) == VECTORS["B_LockedTransfer_2"]["lock_packed"]
    assert len(LOCK_A1) == len(LOCK_B1) == len(LOCK_B2) == 96
    # expiration first, then amount, then the secrethash (spec 2.1)
    assert LOCK_B2[:32] == u256(120) and LOCK_B2[32:64] == u256(5) and LOCK_B2[64:] == secrethash(S_B2)


@pytest.mark.parametrize("name", list(BALANCE_PROOFS))
def test_locksroot(name):
    assert hx(compute_locksroot(PENDING_LOCKS[name])) == VECTORS[name]["locksroot"]


def test_locksroot_of_no_locks_and_order():
    assert compute_locksroot([]) == LOCKSROOT_OF_NO_LOCKS
    assert compute_locksroot(iter([LOCK_A1, LOCK_B2])) == keccak256(LOCK_A1 + LOCK_B2)
    # insertion order matters
    assert compute_locksroot([LOCK_A1, LOCK_B2]) != compute_locksroot([LOCK_B2, LOCK_A1])


@pytest.mark.parametrize("name", list(BALANCE_PROOFS))
def test_balance_hash(name):
    vector = VECTORS[name]
    balance_hash = hash_balance_data(vector["transferred_amount"], vector["locked_amount"], h(vector["locksroot"]))
    assert hx(balance_hash) == vector["balance_hash"]
    # the 96-byte preimage: transferred || locked || locksroot
    preimage = u256(vector["transferred_amount"]) + u256(vector["locked_amount"]) + h(vector["locksroot"])
    assert balance_hash == keccak256(preimage)


def test_balance_hash_zero_special_case():
    # No transfers, nothing locked, no locks: 32 zero bytes, as the reference client computes it.
    assert hash_balance_data(0, 0, LOCKSROOT_OF_NO_LOCKS) == EMPTY_HASH
    # Any other balance is hashed, even with nothing transferred or locked.
    assert hash_balance_data(0, 0, keccak256(LOCK_A1)) == keccak256(u256(0) + u256(0) + keccak256(LOCK_A1))
    assert hash_balance_data(1, 0, LOCKSROOT_OF_NO_LOCKS) == keccak256(u256(1) + u256(0) + LOCKSROOT_OF_NO_LOCKS)
    assert hash_balance_data(0, 1, LOCKSROOT_OF_NO_LOCKS) == keccak256(u256(0) + u256(1) + LOCKSROOT_OF_NO_LOCKS)


def test_balance_hash_zero_locksroot_is_hashed_like_the_reference():
    assert hash_balance_data(0, 0, EMPTY_HASH) == keccak256(u256(0) + u256(0) + EMPTY_HASH)


# --- 6.2 balance proofs (212 bytes) ------------------------------------------------------------------


def _packed_balance_proof(name: str, channel_identifier: int = CHANNEL_ID) -> bytes:
    vector = VECTORS[name]
    balance_hash = hash_balance_data(
        vector["transferred_amount"], vector["locked_amount"], compute_locksroot(PENDING_LOCKS[name])
    )
    return pack_balance_proof(
        TOKEN_NETWORK, CHAIN_ID, channel_identifier, balance_hash, vector["nonce"], h(vector["additional_hash"])
    )


@pytest.mark.parametrize("name", list(BALANCE_PROOFS))
def test_balance_proof(name):
    vector = VECTORS[name]
    sender = signer(BALANCE_PROOFS[name])
    packed = _packed_balance_proof(name)
    assert len(packed) == 212
    assert hx(packed) == vector["packed"]
    assert hx(eip191_digest(packed)) == vector["eip191_digest"]
    assert hx(sender.sign(packed)) == vector["signature"]
    assert recover(packed, h(vector["signature"])) == sender.address


def test_balance_proof_layout():
    packed = _packed_balance_proof("B_LockedTransfer_2")
    vector = VECTORS["B_LockedTransfer_2"]
    assert packed[:20] == TOKEN_NETWORK
    assert packed[20:52] == u256(31337)
    assert packed[52:84] == u256(MessageTypeId.BALANCE_PROOF)
    assert packed[84:116] == u256(1)
    assert packed[116:148] == h(vector["balance_hash"])
    assert packed[148:180] == u256(3)
    assert packed[180:212] == h(vector["additional_hash"])


def test_headline_vector_from_the_table():
    """B_LockedTransfer_2, the balance proof A submits in closeChannel, against the 6.2 table."""
    packed = _packed_balance_proof("B_LockedTransfer_2")
    assert hx(eip191_digest(packed)) == "0xf2cbd720146b19d495edf7f3ab2b48c410d14eae538f3b6e9189a9ef02fa24cf"
    assert hx(signer("B").sign(packed)) == (
        "0xeadf0f1baf0cf025dc1f15ff01ff066de6a9f34ff40b7b1ac4bd4823ceddbda3"
        "7e8e4b28f7e42d4723ad4bae3b95deccd619d7d0f7d5ab7fff58bc2b7964e3481b"
    )


def test_unlock_additional_hashes():
    """message_hash of Unlock = keccak(04 || u64(msg_id) || u64(payment_id) || secret), spec 6.2."""
    a_unlock = keccak256(b"\x04" + u64(105) + u64(1) + S_A1)
    b_unlock = keccak256(b"\x04" + u64(205) + u64(2) + S_B1)
    assert hx(a_unlock) == VECTORS["A_Unlock_1"]["additional_hash"]
    assert hx(b_unlock) == VECTORS["B_Unlock_1"]["additional_hash"]


def test_metadata_hash():
    vector = VECTORS["A_LockedTransfer_1"]
    assert hx(keccak256(vector["metadata_canonical"].encode("utf-8"))) == vector["metadata_hash"]


# --- 6.2 counter-signatures (277 bytes) ---------------------------------------------------------------


def test_closing_counter_signature_type_1():
    """A signs B's balance proof plus B's signature, type 1, to close the channel."""
    bp = VECTORS["B_LockedTransfer_2"]
    vector = VECTORS["A_closing_signature"]
    packed = pack_signed_balance_proof(
        TOKEN_NETWORK,
        CHAIN_ID,
        CHANNEL_ID,
        h(bp["balance_hash"]),
        bp["nonce"],
        h(bp["additional_hash"]),
        h(bp["signature"]),
        MessageTypeId.BALANCE_PROOF,
    )
    assert len(packed) == 277
    assert packed == h(bp["packed"]) + h(bp["signature"])
    assert hx(packed) == vector["packed"]
    assert hx(eip191_digest(packed)) == vector["eip191_digest"]
    assert vector["eip191_digest"] == "0xadb745c166a7136c05cab395ff5c527be2ccea61d9101c912a3110084efacdb7"
    assert hx(signer("A").sign(packed)) == vector["signature"]
    assert recover(packed, h(vector["signature"])) == addr("A")


def test_update_counter_signature_type_2():
    """B signs A's latest balance proof (type word 2) plus A's signature for the update."""
    bp = VECTORS["A_Unlock_1"]
    vector = VECTORS["B_update_signature"]
    packed = pack_signed_balance_proof(
        TOKEN_NETWORK,
        CHAIN_ID,
        CHANNEL_ID,
        h(bp["balance_hash"]),
        bp["nonce"],
        h(bp["additional_hash"]),
        h(bp["signature"]),
        MessageTypeId.BALANCE_PROOF_UPDATE,
    )
    assert len(packed) == 277
    original = h(bp["packed"])
    assert packed == original[:52] + u256(2) + original[84:] + h(bp["signature"])
    assert hx(packed) == vector["packed"]
    assert hx(eip191_digest(packed)) == vector["eip191_digest"]
    assert vector["eip191_digest"] == "0x2e40f98b113998706008a0c936a3531088d02e736156b868c4cb78a20619f4d7"
    assert hx(signer("B").sign(packed)) == vector["signature"]
    assert recover(packed, h(vector["signature"])) == addr("B")


def test_close_with_nonce_0():
    vector = VECTORS["close_nonce0_channel2"]
    packed = pack_signed_balance_proof(
        TOKEN_NETWORK, CHAIN_ID, 2, EMPTY_HASH, 0, EMPTY_HASH, EMPTY_SIGNATURE, MessageTypeId.BALANCE_PROOF
    )
    assert packed == TOKEN_NETWORK + u256(31337) + u256(1) + u256(2) + bytes(32) * 3 + bytes(65)
    assert hx(packed) == vector["packed"]
    assert hx(signer("A").sign(packed)) == vector["signature"]
    assert recover(packed, h(vector["signature"])) == addr("A")


# --- 6.2 withdraw (200 bytes) and cooperative settle -------------------------------------------------


def test_withdraw():
    vector = VECTORS["withdraw"]
    assert vector["participant"] == ADDRESSES["A"]
    packed = pack_withdraw(
        TOKEN_NETWORK, CHAIN_ID, CHANNEL_ID, h(vector["participant"]), vector["total_withdraw"], vector["expiration"]
    )
    assert len(packed) == 200
    assert packed == TOKEN_NETWORK + u256(31337) + u256(3) + u256(1) + addr("A") + u256(10) + u256(150)
    assert hx(packed) == vector["packed"]
    assert hx(eip191_digest(packed)) == vector["eip191_digest"]
    assert hx(signer("A").sign(packed)) == vector["participant_signature"]
    assert hx(signer("B").sign(packed)) == vector["partner_signature"]
    assert recover(packed, h(vector["participant_signature"])) == addr("A")
    assert recover(packed, h(vector["partner_signature"])) == addr("B")


@pytest.mark.parametrize(("data", "participant", "partner"), [("data1", "A", "B"), ("data2", "B", "A")])
def test_cooperative_settle(data, participant, partner):
    coop = VECTORS["coop_settle"]
    vector = coop[data]
    assert vector["participant"] == ADDRESSES[participant]
    packed = pack_withdraw(
        TOKEN_NETWORK,
        CHAIN_ID,
        coop["channel_id"],
        h(vector["participant"]),
        vector["total_withdraw"],
        vector["expiration"],
    )
    assert hx(packed) == vector["packed"]
    assert hx(signer(participant).sign(packed)) == vector["participant_signature"]
    assert hx(signer(partner).sign(packed)) == vector["partner_signature"]
    assert recover(packed, h(vector["participant_signature"])) == addr(participant)
    assert recover(packed, h(vector["partner_signature"])) == addr(partner)


def test_cooperative_settle_totals():
    coop = VECTORS["coop_settle"]
    assert coop["channel_id"] == 2
    assert coop["data1"]["total_withdraw"] + coop["data2"]["total_withdraw"] == 40 + 60
    assert coop["data1"]["expiration"] == coop["data2"]["expiration"] == 2000


# --- 6.2 small messages (data to sign given by the spec) -----------------------------------------------

SMALL = VECTORS["small_messages"]


def _small_message_data(name: str) -> tuple[bytes, str]:
    """(data to sign, signer) of each 'Small messages' row, built from its fields."""
    if name == "SecretRequest":  # msg 102, pid 1, H_A1, amount 10, exp 110
        return hdr(3) + u64(102) + u64(1) + secrethash(S_A1) + u256(10) + u256(110), "B"
    if name == "RevealSecret":  # msg 103, S_A1
        return hdr(11) + u64(103) + S_A1, "A"
    if name == "Processed":  # msg 101
        return hdr(0) + u64(101), "B"
    if name == "Delivered":  # delivered 101
        return hdr(12) + u64(101), "B"
    if name == "LockExpired":  # nonce 4, T 30, L 0, no locks left, additional hash as given
        balance_hash = hash_balance_data(30, 0, compute_locksroot([]))
        return (
            pack_balance_proof(TOKEN_NETWORK, CHAIN_ID, CHANNEL_ID, balance_hash, 4, h(SMALL[name]["additional_hash"])),
            "B",
        )
    if name == "WithdrawExpired":  # msg 601, nonce 5, A, total 10, exp 150
        return hdr(17) + u256(5) + u64(601) + pack_withdraw(
            TOKEN_NETWORK, CHAIN_ID, CHANNEL_ID, addr("A"), 10, 150
        ), "A"
    raise AssertionError(name)


@pytest.mark.parametrize("name", list(SMALL))
def test_small_message(name):
    data, who = _small_message_data(name)
    expected_lengths = {
        "SecretRequest": 116,
        "RevealSecret": 44,
        "Processed": 12,
        "Delivered": 12,
        "LockExpired": 212,
        "WithdrawExpired": 244,
    }
    assert len(data) == expected_lengths[name]
    assert hx(data) == SMALL[name]["data_to_sign"]
    assert hx(signer(who).sign(data)) == SMALL[name]["signature"]
    assert recover(data, h(SMALL[name]["signature"])) == signer(who).address


def test_lock_expired_balance_is_b_unlock_balance():
    # After the pending lock expired, B's balance is the same as after its first unlock.
    data, _ = _small_message_data("LockExpired")
    assert data[116:148] == h(VECTORS["B_Unlock_1"]["balance_hash"])


# --- services: IOU (188 bytes) and MS reward proof (221 bytes) -----------------------------------------


def test_iou():
    vector = VECTORS["iou"]
    assert vector["sender"] == ADDRESSES["A"] and vector["receiver"] == ADDRESSES["C"]
    packed = pack_iou(
        h(vector["one_to_n"]),
        vector["chain_id"],
        h(vector["sender"]),
        h(vector["receiver"]),
        vector["amount"],
        vector["expiration_block"],
    )
    assert len(packed) == 188
    assert hx(packed) == vector["packed"]
    assert hx(eip191_digest(packed)) == vector["eip191_digest"]
    assert hx(signer("A").sign(packed)) == vector["signature"]
    assert recover(packed, h(vector["signature"])) == addr("A")
    assert is_checksum_address(vector["one_to_n"])


def test_reward_proof():
    vector = VECTORS["reward_proof"]
    assert vector["token_network"] == ADDRESSES["TokenNetwork"]
    non_closing_signature = h(VECTORS["B_update_signature"]["signature"])
    packed = pack_reward_proof(
        h(vector["monitoring_service"]),
        CHAIN_ID,
        h(vector["token_network"]),
        h(vector["non_closing"]),
        non_closing_signature,
        vector["reward_amount"],
    )
    assert len(packed) == 221
    assert hx(packed) == vector["packed"]
    assert hx(signer("B").sign(packed)) == vector["signature"]
    assert to_checksum_address(recover(packed, h(vector["signature"]))) == vector["recovered"]
    assert vector["recovered"] == ADDRESSES["B"]
