"""Key custody: rotating the encryption of stored keys, and Ethereum keystore import and export.

Keys are stored encrypted (``keys.py``: Fernet, keys from RAIDEN_KEY_ENCRYPTION_KEYS). Here:

* ``keys_rotate`` re-encrypts stored keys with the current (first) encryption key, so that the
  older encryption keys can be removed from the environment afterwards;
* ``keystore_export`` turns a node's key into an Ethereum keystore v3 JSON (the format of geth,
  MetaMask, MyCrypto, eth_account), encrypted with a password;
* ``keystore_import`` makes a node from such a keystore.

Plaintext key bytes live only in local variables of these functions, for the time of one call;
they are never logged, returned or put in an exception message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from eth_account import Account

from raidennode.protocol.addresses import to_checksum_address

from . import keys
from .models import Node
from .services import node_create

logger = logging.getLogger(__name__)

ROTATE_BATCH_SIZE = 100
Kdf = Literal["scrypt", "pbkdf2"]
KDFS: tuple[str, ...] = ("scrypt", "pbkdf2")
# An imported keystore chooses its own KDF cost; these bounds keep a hostile or broken file from
# taking gigabytes of memory or hours of CPU. They are far above what wallets write (geth's
# standard scrypt is n=2**18, r=8, p=1; eth_account's pbkdf2 is 1,000,000 iterations).
SCRYPT_MAX_N = 2**20
SCRYPT_MAX_R = 16
SCRYPT_MAX_P = 16
PBKDF2_MAX_ITERATIONS = 10_000_000
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class CustodyError(Exception):
    """A key custody operation failed; the message says why (and never contains key material)."""


class KeystoreFormatError(CustodyError):
    """The keystore is not an Ethereum keystore v3 JSON this node can read."""


class KeystorePasswordError(CustodyError):
    """The password does not decrypt the keystore (or the keystore's ciphertext is corrupted)."""


class NodeExistsError(CustodyError):
    """A node with the keystore's address already exists in this deployment."""


def _current_fernet() -> Fernet:
    """The encryption key new writes use: the first entry of RAIDEN_KEY_ENCRYPTION_KEYS."""
    first = next(k.strip() for k in settings.RAIDEN_KEY_ENCRYPTION_KEYS.split(",") if k.strip())
    return Fernet(first.encode())


def _is_current(fernet: Fernet, token: str) -> bool:
    try:
        fernet.decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


def keys_rotate(
    nodes: QuerySet[Node] | None = None,
    *,
    batch_size: int = ROTATE_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-encrypts stored private keys with the current (first) encryption key; returns how many.

    Every node's key (or those of ``nodes``) that is not encrypted with the first key of
    RAIDEN_KEY_ENCRYPTION_KEYS already is decrypted with whichever configured key decrypts it and
    encrypted again with the first one. Rows are handled in batches of ``batch_size`` in
    primary key order, each batch in one transaction holding the rows' locks
    (``select_for_update``), so a concurrent writer never loses an update and a crash leaves every
    row readable. Idempotent: a second run finds nothing to do and returns 0. ``progress``, if
    given, is called after each batch with (keys re-encrypted so far, keys examined so far).

    Raises ``keys.KeyDecryptionError`` (naming the node) when no configured key decrypts a stored
    key; batches finished before it stay committed, and a later run goes on from there.
    Raises ``ImproperlyConfigured`` when RAIDEN_KEY_ENCRYPTION_KEYS is not a list of Fernet keys.
    """
    keys.cipher()  # ImproperlyConfigured early for a malformed setting
    current = _current_fernet()
    # by primary key, so that a caller's queryset (ordering, select_related) cannot get in the way
    queryset = Node.objects.all() if nodes is None else Node.objects.filter(pk__in=nodes.values("pk"))
    rotated = examined = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                queryset.select_for_update()
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "address", "encrypted_key")[:batch_size]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            examined += len(batch)
            changed = []
            for node in batch:
                if _is_current(current, node.encrypted_key):
                    continue
                try:
                    node.encrypted_key = keys.private_key_reencrypt(node.encrypted_key)
                except InvalidToken as exc:
                    raise keys.KeyDecryptionError(
                        f"no configured RAIDEN_KEY_ENCRYPTION_KEYS entry decrypts the key of node {node.address}"
                    ) from exc
                changed.append(node)
            if changed:
                Node.objects.bulk_update(changed, ["encrypted_key"])
            rotated += len(changed)
        logger.info("re-encrypted %d of %d key(s) examined so far", rotated, examined)
        if progress is not None:
            progress(rotated, examined)
    logger.info("key rotation done: %d of %d key(s) re-encrypted with the current encryption key", rotated, examined)
    return rotated


def keystore_export(node: Node, password: str, *, kdf: Kdf = "scrypt", iterations: int | None = None) -> dict[str, Any]:
    """The node's key as an Ethereum keystore v3 JSON object, encrypted with ``password``.

    ``kdf`` is "scrypt" (the default, as geth) or "pbkdf2"; ``iterations`` overrides the KDF's
    work factor (scrypt's n, a power of two; pbkdf2's count), eth_account's default otherwise.

    Raises ``CustodyError`` for an empty password or an unknown kdf, ``keys.KeyDecryptionError``
    when no configured encryption key decrypts the stored key.
    """
    if not password:
        raise CustodyError("an empty password would export the key unprotected; give a password")
    if kdf not in KDFS:
        raise CustodyError(f"kdf must be one of {', '.join(KDFS)}, not {kdf!r}")
    if iterations is not None and iterations < 1:
        raise CustodyError("iterations must be a positive number")
    private_key = keys.private_key_decrypt(node.encrypted_key)
    try:
        keystore = Account.encrypt(private_key, password, kdf=kdf, iterations=iterations)
    except (ValueError, TypeError) as exc:
        # e.g. a scrypt n that is not a power of two; eth_account's messages hold no key material
        raise CustodyError(f"cannot encrypt the keystore: {exc}") from None
    logger.info("exported the key of node %s as a keystore (%s)", node.address, kdf)
    return keystore


def _keystore_check(keystore: Any) -> dict[str, Any]:
    """The keystore with lower-cased top-level keys, or KeystoreFormatError saying what is wrong."""
    if not isinstance(keystore, dict):
        raise KeystoreFormatError("a keystore is a JSON object")
    normalized = {str(k).lower(): v for k, v in keystore.items()}
    if normalized.get("version") != 3:
        raise KeystoreFormatError(f"only keystore version 3 is supported, not {normalized.get('version')!r}")
    crypto = normalized.get("crypto")
    if not isinstance(crypto, dict):
        raise KeystoreFormatError("the keystore has no 'crypto' object")
    for name in ("cipher", "ciphertext", "cipherparams", "kdf", "kdfparams", "mac"):
        if name not in crypto:
            raise KeystoreFormatError(f"the keystore's crypto has no {name!r}")
    if crypto["cipher"] != "aes-128-ctr":
        raise KeystoreFormatError(f"unsupported cipher {crypto['cipher']!r} (only aes-128-ctr)")
    params = crypto["kdfparams"]
    if not isinstance(params, dict) or not isinstance(crypto["cipherparams"], dict):
        raise KeystoreFormatError("the keystore's kdfparams and cipherparams must be objects")
    kdf = crypto["kdf"]
    try:
        if kdf == "scrypt":
            n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
            if not (1 < n <= SCRYPT_MAX_N and 0 < r <= SCRYPT_MAX_R and 0 < p <= SCRYPT_MAX_P):
                raise KeystoreFormatError(
                    f"scrypt parameters out of range (n <= {SCRYPT_MAX_N}, r <= {SCRYPT_MAX_R}, p <= {SCRYPT_MAX_P})"
                )
        elif kdf == "pbkdf2":
            if not 0 < int(params["c"]) <= PBKDF2_MAX_ITERATIONS:
                raise KeystoreFormatError(f"pbkdf2 iterations out of range (at most {PBKDF2_MAX_ITERATIONS})")
        else:
            raise KeystoreFormatError(f"unsupported kdf {kdf!r} (scrypt or pbkdf2)")
    except (KeyError, TypeError, ValueError) as exc:
        raise KeystoreFormatError(f"the keystore's {kdf} parameters are incomplete or malformed: {exc}") from exc
    return normalized


def keystore_import(keystore: dict[str, Any], password: str, *, owner=None, name: str = "") -> Node:
    """A new node whose key is the one in an Ethereum keystore v3 JSON object.

    The key is decrypted with ``password`` and stored encrypted with the current encryption key
    (``services.node_create``).

    Raises ``KeystoreFormatError`` for a malformed or unsupported keystore (also when its
    ``address`` field is not the address of its key), ``KeystorePasswordError`` when the password
    does not decrypt it, ``NodeExistsError`` when a node with that address exists already.
    """
    normalized = _keystore_check(keystore)
    try:
        private_key = bytes(Account.decrypt(normalized, password))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise KeystorePasswordError(
                "the password does not decrypt this keystore (or its ciphertext is corrupted)"
            ) from None
        raise KeystoreFormatError(f"the keystore cannot be read: {exc}") from None
    except (KeyError, TypeError, AssertionError, NotImplementedError) as exc:
        raise KeystoreFormatError(f"the keystore cannot be read: {type(exc).__name__} {exc}") from None
    # `from None` above: no traceback of eth_keyfile's internals (frames that held derived keys).
    if len(private_key) != 32 or not 0 < int.from_bytes(private_key, "big") < _SECP256K1_N:
        raise KeystoreFormatError("the keystore does not hold a valid secp256k1 private key")
    address = to_checksum_address(keys.address_of(private_key))
    stated = normalized.get("address")
    if stated and str(stated).lower().removeprefix("0x") != address.lower().removeprefix("0x"):
        raise KeystoreFormatError(f"the keystore's address field {stated!r} is not the address of its key {address}")
    try:
        node = node_create(owner=owner, name=name, private_key=private_key)
    except (ValueError, IntegrityError):
        # ValueError: node_create found the address; IntegrityError: a concurrent import won the race
        raise NodeExistsError(f"a node with address {address} already exists") from None
    logger.info("imported node %s from a keystore", node.address)
    return node


KEYSTORE_PASSWORD_ENV = "RAIDEN_KEYSTORE_PASSWORD"


def keystore_password(password_file: str | None) -> str:
    """The keystore password for the management commands: from a file, else the environment.

    The file's content is the password, without one trailing newline (as ``echo`` writes it);
    without a file, the environment variable RAIDEN_KEYSTORE_PASSWORD is read. A password is never
    taken from the command line, where ``ps`` and shell histories would show it.

    Raises ``CustodyError`` when the file cannot be read or neither source gives a password.
    """
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as f:
                password = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CustodyError(f"cannot read the password file {password_file}: {exc}") from None
        password = password.removesuffix("\n").removesuffix("\r")
        if not password:
            raise CustodyError(f"the password file {password_file} is empty")
        return password
    password = os.environ.get(KEYSTORE_PASSWORD_ENV, "")
    if not password:
        raise CustodyError(f"give the keystore password with --password-file or the {KEYSTORE_PASSWORD_ENV} variable")
    return password
