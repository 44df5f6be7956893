"""The off-chain message catalogue (raidennode.protocol.messages / .metadata) against spec 4.1-4.5 and 6.2.

Every message vector of section 6.2 / Appendix A is rebuilt from its plain inputs (ids, amounts,
secrets, the route) with the message classes, signed with the vector keys and compared byte for byte;
then the wire form, round trips, tampering and malformed input.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raidennode.protocol.addresses import to_checksum_address
from raidennode.protocol.constants import LOCKSROOT_OF_NO_LOCKS, UINT64_MAX, UINT256_MAX
from raidennode.protocol.hashing import keccak256, sha256
from raidennode.protocol.messages import (
    ENVELOPE_CLASSES,
    MAX_JSON_DEPTH,
    MESSAGE_CLASSES,
    BalanceProof,
    Delivered,
    InvalidMessage,
    Lock,
    LockedTransfer,
    LockExpired,
    PFSCapacityUpdate,
    Ping,
    Pong,
    Processed,
    RefundTransfer,
    RevealSecret,
    SecretRequest,
    UnknownMessageType,
    Unlock,
    WithdrawConfirmation,
    WithdrawExpired,
    WithdrawRequest,
    message_from_dict,
    message_from_json,
    message_to_json,
)
from raidennode.protocol.metadata import canonical_json, metadata_hash, metadata_routes, route_metadata
from raidennode.protocol.packing import compute_locksroot, pack_withdraw
from raidennode.protocol.signing import eip191_digest, recover
from tests.protocol.vectors import ADDRESSES, CHAIN_ID, CHANNEL_ID, S_A1, S_B1, S_B2, VECTORS, h, hx, signer

A = ADDRESSES["A"]
B = ADDRESSES["B"]
C = ADDRESSES["C"]
TN = ADDRESSES["TokenNetwork"]
TOKEN = ADDRESSES["CustomToken"]
H_A1, H_B1, H_B2 = sha256(S_A1), sha256(S_B1), sha256(S_B2)
SMALL = VECTORS["small_messages"]


def route(*names: str) -> dict:
    """The reference's metadata for a direct transfer: the route in lowercase hex, no address metadata."""
    return route_metadata([ADDRESSES[name].lower() for name in names])


def transfer(msg_id, pid, nonce, transferred, pending: list[Lock], lock: Lock, initiator, target, cls=LockedTransfer):
    return cls(
        message_identifier=msg_id,
        payment_identifier=pid,
        chain_id=CHAIN_ID,
        nonce=nonce,
        token_network_address=TN,
        channel_identifier=CHANNEL_ID,
        transferred_amount=transferred,
        locked_amount=sum(pending_lock.amount for pending_lock in pending),
        locksroot=compute_locksroot(pending_lock.encoded for pending_lock in pending),
        token=TOKEN,
        recipient=ADDRESSES[target],
        target=ADDRESSES[target],
        initiator=ADDRESSES[initiator],
        lock=lock,
        metadata=route(initiator, target),
    )


def unlock(msg_id, pid, nonce, transferred, secret) -> Unlock:
    return Unlock(msg_id, pid, CHAIN_ID, nonce, TN, CHANNEL_ID, transferred, 0, LOCKSROOT_OF_NO_LOCKS, secret)


# The history of channel 1 (spec 6.2 prose): ids, payment ids and expirations.
LOCK_A1 = Lock(amount=10, expiration=110, secrethash=H_A1)
LOCK_B1 = Lock(amount=30, expiration=115, secrethash=H_B1)
LOCK_B2 = Lock(amount=5, expiration=120, secrethash=H_B2)

BALANCE_PROOF_MESSAGES: dict[str, tuple[object, str]] = {
    "A_LockedTransfer_1": (transfer(101, 1, 1, 0, [LOCK_A1], LOCK_A1, "A", "B"), "A"),
    "A_Unlock_1": (unlock(105, 1, 2, 10, S_A1), "A"),
    "B_LockedTransfer_1": (transfer(201, 2, 1, 0, [LOCK_B1], LOCK_B1, "B", "A"), "B"),
    "B_Unlock_1": (unlock(205, 2, 2, 30, S_B1), "B"),
    "B_LockedTransfer_2": (transfer(301, 3, 3, 30, [LOCK_B2], LOCK_B2, "B", "A"), "B"),
}

SMALL_MESSAGES: dict[str, tuple[object, str]] = {
    "SecretRequest": (SecretRequest(102, 1, H_A1, 10, 110), "B"),
    "RevealSecret": (RevealSecret(103, S_A1), "A"),
    "Processed": (Processed(101), "B"),
    "Delivered": (Delivered(101), "B"),
    "LockExpired": (LockExpired(501, CHAIN_ID, 4, TN, CHANNEL_ID, 30, 0, LOCKSROOT_OF_NO_LOCKS, A, H_B2), "B"),
    "WithdrawExpired": (WithdrawExpired(601, CHAIN_ID, TN, CHANNEL_ID, A, 10, 150, 5), "A"),
}

