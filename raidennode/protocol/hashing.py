"""Hash functions: keccak256 everywhere, sha256 for secret hashes."""

import hashlib

try:  # safe-pysha3 is about 5x faster than the pure fallbacks
    from sha3 import keccak_256 as _keccak_256

    def keccak256(data: bytes) -> bytes:
        return _keccak_256(data).digest()

except ImportError:  # pragma: no cover - the requirements install safe-pysha3
    from Crypto.Hash import keccak as _keccak

    def keccak256(data: bytes) -> bytes:
        return _keccak.new(data=data, digest_bits=256).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def secrethash(secret: bytes) -> bytes:
    """Raiden's secret hash is sha256 (not keccak), as SecretRegistry computes it."""
    return hashlib.sha256(secret).digest()
