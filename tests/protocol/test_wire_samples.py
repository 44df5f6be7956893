"""Golden samples: real Raiden messages captured from raiden-ts light clients over Matrix.

``wire_samples.jsonl`` is a verbatim copy of shared/spec/wire-samples.jsonl (so the tests do not read
outside the repository). Each line is a to-device Matrix event: ``from`` is the sender's user id
``@0x<lowercase address>:<server>``; ``contentMap[user][device].body`` holds one or more JSON messages
separated by ``\\n``. raiden-ts writes EIP-55 addresses and puts extra keys in LockedTransfer metadata
(address_metadata entries, an ECIES-encrypted ``secret``), which are hashed as received.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from raidennode.protocol.addresses import to_checksum_address
from raidennode.protocol.constants import LOCKSROOT_OF_NO_LOCKS
from raidennode.protocol.messages import (
    InvalidMessage,
    LockedTransfer,
    PFSCapacityUpdate,
    Processed,
    RevealSecret,
    Unlock,
    message_from_dict,
    message_from_json,
    message_to_json,
)
from raidennode.protocol.metadata import metadata_routes
from raidennode.protocol.packing import compute_locksroot

SAMPLES_FILE = Path(__file__).with_name("wire_samples.jsonl")
SPEC_COPY = Path(__file__).resolve().parents[3] / "shared" / "spec" / "wire-samples.jsonl"
USER_ID = re.compile(r"^@(0x[0-9a-f]{40}):(.+)$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
PFS_USER = "@0x000000000000000000000000000000000000dead:localhost:8780"

EVENTS: list[dict] = [json.loads(line) for line in SAMPLES_FILE.read_text().splitlines() if line.strip()]


def _user_address(user_id: str) -> str:
    match = USER_ID.match(user_id)
    assert match, user_id
    return to_checksum_address(match.group(1))


def _samples() -> list[tuple[int, str, str, str, str]]:
    """(event index, sender address, recipient user id, device, one JSON line) of every captured message."""
    found = []
    for index, event in enumerate(EVENTS):
        sender = _user_address(event["from"])
        for user_id, devices in event["contentMap"].items():
            for device, content in devices.items():
                # as the reference: splitlines, strip, skip empty lines (matrix_transport.md 5.2)
                for line in content["body"].splitlines():
                    if line.strip():
                        found.append((index, sender, user_id, device, line.strip()))
    return found


SAMPLES = _samples()
SAMPLE_IDS = [f"{index}-{json.loads(line)['type']}-{n}" for n, (index, _, _, _, line) in enumerate(SAMPLES)]
DECODED = [(sender, message_from_json(line)) for _, sender, _, _, line in SAMPLES]


def _normalise(value):
    """Compare modulo address case and ints-as-strings."""
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and ADDRESS.match(value):
        return value.lower()
    return value


def test_samples_copy_matches_the_spec():
    if not SPEC_COPY.exists():
        pytest.skip("shared/spec is not next to this checkout")
    assert SAMPLES_FILE.read_bytes() == SPEC_COPY.read_bytes()


def test_sample_inventory():
    assert len(EVENTS) == 20
    assert len(SAMPLES) == 21  # one event batches Processed and RevealSecret in one body
    types = sorted({type(message).__name__ for _, message in DECODED})
    assert types == ["LockedTransfer", "PFSCapacityUpdate", "Processed", "RevealSecret", "Unlock"]
    contents = [content for event in EVENTS for devices in event["contentMap"].values() for content in devices.values()]
    assert sum("\n" in content["body"] for content in contents) == 1


@pytest.mark.parametrize("index", range(len(EVENTS)))
def test_event_shape(index):
    event = EVENTS[index]
    assert event["type"] == "m.room.message"
    _user_address(event["from"])
    for user_id, devices in event["contentMap"].items():
        _user_address(user_id)
        for device, content in devices.items():
            assert content["msgtype"] == "m.text"
            # raiden-ts sends to every device of a peer, and to the PFS's PATH_FINDING device
            assert device == ("PATH_FINDING" if user_id == PFS_USER else "*")


@pytest.mark.parametrize("sample", SAMPLES, ids=SAMPLE_IDS)
def test_signature_recovers_to_the_matrix_sender(sample):
    _, sender, _, _, line = sample
    message = message_from_json(line)
    assert message.sender() == sender


@pytest.mark.parametrize("sample", SAMPLES, ids=SAMPLE_IDS)
def test_reencoding_keeps_every_field(sample):
    _, _, _, _, line = sample
    original = json.loads(line)
    message = message_from_json(line)
    assert message_from_dict(message.to_dict()) == message
    assert message_from_json(message_to_json(message)) == message
    encoded = message.to_dict()
    assert set(encoded) == set(original)
    for key, value in original.items():
        assert _normalise(encoded[key]) == _normalise(value), key
    if "metadata" in original:  # verbatim: not even the address case may change inside it
        assert encoded["metadata"] == original["metadata"]
    # our own encoding is the reference's (lowercase addresses, decimal strings), same signature
    assert encoded["signature"] == original["signature"]
    for key, value in encoded.items():
        if isinstance(value, str) and ADDRESS.match(value):
            assert value == value.lower(), key


@pytest.mark.parametrize("sample", SAMPLES, ids=SAMPLE_IDS)
def test_addresses_come_out_checksummed(sample):
    _, _, _, _, line = sample
    message = message_from_json(line)
    for name in ("token_network_address", "token", "recipient", "target", "initiator", "participant"):
        if hasattr(message, name):
            value = getattr(message, name)
            assert value == to_checksum_address(value)


@pytest.mark.parametrize("sample", SAMPLES, ids=SAMPLE_IDS)
def test_a_changed_field_breaks_the_signature(sample):
    _, sender, _, _, line = sample
    original = json.loads(line)
    for key, value in original.items():
        if key in ("type", "signature") or not isinstance(value, str):
            continue
        changed = dict(original)
        if value.startswith("0x"):  # an address, hash or secret: change its first digit
            changed[key] = "0x" + ("1" if value[2] != "1" else "2") + value[3:]
        else:
            changed[key] = str(int(value) + 1)
        try:
            recovered = message_from_dict(changed).sender()
        except InvalidMessage:
            recovered = None
        assert recovered != sender, key


def _transfers() -> list[tuple[str, LockedTransfer]]:
    return [(sender, message) for sender, message in DECODED if isinstance(message, LockedTransfer)]


def test_locked_transfer_metadata_from_raiden_ts():
    transfers = _transfers()
    assert len(transfers) == 2
    for sender, transfer in transfers:
        assert transfer.initiator == sender
        routes = metadata_routes(transfer.metadata)
        assert routes == [[transfer.initiator, transfer.target]]
        assert routes[0][routes[0].index(sender) + 1] == transfer.recipient
        # raiden-ts: EIP-55 in the route, an encrypted secret and extra keys, all under the hash
        assert transfer.metadata["routes"][0]["route"] == [transfer.initiator, transfer.target]
        assert set(transfer.metadata) == {"routes", "secret"}
        assert len(bytes.fromhex(transfer.metadata["secret"][2:])) > 97  # ECIES: 97 bytes + plaintext
        assert transfer.to_dict()["metadata"] is transfer.metadata
        without_secret = {"routes": transfer.metadata["routes"]}
        changed = LockedTransfer.from_dict({**transfer.to_dict(), "metadata": without_secret})
        assert changed.sender() != sender
        lowercase_route = json.loads(json.dumps(transfer.metadata).lower())
        changed = LockedTransfer.from_dict({**transfer.to_dict(), "metadata": lowercase_route})
        assert changed.sender() != sender  # the hash is over the metadata exactly as received


def test_payment_flows_are_consistent():
    """Each captured LockedTransfer is settled by an Unlock of the same payment: the balance proof
    moves the lock's amount from locked to transferred with the next nonce (spec 4.6), the secret
    hashes to the lock, the payee revealed it, and each was acknowledged with Processed."""
    unlocks = {message.payment_identifier: message for _, message in DECODED if isinstance(message, Unlock)}
    reveals = {message.secrethash: message for _, message in DECODED if isinstance(message, RevealSecret)}
    processed = {message.message_identifier for _, message in DECODED if isinstance(message, Processed)}
    for sender, transfer in _transfers():
        lock = transfer.lock
        # a single pending lock: locksroot = keccak(the 96-byte lock), as raiden-ts computes it
        assert transfer.locked_amount == lock.amount
        assert transfer.locksroot == compute_locksroot([lock.encoded])
        settled = unlocks[transfer.payment_identifier]
        assert settled.sender() == sender
        assert settled.secrethash == lock.secrethash
        assert settled.nonce == transfer.nonce + 1
        assert settled.transferred_amount == transfer.transferred_amount + lock.amount
        assert settled.locked_amount == 0 and settled.locksroot == LOCKSROOT_OF_NO_LOCKS
        assert settled.balance_proof.channel_identifier == transfer.balance_proof.channel_identifier
        reveal = reveals[lock.secrethash]
        assert reveal.sender() == transfer.target
        assert reveal.secret == settled.secret
        assert transfer.message_identifier in processed
        assert settled.message_identifier in processed


def test_capacity_updates():
    updates = [
        (sample, message) for sample, (_, message) in zip(SAMPLES, DECODED) if isinstance(message, PFSCapacityUpdate)
    ]
    assert len(updates) == 6
    for (_, sender, user_id, device, _), update in updates:
        assert user_id == PFS_USER and device == "PATH_FINDING"
        assert update.updating_participant == sender
        assert update.sender() == sender
        assert update.reveal_timeout == 50
        assert len(update.data_to_sign()) == 32 + 20 + 32 + 20 + 20 + 8 + 8 + 32 + 32 + 32
    # both ends of channel 1 together always hold the same total
    totals = {
        update.updating_capacity + update.other_capacity for _, update in updates if update.channel_identifier == 1
    }
    assert len(totals) == 1