# The spec's reference wire JSON of A_LockedTransfer_1 (section 6.2), signature written out.
A_LOCKED_TRANSFER_1_WIRE = (
    '{"type":"LockedTransfer","message_identifier":"101","payment_identifier":"1","chain_id":"31337","nonce":"1",'
    '"token_network_address":"0xb8dd0c817c07e3a7c95d3d6ebe94d6bf5e91d12d","channel_identifier":"1",'
    '"transferred_amount":"0","locked_amount":"10",'
    '"locksroot":"0xe375be81879dbf75608876acc9382c877ac05d1823b1da1051e09ea28475a7b5",'
    '"token":"0x8427636bea2b0c16ff878d0e65319675d37bd64b","recipient":"0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c",'
    '"target":"0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c","initiator":"0x1a642f0e3c3af545e7acbd38b07251b3990914f1",'
    '"lock":{"amount":"10","expiration":"110",'
    '"secrethash":"0x02d449a31fbb267c8f352e9968a79e3e5fc95c1bbeaa502fd6454ebde5a4bedc"},'
    '"metadata":{"routes":[{"route":["0x1a642f0e3c3af545e7acbd38b07251b3990914f1",'
    '"0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c"],"address_metadata":{}}]},'
    '"signature":"' + VECTORS["A_LockedTransfer_1"]["signature"] + '"}'
)


# --- 6.2 balance-proof messages ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BALANCE_PROOF_MESSAGES))
def test_balance_proof_message_vectors(name):
    message, who = BALANCE_PROOF_MESSAGES[name]
    vector = VECTORS[name]
    proof = message.balance_proof
    assert isinstance(proof, BalanceProof)
    assert proof == BalanceProof(
        CHAIN_ID,
        TN,
        CHANNEL_ID,
        vector["nonce"],
        vector["transferred_amount"],
        vector["locked_amount"],
        h(vector["locksroot"]),
    )
    assert hx(proof.balance_hash) == vector["balance_hash"] == hx(message.balance_hash)
    assert hx(message.message_hash()) == vector["additional_hash"]
    assert hx(proof.packed(message.message_hash())) == vector["packed"]
    assert hx(message.data_to_sign()) == vector["packed"]
    assert hx(eip191_digest(message.data_to_sign())) == vector["eip191_digest"]

    signed = message.signed(signer(who))
    assert hx(signed.signature) == vector["signature"]
    assert signed.sender() == ADDRESSES[who]
    assert dataclasses.replace(signed, signature=b"") == message
    assert message_from_dict(signed.to_dict()) == signed
    assert message_from_json(message_to_json(signed)) == signed


@pytest.mark.parametrize("name", ["A_LockedTransfer_1", "B_LockedTransfer_2"])
def test_lock_bytes(name):
    message, _ = BALANCE_PROOF_MESSAGES[name]
    assert hx(message.lock.encoded) == VECTORS[name]["lock_packed"]
    assert len(message.lock.encoded) == 96
    assert hx(message.lock.secrethash) == VECTORS[name]["secrethash"]


def test_a_locked_transfer_1_metadata():
    message, _ = BALANCE_PROOF_MESSAGES["A_LockedTransfer_1"]
    vector = VECTORS["A_LockedTransfer_1"]
    assert canonical_json(message.metadata).decode() == vector["metadata_canonical"]
    assert hx(metadata_hash(message.metadata)) == vector["metadata_hash"]
    assert metadata_routes(message.metadata) == [[A, B]]


def test_a_locked_transfer_1_additional_hash_preimage():
    # keccak(u8(7) || u64(msg) || u64(pid) || u256(exp) || token || recipient || target || initiator
    #        || secrethash || u256(amount) || metadata_hash): 193 + 32 bytes (spec 4.3)
    message, _ = BALANCE_PROOF_MESSAGES["A_LockedTransfer_1"]
    preimage = (
        b"\x07"
        + (101).to_bytes(8, "big")
        + (1).to_bytes(8, "big")
        + (110).to_bytes(32, "big")
        + h(TOKEN)
        + h(B)
        + h(B)
        + h(A)
        + H_A1
        + (10).to_bytes(32, "big")
    )
    assert len(preimage) == 193
    assert message.message_hash() == keccak256(preimage + h(VECTORS["A_LockedTransfer_1"]["metadata_hash"]))


def test_a_locked_transfer_1_reference_wire_json():
    message, _ = BALANCE_PROOF_MESSAGES["A_LockedTransfer_1"]
    signed = message.signed(signer("A"))
    reference = json.loads(A_LOCKED_TRANSFER_1_WIRE)
    wire = signed.to_dict()
    assert list(wire) == list(reference)  # same keys, in the reference's order
    for key, value in reference.items():
        assert wire[key] == value, key
    assert message_to_json(signed) == A_LOCKED_TRANSFER_1_WIRE  # byte for byte
    decoded = message_from_json(A_LOCKED_TRANSFER_1_WIRE)
    assert decoded == signed
    assert decoded.sender() == A
    assert decoded.recipient == B and decoded.initiator == A and decoded.token == TOKEN  # EIP-55 inside


