"""The off-chain messages of the Raiden protocol and their JSON wire form (spec sections 4.1-4.5).

Every message is a frozen, slotted dataclass whose fields are named like the JSON keys of the
reference client (raiden 3.0.1), with ``signature`` last. In Python objects addresses are EIP-55
strings, hashes/secrets/signatures are ``bytes`` and integers are ``int``. On the wire
(:meth:`to_dict`) integers are decimal strings, bytes and addresses lowercase ``0x`` hex, exactly as
the reference emits them; :func:`message_from_dict` also accepts what raiden-ts sends (EIP-55
addresses, integers as strings or JSON numbers) and raises :class:`InvalidMessage` on anything else.

Signatures are EIP-191 over packed bytes (never over the JSON), with one exception: a
LockedTransfer's ``metadata`` enters its ``message_hash`` through the keccak of its canonical JSON,
so it is kept exactly as received and forwarded verbatim by mediators (:mod:`.metadata`).

Hot path: no eth_utils/eth_account; bytes are built with ``int.to_bytes``; addresses are converted
with the cached :func:`.addresses.to_checksum_address`; a LockedTransfer computes its message hash
(and so hashes its metadata) at most once per object.
"""

import json
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self, Union

from .addresses import to_checksum_address
from .constants import UINT64_MAX, UINT256_MAX, MessageTypeId
from .hashing import keccak256, sha256
from .metadata import metadata_hash
from .packing import hash_balance_data, pack_balance_proof, pack_lock, pack_withdraw
from .signing import InvalidSignature, recover

__all__ = [
    "ENVELOPE_CLASSES",
    "MESSAGE_CLASSES",
    "BalanceProof",
    "Delivered",
    "EnvelopeMessage",
    "InvalidMessage",
    "Lock",
    "LockExpired",
    "LockedTransfer",
    "Message",
    "PFSCapacityUpdate",
    "Ping",
    "Pong",
    "Processed",
    "RefundTransfer",
    "RevealSecret",
    "SecretRequest",
    "UnknownMessageType",
    "Unlock",
    "WithdrawConfirmation",
    "WithdrawExpired",
    "WithdrawRequest",
    "message_from_dict",
    "message_from_json",
    "message_to_json",
    "MAX_JSON_DEPTH",
]


class InvalidMessage(ValueError):
    """A message that is malformed: not a JSON object, a missing or bad field, a bad signature."""


class UnknownMessageType(InvalidMessage):
    """A well-formed JSON object whose ``type`` this node does not implement (the transport drops it)."""


# --- byte helpers ----------------------------------------------------------------------------------

_WITHDRAW_WORD = int(MessageTypeId.WITHDRAW).to_bytes(32, "big")


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _u256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _raw(address: str) -> bytes:
    """The 20 bytes of a 0x-hex address."""
    return bytes.fromhex(address[2:])


def _hdr(cmdid: int) -> bytes:
    """The 4-byte header of the non-envelope messages: cmdid and three zero bytes."""
    return bytes((cmdid, 0, 0, 0))


# --- field codecs: decode(value, key) -> python value; encode(python value) -> JSON value ------------

_MAX_DIGITS = len(str(UINT256_MAX))  # 78


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dec_int(value: Any, key: str, maximum: int) -> int:
    if type(value) is int:  # a JSON number (bool excluded: type(True) is bool)
        number = value
    elif type(value) is str and 0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise InvalidMessage(f"{key}: expected a non-negative integer as a decimal string, got {_short(value)}")
    if not 0 <= number <= maximum:
        raise InvalidMessage(f"{key}: {number} is out of range 0..{maximum}")
    return number


def _dec_u8(value: Any, key: str) -> int:
    return _dec_int(value, key, 255)


def _dec_u64(value: Any, key: str) -> int:
    return _dec_int(value, key, UINT64_MAX)


def _dec_u256(value: Any, key: str) -> int:
    return _dec_int(value, key, UINT256_MAX)


def _dec_address(value: Any, key: str) -> str:
    if type(value) is str and len(value) == 42 and value.startswith("0x"):
        try:
            return to_checksum_address(value)  # cached; checks the 0x prefix and the hex digits
        except ValueError:
            pass
    raise InvalidMessage(f"{key}: expected a 0x-prefixed 20-byte hex address, got {_short(value)}")


