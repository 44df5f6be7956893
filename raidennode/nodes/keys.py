"""Private keys at rest: Fernet encryption with keys from the environment, with rotation.

RAIDEN_KEY_ENCRYPTION_KEYS is a comma-separated list of Fernet keys. The first one encrypts new
keys; every one of them decrypts (MultiFernet), so a new key is put first and the old ones are
kept until ``manage.py rotatekeys`` (``custody.keys_rotate``) has re-encrypted every stored key
(docs/operations.md, "Key custody").

Plaintext keys are handled only here, in ``services`` (inside a NodeAccount, which signs) and in
``custody`` (keystore import and export, as local variables for one call); they are never logged,
returned as a string or shown.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from raidennode.protocol.signing import Signer


class KeyDecryptionError(Exception):
    """No configured key decrypts a stored private key."""


@lru_cache(maxsize=8)
def _cipher(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "RAIDEN_KEY_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from exc


def cipher() -> MultiFernet:
    return _cipher(settings.RAIDEN_KEY_ENCRYPTION_KEYS)


def private_key_generate() -> bytes:
    while True:
        key = secrets.token_bytes(32)
        # valid secp256k1 scalars are 1 .. n-1
        if 0 < int.from_bytes(key, "big") < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141:
            return key


def private_key_encrypt(private_key: bytes) -> str:
    return cipher().encrypt(private_key).decode("ascii")


def private_key_decrypt(token: str) -> bytes:
    try:
        return cipher().decrypt(token.encode("ascii"))
    except InvalidToken as exc:
        raise KeyDecryptionError("no configured RAIDEN_KEY_ENCRYPTION_KEYS entry decrypts this key") from exc


def private_key_reencrypt(token: str) -> str:
    """The same key encrypted with the current (first) encryption key."""
    return cipher().rotate(token.encode("ascii")).decode("ascii")


def address_of(private_key: bytes) -> bytes:
    return Signer(private_key).address