def test_unlock_additional_hash_preimage():
    message, _ = BALANCE_PROOF_MESSAGES["A_Unlock_1"]
    assert message.message_hash() == keccak256(b"\x04" + (105).to_bytes(8, "big") + (1).to_bytes(8, "big") + S_A1)
    assert message.secrethash == H_A1


def test_refund_transfer_hash_omits_metadata():
    locked, _ = BALANCE_PROOF_MESSAGES["A_LockedTransfer_1"]
    refund = RefundTransfer(*(getattr(locked, f.name) for f in dataclasses.fields(locked) if f.init))
    preimage = (
        b"\x08"
        + (101).to_bytes(8, "big")
        + (1).to_bytes(8, "big")
        + (110).to_bytes(32, "big")
        + h(TOKEN)
        + h(B)
        + h(B)
        + h(A)
        + H_A1
        + (10).to_bytes(32, "big")
    )
    assert refund.message_hash() == keccak256(preimage)
    assert refund != locked  # a different message type, even with equal fields
    other_metadata = dataclasses.replace(refund, metadata={"routes": []})
    assert other_metadata.message_hash() == refund.message_hash()
    assert refund.to_dict()["type"] == "RefundTransfer"
    assert refund.to_dict()["metadata"] == locked.metadata


# --- 6.2 small messages, LockExpired, withdraws ------------------------------------------------------


@pytest.mark.parametrize("name", list(SMALL_MESSAGES))
def test_small_message_vectors(name):
    message, who = SMALL_MESSAGES[name]
    vector = SMALL[name]
    assert hx(message.data_to_sign()) == vector["data_to_sign"]
    signed = message.signed(signer(who))
    assert hx(signed.signature) == vector["signature"]
    assert signed.sender() == ADDRESSES[who]
    assert message_from_dict(signed.to_dict()) == signed


def test_small_message_lengths():
    lengths = {"SecretRequest": 116, "RevealSecret": 44, "Processed": 12, "Delivered": 12, "WithdrawExpired": 244}
    for name, length in lengths.items():
        assert len(SMALL_MESSAGES[name][0].data_to_sign()) == length, name


def test_lock_expired_vector():
    message, _ = SMALL_MESSAGES["LockExpired"]
    assert hx(message.message_hash()) == SMALL["LockExpired"]["additional_hash"]
    assert message.message_hash() == keccak256(b"\x0d" + (501).to_bytes(8, "big") + h(A) + H_B2)
    # after the expiry B's balance equals the one of B_Unlock_1 (T 30, L 0, no locks)
    assert hx(message.balance_proof.balance_hash) == VECTORS["B_Unlock_1"]["balance_hash"]


def test_withdraw_vectors():
    vector = VECTORS["withdraw"]
    request = WithdrawRequest(401, CHAIN_ID, TN, CHANNEL_ID, A, 10, 3, 150)
    confirmation = WithdrawConfirmation(401, CHAIN_ID, TN, CHANNEL_ID, A, 10, 4, 150)
    assert hx(request.data_to_sign()) == vector["packed"] == hx(confirmation.data_to_sign())
    assert hx(eip191_digest(request.data_to_sign())) == vector["eip191_digest"]
    signed_request = request.signed(signer("A"))
    signed_confirmation = confirmation.signed(signer("B"))
    assert hx(signed_request.signature) == vector["participant_signature"]
    assert hx(signed_confirmation.signature) == vector["partner_signature"]
    assert signed_request.sender() == A
    assert signed_confirmation.sender() == B
    assert signed_request.to_dict()["coop_settle"] is False


@pytest.mark.parametrize(("data", "participant", "partner"), [("data1", "A", "B"), ("data2", "B", "A")])
def test_cooperative_settle_withdraw_vectors(data, participant, partner):
    vector = VECTORS["coop_settle"][data]
    channel = VECTORS["coop_settle"]["channel_id"]
    request = WithdrawRequest(7, CHAIN_ID, TN, channel, vector["participant"], vector["total_withdraw"], 9, 2000, True)
    confirmation = WithdrawConfirmation(
        7, CHAIN_ID, TN, channel, vector["participant"], vector["total_withdraw"], 9, 2000
    )
    assert hx(request.data_to_sign()) == vector["packed"]
    assert hx(request.signed(signer(participant)).signature) == vector["participant_signature"]
    assert hx(confirmation.signed(signer(partner)).signature) == vector["partner_signature"]
    assert request.data_to_sign() == pack_withdraw(
        h(TN), CHAIN_ID, channel, h(vector["participant"]), vector["total_withdraw"], 2000
    )


def test_ping_pong_data_to_sign():
    assert Ping(5, 1).data_to_sign() == b"\x01\x00\x00\x00" + (5).to_bytes(8, "big") + b"\x01"
    assert Pong(5).data_to_sign() == b"\x02\x00\x00\x00" + (5).to_bytes(8, "big")


# --- every class: round trips, sender, tampering -----------------------------------------------------


def _capacity_update() -> PFSCapacityUpdate:
    return PFSCapacityUpdate(CHAIN_ID, TN, CHANNEL_ID, A, B, 6, 2, 999_550, 450, 50)