def _dec_bytes(value: Any, key: str, length: int) -> bytes:
    if type(value) is str and len(value) == 2 + 2 * length and value.startswith("0x"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            pass
        else:
            if len(raw) == length:  # fromhex skips whitespace: a shorter result means there was some
                return raw
    raise InvalidMessage(f"{key}: expected 0x and {2 * length} hex digits ({length} bytes), got {_short(value)}")


def _dec_bytes32(value: Any, key: str) -> bytes:
    return _dec_bytes(value, key, 32)


def _dec_signature(value: Any, key: str) -> bytes:
    return _dec_bytes(value, key, 65)


def _dec_bool(value: Any, key: str) -> bool:
    if type(value) is bool:
        return value
    raise InvalidMessage(f"{key}: expected true or false, got {_short(value)}")


def _dec_object(value: Any, key: str) -> dict:
    if type(value) is dict:
        return value
    raise InvalidMessage(f"{key}: expected a JSON object, got {_short(value)}")


def _get(data: dict, key: str, where: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise InvalidMessage(f"{where}: missing field {key!r}") from None


def _dec_lock(value: Any, key: str) -> "Lock":
    lock = _dec_object(value, key)
    return Lock(
        amount=_dec_u256(_get(lock, "amount", key), "lock.amount"),
        expiration=_dec_u256(_get(lock, "expiration", key), "lock.expiration"),
        secrethash=_dec_bytes32(_get(lock, "secrethash", key), "lock.secrethash"),
    )


def _enc_int(value: int) -> str:
    return str(value)


def _enc_address(value: str) -> str:
    return value.lower()


def _enc_bytes(value: bytes) -> str:
    return "0x" + value.hex()


def _enc_same(value: Any) -> Any:
    return value


def _enc_lock(lock: "Lock") -> dict:
    return {"amount": str(lock.amount), "expiration": str(lock.expiration), "secrethash": "0x" + lock.secrethash.hex()}


_U8 = (_dec_u8, _enc_int)
_U64 = (_dec_u64, _enc_int)
_U256 = (_dec_u256, _enc_int)
_ADDRESS = (_dec_address, _enc_address)
_BYTES32 = (_dec_bytes32, _enc_bytes)
_BOOL = (_dec_bool, _enc_same)
_OBJECT = (_dec_object, _enc_same)
_LOCK = (_dec_lock, _enc_lock)

# (JSON key, decoder, encoder) for each field before ``signature``, in dataclass field order.
_Wire = tuple[tuple[str, Any, Any], ...]


def _wire(*spec: tuple[str, tuple[Any, Any]]) -> _Wire:
    return tuple((key, codec[0], codec[1]) for key, codec in spec)


# --- value objects ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lock:
    """A hash time lock: ``amount`` tokens claimable with the secret of ``secrethash`` before ``expiration``."""

    amount: int
    expiration: int
    secrethash: bytes

    @property
    def encoded(self) -> bytes:
        """The 96 bytes of spec 2.1: expiration || amount || secrethash."""
        return pack_lock(self.expiration, self.amount, self.secrethash)


@dataclass(frozen=True, slots=True)
class BalanceProof:
    """The balance data an envelope message carries (spec 2.3)."""

    chain_id: int
    token_network_address: str
    channel_identifier: int
    nonce: int
    transferred_amount: int
    locked_amount: int
    locksroot: bytes

    @property
    def balance_hash(self) -> bytes:
        return hash_balance_data(self.transferred_amount, self.locked_amount, self.locksroot)

    def envelope_fields(self) -> dict:
        """The fields an envelope message (LockedTransfer, Unlock, LockExpired) copies from it."""
        return {
            "chain_id": self.chain_id,
            "nonce": self.nonce,
            "token_network_address": self.token_network_address,
            "channel_identifier": self.channel_identifier,
            "transferred_amount": self.transferred_amount,
            "locked_amount": self.locked_amount,
            "locksroot": self.locksroot,
        }

    def packed(self, additional_hash: bytes) -> bytes:
        """The 212 bytes the sender signs (type 1 balance proof)."""
        return pack_balance_proof(
            _raw(self.token_network_address),
            self.chain_id,
            self.channel_identifier,
            self.balance_hash,
            self.nonce,
            additional_hash,
        )


# --- message bases ---------------------------------------------------------------------------------


class _SignedMessage:
    """Behaviour shared by every message; subclasses are frozen slotted dataclasses."""

    __slots__ = ()

    TYPE: ClassVar[str]
    _WIRE: ClassVar[_Wire]
    _OPTIONAL: ClassVar[dict[str, Any]] = {}

    signature: bytes

    def data_to_sign(self) -> bytes:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def signed(self, signer) -> Self:
        """A copy signed by ``signer`` (anything with ``sign(data) -> 65 bytes``)."""
        return replace(self, signature=signer.sign(self.data_to_sign()))

    def sender(self) -> str:
        """The EIP-55 address that signed this message."""
        signature = self.signature
        if len(signature) != 65:
            raise InvalidMessage(f"{self.TYPE}: unsigned or bad signature length {len(signature)}")
        try:
            return to_checksum_address(recover(self.data_to_sign(), signature))
        except InvalidSignature as exc:
            raise InvalidMessage(f"{self.TYPE}: bad signature: {exc}") from None

    def to_dict(self) -> dict:
        """The JSON wire form, as the reference client emits it."""
        data: dict[str, Any] = {"type": self.TYPE}
        for key, _, encode in self._WIRE:
            data[key] = encode(getattr(self, key))
        data["signature"] = "0x" + self.signature.hex()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        """Decode the JSON object of this type (``type`` is not checked here: see message_from_dict)."""
        values = []
        optional = cls._OPTIONAL
        for key, decode, _ in cls._WIRE:
            try:
                value = data[key]
            except KeyError:
                if key in optional:
                    values.append(optional[key])
                    continue
                raise InvalidMessage(f"{cls.TYPE}: missing field {key!r}") from None
            values.append(decode(value, key))
        signature = _dec_signature(_get(data, "signature", cls.TYPE), "signature")
        return cls(*values, signature=signature)


class _EnvelopeMessage(_SignedMessage):
    """A message carrying the sender's balance proof; its signature is the on-chain one (spec 2.3)."""

    __slots__ = ()

    chain_id: int
    token_network_address: str
    channel_identifier: int
    nonce: int
    transferred_amount: int
    locked_amount: int
    locksroot: bytes

    def message_hash(self) -> bytes:  # pragma: no cover - every subclass defines it
        """The balance proof's ``additional_hash`` (spec 4.3)."""
        raise NotImplementedError

    @property
    def balance_proof(self) -> BalanceProof:
        return BalanceProof(
            self.chain_id,
            self.token_network_address,
            self.channel_identifier,
            self.nonce,
            self.transferred_amount,
            self.locked_amount,
            self.locksroot,
        )

    @property
    def balance_hash(self) -> bytes:
        return hash_balance_data(self.transferred_amount, self.locked_amount, self.locksroot)

    def data_to_sign(self) -> bytes:
        return pack_balance_proof(
            _raw(self.token_network_address),
            self.chain_id,
            self.channel_identifier,
            hash_balance_data(self.transferred_amount, self.locked_amount, self.locksroot),
            self.nonce,
            self.message_hash(),
        )


_BALANCE_PROOF_WIRE = (
    ("chain_id", _U256),
    ("nonce", _U64),
    ("token_network_address", _ADDRESS),
    ("channel_identifier", _U256),
    ("transferred_amount", _U256),
    ("locked_amount", _U256),
    ("locksroot", _BYTES32),
)


# --- envelope messages -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TransferBase(_EnvelopeMessage):
    message_identifier: int
    payment_identifier: int
    chain_id: int
    nonce: int
    token_network_address: str
    channel_identifier: int
    transferred_amount: int
    locked_amount: int
    locksroot: bytes
    token: str
    recipient: str
    target: str
    initiator: str
    lock: Lock
    metadata: dict
    # The message hash, computed once per object (so the metadata is hashed once). Not part of
    # equality; ``replace`` starts a copy without it. Do not mutate ``metadata`` in place.
    _message_hash: bytes | None = field(default=None, init=False, repr=False, compare=False)
    signature: bytes = b""

    CMDID: ClassVar[int]
    _HASHES_METADATA: ClassVar[bool]
    _WIRE: ClassVar[_Wire] = _wire(
        ("message_identifier", _U64),
        ("payment_identifier", _U64),
        *_BALANCE_PROOF_WIRE,
        ("token", _ADDRESS),
        ("recipient", _ADDRESS),
        ("target", _ADDRESS),
        ("initiator", _ADDRESS),
        ("lock", _LOCK),
        ("metadata", _OBJECT),
    )

    def message_hash(self) -> bytes:
        cached = self._message_hash
        if cached is not None:
            return cached
        lock = self.lock
        data = (
            bytes((self.CMDID,))
            + _u64(self.message_identifier)
            + _u64(self.payment_identifier)
            + _u256(lock.expiration)
            + _raw(self.token)
            + _raw(self.recipient)
            + _raw(self.target)
            + _raw(self.initiator)
            + lock.secrethash
            + _u256(lock.amount)
        )
        if self._HASHES_METADATA:
            try:
                data += metadata_hash(self.metadata)
            except (TypeError, ValueError, RecursionError) as exc:
                raise InvalidMessage(f"{self.TYPE}: metadata has no canonical JSON form: {exc}") from None
        cached = keccak256(data)
        object.__setattr__(self, "_message_hash", cached)
        return cached

    def signed(self, signer) -> Self:
        message = replace(self, signature=signer.sign(self.data_to_sign()))
        object.__setattr__(message, "_message_hash", self._message_hash)  # same fields, same hash
        return message


@dataclass(frozen=True, slots=True)
class LockedTransfer(_TransferBase):
    """A new lock for the recipient, with the route ``metadata`` (kept verbatim, part of the hash)."""

    TYPE: ClassVar[str] = "LockedTransfer"
    CMDID: ClassVar[int] = 7
    _HASHES_METADATA: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class RefundTransfer(_TransferBase):
    """Legacy refund of a LockedTransfer (same fields; its hash omits the metadata)."""

    TYPE: ClassVar[str] = "RefundTransfer"
    CMDID: ClassVar[int] = 8
    _HASHES_METADATA: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class Unlock(_EnvelopeMessage):
    """Removes the lock of ``sha256(secret)`` and adds its amount to ``transferred_amount``."""

    message_identifier: int
    payment_identifier: int
    chain_id: int
    nonce: int
    token_network_address: str
    channel_identifier: int
    transferred_amount: int
    locked_amount: int
    locksroot: bytes
    secret: bytes
    signature: bytes = b""

    TYPE: ClassVar[str] = "Unlock"
    _WIRE: ClassVar[_Wire] = _wire(
        ("message_identifier", _U64),
        ("payment_identifier", _U64),
        *_BALANCE_PROOF_WIRE,
        ("secret", _BYTES32),
    )

    @property
    def secrethash(self) -> bytes:
        return sha256(self.secret)

    def message_hash(self) -> bytes:
        return keccak256(b"\x04" + _u64(self.message_identifier) + _u64(self.payment_identifier) + self.secret)


@dataclass(frozen=True, slots=True)
class LockExpired(_EnvelopeMessage):
    """Removes the expired lock of ``secrethash`` from the sender's pending locks."""

    message_identifier: int
    chain_id: int
    nonce: int
    token_network_address: str
    channel_identifier: int
    transferred_amount: int
    locked_amount: int
    locksroot: bytes
    recipient: str
    secrethash: bytes
    signature: bytes = b""

    TYPE: ClassVar[str] = "LockExpired"
    _WIRE: ClassVar[_Wire] = _wire(
        ("message_identifier", _U64),
        *_BALANCE_PROOF_WIRE,
        ("recipient", _ADDRESS),
        ("secrethash", _BYTES32),
    )

    def message_hash(self) -> bytes:
        return keccak256(b"\x0d" + _u64(self.message_identifier) + _raw(self.recipient) + self.secrethash)


# --- messages without a balance proof --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretRequest(_SignedMessage):
    message_identifier: int
    payment_identifier: int
    secrethash: bytes
    amount: int
    expiration: int
    signature: bytes = b""

    TYPE: ClassVar[str] = "SecretRequest"
    _WIRE: ClassVar[_Wire] = _wire(
        ("message_identifier", _U64),
        ("payment_identifier", _U64),
        ("secrethash", _BYTES32),
        ("amount", _U256),
        ("expiration", _U256),
    )

    def data_to_sign(self) -> bytes:
        return (
            b"\x03\x00\x00\x00"
            + _u64(self.message_identifier)
            + _u64(self.payment_identifier)
            + self.secrethash
            + _u256(self.amount)
            + _u256(self.expiration)
        )


@dataclass(frozen=True, slots=True)
class RevealSecret(_SignedMessage):
    message_identifier: int
    secret: bytes
    signature: bytes = b""

    TYPE: ClassVar[str] = "RevealSecret"
    _WIRE: ClassVar[_Wire] = _wire(("message_identifier", _U64), ("secret", _BYTES32))

    @property
    def secrethash(self) -> bytes:
        return sha256(self.secret)

    def data_to_sign(self) -> bytes:
        return b"\x0b\x00\x00\x00" + _u64(self.message_identifier) + self.secret


@dataclass(frozen=True, slots=True)
class Processed(_SignedMessage):
    message_identifier: int
    signature: bytes = b""

    TYPE: ClassVar[str] = "Processed"
    _WIRE: ClassVar[_Wire] = _wire(("message_identifier", _U64))

    def data_to_sign(self) -> bytes:
        return b"\x00\x00\x00\x00" + _u64(self.message_identifier)


@dataclass(frozen=True, slots=True)
class Delivered(_SignedMessage):
    delivered_message_identifier: int
    signature: bytes = b""

    TYPE: ClassVar[str] = "Delivered"
    _WIRE: ClassVar[_Wire] = _wire(("delivered_message_identifier", _U64))

    def data_to_sign(self) -> bytes:
        return b"\x0c\x00\x00\x00" + _u64(self.delivered_message_identifier)


_WITHDRAW_WIRE = (
    ("message_identifier", _U64),
    ("chain_id", _U256),
    ("token_network_address", _ADDRESS),
    ("channel_identifier", _U256),
    ("participant", _ADDRESS),
    ("total_withdraw", _U256),
    ("nonce", _U64),
    ("expiration", _U256),
)


class _WithdrawMessage(_SignedMessage):
    __slots__ = ()

    chain_id: int
    token_network_address: str
    channel_identifier: int
    participant: str
    total_withdraw: int
    expiration: int

    def data_to_sign(self) -> bytes:
        """The 200-byte withdraw message of spec 2.5: the signature is the on-chain one."""
        return pack_withdraw(
            _raw(self.token_network_address),
            self.chain_id,
            self.channel_identifier,
            _raw(self.participant),
            self.total_withdraw,
            self.expiration,
        )


@dataclass(frozen=True, slots=True)
class WithdrawRequest(_WithdrawMessage):
    """``participant`` (the sender) asks its partner to co-sign a new ``total_withdraw``.

    Its signature is the on-chain ``participant_signature``; ``coop_settle`` is not signed.
    """

    message_identifier: int
    chain_id: int
    token_network_address: str
    channel_identifier: int
    participant: str
    total_withdraw: int
    nonce: int
    expiration: int
    coop_settle: bool = False
    signature: bytes = b""

    TYPE: ClassVar[str] = "WithdrawRequest"
    _WIRE: ClassVar[_Wire] = _wire(*_WITHDRAW_WIRE, ("coop_settle", _BOOL))
    _OPTIONAL: ClassVar[dict[str, Any]] = {"coop_settle": False}  # older clients omit it


@dataclass(frozen=True, slots=True)
class WithdrawConfirmation(_WithdrawMessage):
    """The partner's co-signature of a WithdrawRequest (same message id; the on-chain ``partner_signature``)."""

    message_identifier: int
    chain_id: int
    token_network_address: str
    channel_identifier: int
    participant: str
    total_withdraw: int
    nonce: int
    expiration: int
    signature: bytes = b""

    TYPE: ClassVar[str] = "WithdrawConfirmation"
    _WIRE: ClassVar[_Wire] = _wire(*_WITHDRAW_WIRE)


@dataclass(frozen=True, slots=True)
class WithdrawExpired(_SignedMessage):
    """The requester withdraws an expired WithdrawRequest (244 signed bytes, spec 4.2)."""

    message_identifier: int
    chain_id: int
    token_network_address: str
    channel_identifier: int
    participant: str
    total_withdraw: int
    expiration: int
    nonce: int
    signature: bytes = b""

    TYPE: ClassVar[str] = "WithdrawExpired"
    _WIRE: ClassVar[_Wire] = _wire(
        ("message_identifier", _U64),
        ("chain_id", _U256),
        ("token_network_address", _ADDRESS),
        ("channel_identifier", _U256),
        ("participant", _ADDRESS),
        ("total_withdraw", _U256),
        ("expiration", _U256),
        ("nonce", _U64),
    )

    def data_to_sign(self) -> bytes:
        return (
            b"\x11\x00\x00\x00"
            + _u256(self.nonce)
            + _u64(self.message_identifier)
            + _raw(self.token_network_address)
            + _u256(self.chain_id)
            + _WITHDRAW_WORD
            + _u256(self.channel_identifier)
            + _raw(self.participant)
            + _u256(self.total_withdraw)
            + _u256(self.expiration)
        )


@dataclass(frozen=True, slots=True)
class Ping(_SignedMessage):
    nonce: int
    current_protocol_version: int
    signature: bytes = b""

    TYPE: ClassVar[str] = "Ping"
    _WIRE: ClassVar[_Wire] = _wire(("nonce", _U64), ("current_protocol_version", _U8))

    def data_to_sign(self) -> bytes:
        return b"\x01\x00\x00\x00" + _u64(self.nonce) + bytes((self.current_protocol_version,))


@dataclass(frozen=True, slots=True)
class Pong(_SignedMessage):
    nonce: int
    signature: bytes = b""

    TYPE: ClassVar[str] = "Pong"
    _WIRE: ClassVar[_Wire] = _wire(("nonce", _U64))

    def data_to_sign(self) -> bytes:
        return b"\x02\x00\x00\x00" + _u64(self.nonce)


# --- service messages (spec 4.10) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PFSCapacityUpdate(_SignedMessage):
    """A channel's capacities as one participant sees them, sent to path-finding services.

    On the wire the first three fields are nested as ``canonical_identifier``
    ``{"chain_identifier", "token_network_address", "channel_identifier"}``. Not acknowledged.
    """

    chain_id: int
    token_network_address: str
    channel_identifier: int
    updating_participant: str
    other_participant: str
    updating_nonce: int
    other_nonce: int
    updating_capacity: int
    other_capacity: int
    reveal_timeout: int
    signature: bytes = b""

    TYPE: ClassVar[str] = "PFSCapacityUpdate"
    _WIRE: ClassVar[_Wire] = _wire(
        ("updating_participant", _ADDRESS),
        ("other_participant", _ADDRESS),
        ("updating_nonce", _U64),
        ("other_nonce", _U64),
        ("updating_capacity", _U256),
        ("other_capacity", _U256),
        ("reveal_timeout", _U256),
    )

    def data_to_sign(self) -> bytes:
        return (
            _u256(self.chain_id)
            + _raw(self.token_network_address)
            + _u256(self.channel_identifier)
            + _raw(self.updating_participant)
            + _raw(self.other_participant)
            + _u64(self.updating_nonce)
            + _u64(self.other_nonce)
            + _u256(self.updating_capacity)
            + _u256(self.other_capacity)
            + _u256(self.reveal_timeout)
        )

    def to_dict(self) -> dict:
        data: dict[str, Any] = {
            "type": self.TYPE,
            "canonical_identifier": {
                "chain_identifier": str(self.chain_id),
                "token_network_address": self.token_network_address.lower(),
                "channel_identifier": str(self.channel_identifier),
            },
        }
        for key, _, encode in self._WIRE:
            data[key] = encode(getattr(self, key))
        data["signature"] = "0x" + self.signature.hex()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        key = "canonical_identifier"
        canonical = _dec_object(_get(data, key, cls.TYPE), key)
        chain_id = _dec_u256(_get(canonical, "chain_identifier", key), "canonical_identifier.chain_identifier")
        token_network_address = _dec_address(
            _get(canonical, "token_network_address", key), "canonical_identifier.token_network_address"
        )
        channel_identifier = _dec_u256(
            _get(canonical, "channel_identifier", key), "canonical_identifier.channel_identifier"
        )
        values = [decode(_get(data, name, cls.TYPE), name) for name, decode, _ in cls._WIRE]
        signature = _dec_signature(_get(data, "signature", cls.TYPE), "signature")
        return cls(chain_id, token_network_address, channel_identifier, *values, signature=signature)


# --- dispatch --------------------------------------------------------------------------------------

Message = Union[  # noqa: UP007 - a runtime alias usable with isinstance and in annotations
    LockedTransfer,
    RefundTransfer,
    Unlock,
    LockExpired,
    SecretRequest,
    RevealSecret,
    Processed,
    Delivered,
    WithdrawRequest,
    WithdrawConfirmation,
    WithdrawExpired,
    Ping,
    Pong,
    PFSCapacityUpdate,
]
EnvelopeMessage = Union[LockedTransfer, RefundTransfer, Unlock, LockExpired]  # noqa: UP007

MESSAGE_CLASSES: tuple[type, ...] = Message.__args__
ENVELOPE_CLASSES: tuple[type, ...] = EnvelopeMessage.__args__
_BY_TYPE: dict[str, Any] = {cls.TYPE: cls for cls in MESSAGE_CLASSES}


def message_from_dict(data: dict) -> Message:
    """Decode one JSON message object (as ``json.loads`` returns it), dispatching on ``type``.

    Accepts addresses in any case and integers as decimal strings or JSON numbers; returns EIP-55
    addresses, ``int`` and ``bytes``. Unknown keys are ignored, except inside ``metadata``, which is
    kept as received. Raises :class:`InvalidMessage` (:class:`UnknownMessageType` for a ``type``
    this module does not implement) on anything malformed. The signature is not verified here:
    call :meth:`sender`.
    """
    if type(data) is not dict:
        raise InvalidMessage(f"a message is a JSON object, got {_short(data)}")
    kind = data.get("type")
    cls = _BY_TYPE.get(kind) if type(kind) is str else None
    if cls is None:
        if type(kind) is str:
            raise UnknownMessageType(f"unknown message type {_short(kind)}")
        raise InvalidMessage(f"missing or bad message type {_short(kind)}")
    return cls.from_dict(data)


def message_to_json(message: Message) -> str:
    """Compact single-line JSON of the wire form (one line of a transport body)."""
    return json.dumps(message.to_dict(), separators=(",", ":"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# The deepest JSON nesting accepted from a peer. Real messages nest about 7 levels (LockedTransfer
# metadata). The bound matters: py_ecc (imported by eth_account/web3) raises the recursion limit to
# 100,000, and then json.loads of a deeply nested body overflows the C stack and kills the process
# (a segfault, not a RecursionError) -- one line from any Matrix user would stop every hosted node.
MAX_JSON_DEPTH = 64


def _too_deep(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:  # fast path: cannot be deeper than that
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "[" or char == "{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif char == "]" or char == "}":
            depth -= 1
    return False


def message_from_json(text: str | bytes) -> Message:
    """Decode one JSON message (one line of a transport body); see :func:`message_from_dict`.

    Untrusted input belongs here rather than in ``json.loads`` + :func:`message_from_dict`: this
    also rejects NaN/Infinity and nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(f"not UTF-8: {exc}") from None
    elif type(text) is not str:
        raise InvalidMessage(f"a message is JSON text, got {_short(text)}")
    if _too_deep(text):
        raise InvalidMessage(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    return message_from_dict(data)
