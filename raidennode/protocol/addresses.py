"""Ethereum addresses: EIP-55 checksums and conversions between hex and the 20 raw bytes."""

from functools import lru_cache

from .hashing import keccak256

_HEX = frozenset("0123456789abcdefABCDEF")


@lru_cache(maxsize=65536)
def to_checksum_address(address: str | bytes) -> str:
    """EIP-55 form of a 20-byte address given as raw bytes or hex (any case)."""
    if isinstance(address, (bytes, bytearray)):
        if len(address) != 20:
            raise ValueError("an address is 20 bytes")
        lower = address.hex()
    else:
        if not address.startswith(("0x", "0X")) or len(address) != 42 or not _HEX.issuperset(address[2:]):
            raise ValueError(f"not a hex address: {address!r}")
        lower = address[2:].lower()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(lower, digest))


def is_checksum_address(value: object) -> bool:
    """True for a 0x-prefixed 40-hex-digit string in exact EIP-55 mixed case."""
    if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
        return False
    if not _HEX.issuperset(value[2:]):
        return False
    return to_checksum_address(value) == value


def address_to_bytes(address: str | bytes) -> bytes:
    if isinstance(address, (bytes, bytearray)):
        if len(address) != 20:
            raise ValueError("an address is 20 bytes")
        return bytes(address)
    if not address.startswith(("0x", "0X")) or len(address) != 42:
        raise ValueError(f"not a hex address: {address!r}")
    return bytes.fromhex(address[2:])