def _every_message() -> list[tuple[object, str]]:
    refund, _ = BALANCE_PROOF_MESSAGES["B_LockedTransfer_2"]
    refund = RefundTransfer(*(getattr(refund, f.name) for f in dataclasses.fields(refund) if f.init))
    return [
        *BALANCE_PROOF_MESSAGES.values(),
        *SMALL_MESSAGES.values(),
        (refund, "B"),
        (WithdrawRequest(401, CHAIN_ID, TN, CHANNEL_ID, A, 10, 3, 150), "A"),
        (WithdrawRequest(402, CHAIN_ID, TN, 2, A, 30, 3, 2000, coop_settle=True), "A"),
        (WithdrawConfirmation(401, CHAIN_ID, TN, CHANNEL_ID, A, 10, 4, 150), "B"),
        (Ping(12345, 1), "A"),
        (Pong(12345), "B"),
        (_capacity_update(), "A"),
    ]


EVERY_MESSAGE = _every_message()
EVERY_ID = [f"{type(message).__name__}-{index}" for index, (message, _) in enumerate(EVERY_MESSAGE)]


def test_every_class_is_covered():
    assert {type(message) for message, _ in EVERY_MESSAGE} == set(MESSAGE_CLASSES)
    assert set(ENVELOPE_CLASSES) == {LockedTransfer, RefundTransfer, Unlock, LockExpired}


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
def test_class_shape(cls):
    assert dataclasses.is_dataclass(cls)
    fields = dataclasses.fields(cls)
    assert fields[-1].name == "signature" and fields[-1].default == b""
    assert cls.__dataclass_params__.frozen
    assert "__slots__" in cls.__dict__
    assert cls.__name__ == cls.TYPE


@pytest.mark.parametrize(("message", "who"), EVERY_MESSAGE, ids=EVERY_ID)
def test_round_trip_and_sender(message, who):
    signed = message.signed(signer(who))
    assert len(signed.signature) == 65 and signed.signature[64] in (27, 28)
    assert signed.sender() == ADDRESSES[who]
    assert recover(signed.data_to_sign(), signed.signature) == h(ADDRESSES[who])
    wire = signed.to_dict()
    assert wire["type"] == type(message).__name__
    assert wire["signature"] == hx(signed.signature)
    assert message_from_dict(wire) == signed
    text = message_to_json(signed)
    assert "\n" not in text and ", " not in text
    assert message_from_json(text) == signed
    assert message_from_json(text.encode()) == signed
    with pytest.raises(dataclasses.FrozenInstanceError):
        signed.signature = b""  # type: ignore[misc]


@pytest.mark.parametrize(("message", "who"), EVERY_MESSAGE, ids=EVERY_ID)
def test_wire_form_conventions(message, who):
    """Spec 4.1: ints as decimal strings, bytes and addresses as lowercase 0x hex."""
    wire = message.signed(signer(who)).to_dict()

    def check(value):
        if isinstance(value, dict):
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)
        else:
            assert isinstance(value, (str, bool)), value
            if isinstance(value, str) and value.startswith("0x"):
                assert value == value.lower()

    check(wire)


def test_addresses_accepted_in_any_case_and_ints_as_numbers():
    message, _ = BALANCE_PROOF_MESSAGES["B_LockedTransfer_2"]
    signed = message.signed(signer("B"))
    wire = signed.to_dict()
    checksummed = dict(wire)
    for key in ("token_network_address", "token", "recipient", "target", "initiator"):
        checksummed[key] = to_checksum_address(wire[key])
        assert checksummed[key] != wire[key]
    assert message_from_dict(checksummed) == signed
    upper = dict(wire, recipient="0x" + wire["recipient"][2:].upper())
    assert message_from_dict(upper) == signed
    numbers = dict(wire, nonce=3, chain_id=CHAIN_ID, lock={"amount": 5, "expiration": 120, "secrethash": hx(H_B2)})
    assert message_from_dict(numbers) == signed
    uppercase_hex = dict(wire, signature="0x" + wire["signature"][2:].upper())
    assert message_from_dict(uppercase_hex) == signed
    decoded = message_from_dict(checksummed)
    assert decoded.target == A and decoded.token_network_address == TN


def test_unknown_keys_are_ignored_outside_metadata():
    message, _ = SMALL_MESSAGES["Processed"]
    wire = dict(message.signed(signer("B")).to_dict(), extra="x", nonce="7")
    assert message_from_dict(wire) == message.signed(signer("B"))


def test_withdraw_request_without_coop_settle():
    signed = WithdrawRequest(401, CHAIN_ID, TN, CHANNEL_ID, A, 10, 3, 150).signed(signer("A"))
    wire = signed.to_dict()
    del wire["coop_settle"]
    assert message_from_dict(wire) == signed


# Fields whose change does not change the signed bytes, as in the reference client: the withdraw
# messages sign only the 200-byte on-chain payload; a RefundTransfer's hash leaves out the metadata.
UNSIGNED_FIELDS = {
    WithdrawRequest: {"message_identifier", "nonce", "coop_settle"},
    WithdrawConfirmation: {"message_identifier", "nonce"},
    RefundTransfer: {"metadata"},
}


