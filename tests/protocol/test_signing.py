"""EIP-191 signing and recovery: every vector signature, v in {0, 1}, malformed input, properties."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given, settings
from hypothesis import strategies as st

from raidennode.protocol.hashing import keccak256
from raidennode.protocol.signing import InvalidSignature, Signer, eip191_digest, recover
from tests.protocol.vectors import BALANCE_PROOFS, VECTORS, addr, h

# secp256k1 group order
CURVE_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def vector_signatures() -> list[tuple[str, bytes, bytes, str]]:
    """(label, signed data, signature, signer name) of every signature of Appendix A."""
    found = [
        (name, h(VECTORS[name]["packed"]), h(VECTORS[name]["signature"]), who) for name, who in BALANCE_PROOFS.items()
    ]
    found += [
        (
            "A_closing_signature",
            h(VECTORS["A_closing_signature"]["packed"]),
            h(VECTORS["A_closing_signature"]["signature"]),
            "A",
        ),
        (
            "B_update_signature",
            h(VECTORS["B_update_signature"]["packed"]),
            h(VECTORS["B_update_signature"]["signature"]),
            "B",
        ),
        (
            "close_nonce0",
            h(VECTORS["close_nonce0_channel2"]["packed"]),
            h(VECTORS["close_nonce0_channel2"]["signature"]),
            "A",
        ),
    ]
    withdraw = VECTORS["withdraw"]
    found += [
        ("withdraw/participant", h(withdraw["packed"]), h(withdraw["participant_signature"]), "A"),
        ("withdraw/partner", h(withdraw["packed"]), h(withdraw["partner_signature"]), "B"),
    ]
    for data, participant, partner in (("data1", "A", "B"), ("data2", "B", "A")):
        vector = VECTORS["coop_settle"][data]
        found += [
            (f"coop_settle/{data}/participant", h(vector["packed"]), h(vector["participant_signature"]), participant),
            (f"coop_settle/{data}/partner", h(vector["packed"]), h(vector["partner_signature"]), partner),
        ]
    small_signers = {
        "SecretRequest": "B",
        "RevealSecret": "A",
        "Processed": "B",
        "Delivered": "B",
        "LockExpired": "B",
        "WithdrawExpired": "A",
    }
    for name, vector in VECTORS["small_messages"].items():
        found.append((name, h(vector["data_to_sign"]), h(vector["signature"]), small_signers[name]))
    found += [
        ("iou", h(VECTORS["iou"]["packed"]), h(VECTORS["iou"]["signature"]), "A"),
        ("reward_proof", h(VECTORS["reward_proof"]["packed"]), h(VECTORS["reward_proof"]["signature"]), "B"),
    ]
    return found


SIGNATURES = vector_signatures()
IDS = [label for label, *_ in SIGNATURES]


def test_every_vector_signature_is_collected():
    # 5 balance proofs, 2 counter-signatures, nonce-0 close, 2 withdraw, 4 coop, 6 small, IOU, reward
    assert len(SIGNATURES) == 22


@pytest.mark.parametrize(("label", "data", "signature", "who"), SIGNATURES, ids=IDS)
def test_vector_signature_recovers_to_its_signer(label, data, signature, who):
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    assert recover(data, signature) == addr(who)
    # ECVerify also accepts v in {0, 1}
    assert recover(data, signature[:64] + bytes([signature[64] - 27])) == addr(who)
    # the same as eth_account
    assert Account.recover_message(encode_defunct(primitive=data), signature=signature) == VECTORS["addresses"][who]


@pytest.mark.parametrize(("label", "data", "signature", "who"), SIGNATURES, ids=IDS)
def test_vector_signature_does_not_recover_from_other_data(label, data, signature, who):
    tampered = bytes([data[0] ^ 1]) + data[1:]
    try:
        assert recover(tampered, signature) != addr(who)
    except InvalidSignature:
        pass


def test_recover_with_the_other_parity_gives_another_address():
    _, data, signature, who = SIGNATURES[0]
    flipped = signature[:64] + bytes([55 - signature[64]])  # 27 <-> 28
    try:
        assert recover(data, flipped) != addr(who)
    except InvalidSignature:
        pass


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"\x00" * 64,
        b"\x00" * 66,
        h(VECTORS["A_Unlock_1"]["signature"])[:64],
        h(VECTORS["A_Unlock_1"]["signature"]) + b"\x00",
    ],
    ids=["empty", "64 zero bytes", "66 zero bytes", "without v", "one byte too many"],
)
def test_recover_rejects_bad_length(signature):
    with pytest.raises(InvalidSignature):
        recover(b"data", signature)


@pytest.mark.parametrize("v", [2, 3, 26, 29, 30, 35, 36, 255])
def test_recover_rejects_bad_v(v):
    signature = h(VECTORS["A_Unlock_1"]["signature"])
    with pytest.raises(InvalidSignature):
        recover(h(VECTORS["A_Unlock_1"]["packed"]), signature[:64] + bytes([v]))


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 0), (0, 1), (1, 0), (CURVE_N, 1), (1, CURVE_N), (2**256 - 1, 2**256 - 1)],
    ids=["r=s=0", "r=0", "s=0", "r=n", "s=n", "r=s=2^256-1"],
)
@pytest.mark.parametrize("v", [27, 28, 0, 1])
def test_recover_rejects_invalid_points(r, s, v):
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
    with pytest.raises(InvalidSignature):
        recover(b"data", signature)


def test_invalid_signature_is_a_value_error():
    assert issubclass(InvalidSignature, ValueError)


def test_eip191_digest():
    data = h(VECTORS["B_LockedTransfer_2"]["packed"])
    assert eip191_digest(data) == keccak256(b"\x19Ethereum Signed Message:\n212" + data)
    assert eip191_digest(b"") == keccak256(b"\x19Ethereum Signed Message:\n0")


@pytest.mark.parametrize("private_key", [b"", b"\x01" * 31, b"\x01" * 33])
def test_signer_rejects_bad_key_length(private_key):
    with pytest.raises(ValueError):
        Signer(private_key)


def test_signer_repr_hides_the_key():
    text = repr(Signer(b"\x01" * 32))
    assert "0101010101" not in text
    assert text == "Signer(0x1a642f0e3c3af545e7acbd38b07251b3990914f1)"


private_keys = st.integers(min_value=1, max_value=CURVE_N - 1).map(lambda k: k.to_bytes(32, "big"))


@settings(max_examples=200, deadline=None)
@given(private_key=private_keys, data=st.binary(max_size=400))
def test_sign_recover_round_trip(private_key, data):
    account = Signer(private_key)
    signature = account.sign(data)
    assert len(signature) == 65 and signature[64] in (27, 28)
    assert recover(data, signature) == account.address
    assert recover(data, signature[:64] + bytes([signature[64] - 27])) == account.address
    # low-s, as RFC 6979 signers emit
    assert int.from_bytes(signature[32:64], "big") <= CURVE_N // 2
    # deterministic
    assert account.sign(data) == signature


@settings(max_examples=50, deadline=None)
@given(private_key=private_keys, data=st.binary(max_size=300))
def test_signatures_equal_eth_account(private_key, data):
    expected = Account.sign_message(encode_defunct(primitive=data), private_key=private_key)
    account = Signer(private_key)
    assert account.sign(data) == bytes(expected.signature)
    assert account.address == bytes.fromhex(Account.from_key(private_key).address[2:])
    assert eip191_digest(data) == bytes(expected.message_hash)


@settings(max_examples=100, deadline=None)
@given(private_key=private_keys, data=st.binary(min_size=1, max_size=300), flip=st.integers(min_value=0))
def test_tampered_data_does_not_recover_the_signer(private_key, data, flip):
    account = Signer(private_key)
    signature = account.sign(data)
    index = flip % len(data)
    tampered = data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]
    try:
        assert recover(tampered, signature) != account.address
    except InvalidSignature:
        pass