def _tampered(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 if value < 255 else value - 1
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    if isinstance(value, str):
        return C if value != C else A
    if isinstance(value, Lock):
        return dataclasses.replace(value, amount=value.amount + 1)
    if isinstance(value, dict):
        return {**value, "extra": 1}
    raise AssertionError(value)


TAMPER_CASES = [
    pytest.param(message, who, f.name, id=f"{type(message).__name__}-{index}-{f.name}")
    for index, (message, who) in enumerate(EVERY_MESSAGE)
    for f in dataclasses.fields(message)
    if f.init and f.name != "signature"
]


@pytest.mark.parametrize(("message", "who", "name"), TAMPER_CASES)
def test_tampered_field_changes_the_signer(message, who, name):
    signed = message.signed(signer(who))
    tampered = dataclasses.replace(signed, **{name: _tampered(getattr(signed, name))})
    assert tampered != signed
    try:
        recovered = tampered.sender()
    except InvalidMessage:  # the changed digest may not recover at all
        recovered = None
    if name in UNSIGNED_FIELDS.get(type(message), ()):
        assert recovered == ADDRESSES[who]
    else:
        assert recovered != ADDRESSES[who]


def test_tampered_lock_fields_and_metadata_of_a_locked_transfer():
    message, _ = BALANCE_PROOF_MESSAGES["A_LockedTransfer_1"]
    signed = message.signed(signer("A"))
    for change in ({"amount": 11}, {"expiration": 111}, {"secrethash": H_B1}):
        tampered = dataclasses.replace(signed, lock=dataclasses.replace(signed.lock, **change))
        assert tampered.sender() != A
    # metadata: the same object with keys in another order hashes the same (canonical JSON) ...
    reordered = {"routes": [{"address_metadata": {}, "route": signed.metadata["routes"][0]["route"]}]}
    assert dataclasses.replace(signed, metadata=reordered).sender() == A
    # ... EIP-55 instead of lowercase addresses is a different object (hashed as received)
    checksummed = route_metadata([A, B])
    assert dataclasses.replace(signed, metadata=checksummed).sender() != A


def test_sender_of_unsigned_or_bad_signature():
    message, _ = SMALL_MESSAGES["Processed"]
    with pytest.raises(InvalidMessage, match="unsigned"):
        message.sender()
    signed = message.signed(signer("B"))
    for bad in (signed.signature[:64], signed.signature + b"\x00", signed.signature[:64] + b"\x1d"):
        with pytest.raises(InvalidMessage):
            dataclasses.replace(signed, signature=bad).sender()
    with pytest.raises(InvalidMessage):  # r = 0 is not a curve point
        dataclasses.replace(signed, signature=b"\x00" * 32 + signed.signature[32:]).sender()
    # v in {0, 1} is accepted on recovery, as the contracts do
    zero_one = signed.signature[:64] + bytes([signed.signature[64] - 27])
    assert dataclasses.replace(signed, signature=zero_one).sender() == B


def test_message_hash_is_cached_per_object_and_not_compared():
    message, _ = BALANCE_PROOF_MESSAGES["B_LockedTransfer_1"]
    fresh = dataclasses.replace(message)
    assert fresh._message_hash is None
    first = fresh.message_hash()
    assert fresh._message_hash == first == message.message_hash()
    assert fresh == message  # the cache is not part of equality
    signed = fresh.signed(signer("B"))
    assert signed._message_hash == first
    changed = dataclasses.replace(signed, metadata=route("B", "C"))
    assert changed._message_hash is None
    assert changed.message_hash() != first
    assert "_message_hash" not in repr(signed)


def test_locked_transfer_metadata_is_kept_verbatim():
    metadata = {
        "routes": [{"route": [A, B], "address_metadata": {A: {"user_id": "@x:y", "extra": [1, 2]}}}],
        "secret": "0x" + "ab" * 120,
        "future": {"é": "ü"},
    }
    message, _ = BALANCE_PROOF_MESSAGES["A_LockedTransfer_1"]
    signed = dataclasses.replace(message, metadata=metadata).signed(signer("A"))
    decoded = message_from_json(message_to_json(signed))
    assert decoded.metadata == metadata
    assert decoded.to_dict()["metadata"] == metadata
    assert decoded.sender() == A
    assert decoded.message_hash() == signed.message_hash()
    assert metadata_routes(decoded.metadata) == [[A, B]]


def test_metadata_that_has_no_canonical_form_is_an_invalid_message():
    message, _ = BALANCE_PROOF_MESSAGES["A_LockedTransfer_1"]
    for metadata in ({"routes": [], "x": float("nan")}, {"routes": [], "x": "\ud800"}, {"routes": [b"raw"]}):
        with pytest.raises(InvalidMessage, match="metadata"):
            dataclasses.replace(message, metadata=metadata).message_hash()


# --- malformed input ---------------------------------------------------------------------------------


def _wire(name: str) -> dict:
    for message, who in EVERY_MESSAGE:
        if type(message).__name__ == name:
            return message.signed(signer(who)).to_dict()
    raise AssertionError(name)


def _set(name: str, key: str, value) -> dict:
    wire = _wire(name)
    wire[key] = value
    return wire


def _drop(name: str, key: str) -> dict:
    wire = _wire(name)
    del wire[key]
    return wire


def _set_lock(key: str, value) -> dict:
    wire = _wire("LockedTransfer")
    wire["lock"] = dict(wire["lock"])
    if value is _DROP:
        del wire["lock"][key]
    else:
        wire["lock"][key] = value
    return wire


_DROP = object()
BAD_INTEGERS = [
    "-1",
    "1.5",
    "1e3",
    " 1",
    "1 ",
    "+1",
    "0x10",
    "",
    "abc",
    "1_000",
    "\u0661\u0662",  # Arabic-Indic digits: isdigit() but not ASCII
    "9" * 79,
    -1,
    1.0,
    True,
    None,
    [],
    {},
]

MALFORMED = [
    pytest.param([], id="not-an-object-list"),
    pytest.param("LockedTransfer", id="not-an-object-str"),
    pytest.param(None, id="not-an-object-none"),
    pytest.param(_drop("Processed", "type"), id="no-type"),
    pytest.param(_set("Processed", "type", None), id="type-null"),
    pytest.param(_set("Processed", "type", 0), id="type-int"),
    pytest.param(_set("Processed", "type", "processed"), id="type-lowercase"),
    pytest.param(_set("Processed", "type", "PFSFeeUpdate"), id="type-unsupported"),
    pytest.param(_set("Processed", "type", "Unlock"), id="type-of-another-class"),
    *[
        pytest.param(_drop("LockedTransfer", key), id=f"LockedTransfer-missing-{key}")
        for key in _wire("LockedTransfer")
    ],
    *[
        pytest.param(_drop(cls.__name__, "signature"), id=f"{cls.__name__}-missing-signature")
        for cls in MESSAGE_CLASSES
    ],
    *[pytest.param(_set_lock(key, _DROP), id=f"lock-missing-{key}") for key in ("amount", "expiration", "secrethash")],
    *[
        pytest.param(_set("LockedTransfer", "nonce", value), id=f"int-{index}")
        for index, value in enumerate(BAD_INTEGERS)
    ],
    *[pytest.param(_set_lock("amount", value), id=f"lock-int-{index}") for index, value in enumerate(BAD_INTEGERS)],
    pytest.param(_set("LockedTransfer", "transferred_amount", str(UINT256_MAX + 1)), id="uint256-overflow-str"),
    pytest.param(_set("LockedTransfer", "transferred_amount", UINT256_MAX + 1), id="uint256-overflow-number"),
    pytest.param(_set("LockedTransfer", "message_identifier", str(UINT64_MAX + 1)), id="uint64-overflow-msgid"),
    pytest.param(_set("Unlock", "payment_identifier", str(UINT64_MAX + 1)), id="uint64-overflow-pid"),
    pytest.param(_set("LockedTransfer", "nonce", str(UINT64_MAX + 1)), id="uint64-overflow-nonce"),
    pytest.param(_set("Ping", "current_protocol_version", "256"), id="uint8-overflow"),
    pytest.param(_set("LockedTransfer", "locksroot", "e3" * 32), id="hex-no-prefix"),
    pytest.param(_set("LockedTransfer", "locksroot", "0X" + "e3" * 32), id="hex-uppercase-prefix"),
    pytest.param(_set("LockedTransfer", "locksroot", "0x" + "e3" * 31), id="hex-31-bytes"),
    pytest.param(_set("LockedTransfer", "locksroot", "0x" + "e3" * 33), id="hex-33-bytes"),
    pytest.param(_set("LockedTransfer", "locksroot", "0x" + "e3" * 31 + "e"), id="hex-odd-length"),
    pytest.param(_set("LockedTransfer", "locksroot", "0x" + "zz" * 32), id="hex-not-hex"),
    pytest.param(_set("LockedTransfer", "locksroot", "0x" + "e3 " * 21 + "e3"), id="hex-with-spaces"),
    pytest.param(_set("LockedTransfer", "locksroot", 0), id="hex-number"),
    pytest.param(_set("LockedTransfer", "locksroot", None), id="hex-null"),
    pytest.param(_set("RevealSecret", "secret", "0x" + "11" * 31), id="secret-31-bytes"),
    pytest.param(_set_lock("secrethash", "0x" + "11" * 33), id="lock-secrethash-33-bytes"),
    pytest.param(_set("LockedTransfer", "signature", "0x" + "ab" * 64), id="signature-64-bytes"),
    pytest.param(_set("LockedTransfer", "signature", "0x" + "ab" * 66), id="signature-66-bytes"),
    pytest.param(_set("LockedTransfer", "signature", "0x"), id="signature-empty"),
    pytest.param(_set("LockedTransfer", "recipient", "0x" + "ab" * 19), id="address-19-bytes"),
    pytest.param(_set("LockedTransfer", "recipient", "0x" + "ab" * 21), id="address-21-bytes"),
    pytest.param(_set("LockedTransfer", "recipient", "ab" * 21), id="address-no-prefix"),
    pytest.param(_set("LockedTransfer", "recipient", "0X" + "ab" * 20), id="address-uppercase-prefix"),
    pytest.param(_set("LockedTransfer", "recipient", "0x" + "gh" * 20), id="address-not-hex"),
    pytest.param(_set("LockedTransfer", "recipient", int(A, 16)), id="address-number"),
    pytest.param(_set("LockedTransfer", "lock", None), id="lock-null"),
    pytest.param(_set("LockedTransfer", "lock", [5, 120, hx(H_B2)]), id="lock-list"),
    pytest.param(_set("LockedTransfer", "metadata", None), id="metadata-null"),
    pytest.param(_set("LockedTransfer", "metadata", []), id="metadata-list"),
    pytest.param(_set("LockedTransfer", "metadata", json.dumps(route("A", "B"))), id="metadata-string"),
    pytest.param(_set("WithdrawRequest", "coop_settle", "true"), id="bool-string"),
    pytest.param(_set("WithdrawRequest", "coop_settle", 1), id="bool-number"),
    pytest.param(_set("WithdrawRequest", "coop_settle", None), id="bool-null"),
    pytest.param(_set("PFSCapacityUpdate", "canonical_identifier", None), id="capacity-no-canonical-identifier"),
    pytest.param(
        _set("PFSCapacityUpdate", "canonical_identifier", {"chain_identifier": "1", "channel_identifier": "1"}),
        id="capacity-canonical-identifier-missing-token-network",
    ),
    pytest.param(_drop("PFSCapacityUpdate", "updating_nonce"), id="capacity-missing-nonce"),
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_messages_are_rejected(data):
    with pytest.raises(InvalidMessage):
        message_from_dict(data)
    if data is not None:
        with pytest.raises(InvalidMessage):
            message_from_json(json.dumps(data))


def test_unknown_type_has_its_own_error():
    with pytest.raises(UnknownMessageType):
        message_from_dict({"type": "PFSFeeUpdate"})
    with pytest.raises(UnknownMessageType):
        message_from_json('{"type":"RequestMonitoring"}')
    with pytest.raises(InvalidMessage) as info:
        message_from_dict({"type": 7})
    assert not isinstance(info.value, UnknownMessageType)
    assert issubclass(InvalidMessage, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[1, 2]",
        '"Processed"',
        "null",
        '{"type":"Processed","message_identifier":"1","signature":"0x' + "ab" * 65,
        '{"type":"Processed","message_identifier":NaN,"signature":"0x' + "ab" * 65 + '"}',
        '{"type":"Processed","message_identifier":Infinity,"signature":"0x' + "ab" * 65 + '"}',
        '{"type":"Processed","message_identifier":1e2,"signature":"0x' + "ab" * 65 + '"}',
        '{"type":"Processed","message_identifier":"1","signature":"0x'
        + "ab" * 65
        + '","x":'
        + "[" * 100000
        + "]" * 100000
        + "}",
        '{"type":"Processed","message_identifier":' + "9" * 5000 + ',"signature":"0x' + "ab" * 65 + '"}',
        b"\xff\xfe",
    ],
    ids=lambda text: repr(text[:30]),
)
def test_malformed_json_is_rejected(text):
    with pytest.raises(InvalidMessage):
        message_from_json(text)


def test_deep_json_nesting_is_rejected_before_parsing():
    # With py_ecc imported (eth_account, web3) the recursion limit is 100,000 and json.loads of
    # deeply nested input overflows the C stack: a segfault. Simulate that process explicitly.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 100_000))
    try:
        for opener, closer in (("[", "]"), ('{"a":', "}")):
            payload = opener * 1_000_000 + "1" + closer * 1_000_000
            text = '{"type":"Processed","message_identifier":"1","x":' + payload + "}"
            with pytest.raises(InvalidMessage, match="nested deeper"):
                message_from_json(text)
    finally:
        sys.setrecursionlimit(limit)
    at_limit = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    wire = _wire("Processed")
    assert message_from_json(json.dumps({**wire, "x": json.loads(at_limit)})) == message_from_dict(wire)
    with pytest.raises(InvalidMessage, match="nested deeper"):
        message_from_json(json.dumps({**wire, "x": json.loads("[" + at_limit + "]")}))


def test_brackets_inside_strings_do_not_count_as_nesting():
    message, _ = BALANCE_PROOF_MESSAGES["A_LockedTransfer_1"]
    metadata = {**route("A", "B"), "note": '\\"' + "[{" * 500, "other": "]}" * 3}
    signed = dataclasses.replace(message, metadata=metadata).signed(signer("A"))
    assert message_from_json(message_to_json(signed)) == signed


def test_error_messages_name_the_field_and_stay_short():
    with pytest.raises(InvalidMessage, match="nonce") as info:
        message_from_dict(_set("LockedTransfer", "nonce", "x" * 10_000))
    assert len(str(info.value)) < 300
    with pytest.raises(InvalidMessage, match="missing field 'lock'"):
        message_from_dict(_drop("LockedTransfer", "lock"))
    with pytest.raises(InvalidMessage, match="lock.amount"):
        message_from_dict(_set_lock("amount", "-5"))


def test_leading_zeros_are_accepted():
    wire = _set("Processed", "message_identifier", "00101")
    assert message_from_dict(wire).message_identifier == 101


# --- metadata helpers --------------------------------------------------------------------------------


def test_route_metadata_shape():
    assert route_metadata([A, B]) == {"routes": [{"route": [A, B], "address_metadata": {}}]}
    info = {A: {"user_id": "@0x1:server", "displayname": "0x", "capabilities": "mxc://"}}
    built = route_metadata([A.lower(), C, B], info)
    assert built == {"routes": [{"route": [A.lower(), C, B], "address_metadata": info}]}
    assert list(built["routes"][0]) == ["route", "address_metadata"]
    hops = [A, B]
    assert route_metadata(hops)["routes"][0]["route"] is not hops  # a copy, not the caller's list


def test_canonical_json():
    assert canonical_json({"b": 1, "a": {"d": [1, "x"], "c": None}}) == b'{"a":{"c":null,"d":[1,"x"]},"b":1}'
    assert canonical_json({"k": "é€"}) == '{"k":"é€"}'.encode()  # not escaped
    assert canonical_json({"k": 'q"\n'}) == b'{"k":"q\\"\\n"}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("inf")})
    assert metadata_hash({"b": 1, "a": 2}) == keccak256(b'{"a":2,"b":1}') == metadata_hash({"a": 2, "b": 1})


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"routes": [{"route": [A.lower(), B.lower()]}]}, [[A, B]]),
        (
            {"routes": [{"route": [A, C, B], "address_metadata": {}}, {"route": [A, B]}], "secret": "0x"},
            [[A, C, B], [A, B]],
        ),
        ({"routes": []}, []),
        ({}, []),
        (None, []),
        ([], []),
        ({"routes": "x"}, []),
        ({"routes": {"route": [A, B]}}, []),
        ({"routes": [[A, B]]}, []),
        ({"routes": [{"path": [A, B]}]}, []),
        ({"routes": [{"route": []}]}, []),
        ({"routes": [{"route": [A, "0x1234"]}]}, []),
        ({"routes": [{"route": [A, None]}]}, []),
        ({"routes": [{"route": [A, B]}, {"route": "bad"}]}, []),
        ({"routes": [{"route": A}]}, []),
    ],
)
def test_metadata_routes(metadata, expected):
    assert metadata_routes(metadata) == expected


# --- properties ----------------------------------------------------------------------------------------

u64s = st.integers(min_value=0, max_value=UINT64_MAX)
u256s = st.integers(min_value=0, max_value=UINT256_MAX)
hashes = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.tuples(u64s, u64s, u64s),
    amounts=st.tuples(u256s, u256s, u256s, u256s, u256s, u256s),
    parties=st.tuples(addresses, addresses, addresses, addresses, addresses),
    locksroot=hashes,
    secrethash=hashes,
    extra=st.dictionaries(st.text(max_size=6).filter(lambda key: key != "routes"), json_values, max_size=3),
    who=st.sampled_from(["A", "B"]),
)
def test_locked_transfer_round_trip_property(ids, amounts, parties, locksroot, secrethash, extra, who):
    message_id, payment_id, nonce = ids
    chain_id, channel, transferred, locked, lock_amount, expiration = amounts
    token_network, token, recipient, target, initiator = parties
    metadata = {**route_metadata([initiator, recipient, target]), **extra}
    message = LockedTransfer(
        message_id,
        payment_id,
        chain_id,
        nonce,
        token_network,
        channel,
        transferred,
        locked,
        locksroot,
        token,
        recipient,
        target,
        initiator,
        Lock(lock_amount, expiration, secrethash),
        metadata,
    ).signed(signer(who))
    decoded = message_from_json(message_to_json(message))
    assert decoded == message
    assert decoded.sender() == ADDRESSES[who]
    assert decoded.metadata == metadata
    assert metadata_routes(decoded.metadata) == [[initiator, recipient, target]]
    assert len(decoded.data_to_sign()) == 212


@settings(max_examples=60, deadline=None)
@given(
    message_id=u64s,
    nonce=u64s,
    chain_id=u256s,
    channel=u256s,
    total=u256s,
    expiration=u256s,
    participant=addresses,
    token_network=addresses,
    coop_settle=st.booleans(),
    as_numbers=st.booleans(),
)
def test_withdraw_round_trip_property(
    message_id, nonce, chain_id, channel, total, expiration, participant, token_network, coop_settle, as_numbers
):
    for message in (
        WithdrawRequest(
            message_id, chain_id, token_network, channel, participant, total, nonce, expiration, coop_settle
        ),
        WithdrawConfirmation(message_id, chain_id, token_network, channel, participant, total, nonce, expiration),
        WithdrawExpired(message_id, chain_id, token_network, channel, participant, total, expiration, nonce),
    ):
        signed = message.signed(signer("A"))
        wire = signed.to_dict()
        if as_numbers:
            wire = {
                key: int(value) if isinstance(value, str) and value.isdigit() else value for key, value in wire.items()
            }
        assert message_from_dict(wire) == signed
        assert signed.sender() == A
        assert len(signed.data_to_sign()) == (244 if isinstance(message, WithdrawExpired) else 200)
