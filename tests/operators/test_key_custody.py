"""Key custody: encryption at rest with rotation, Ethereum keystore import and export, and no
plaintext key in the database (a real pg_dump), the logs, the admin or the API."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import stat
import subprocess

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from eth_account import Account

from raidennode.nodes.custody import (
    CustodyError,
    KeystoreFormatError,
    KeystorePasswordError,
    NodeExistsError,
    keys_rotate,
    keystore_export,
    keystore_import,
)
from raidennode.nodes.keys import KeyDecryptionError, private_key_decrypt
from raidennode.nodes.models import Node
from raidennode.nodes.services import node_account, node_create
from raidennode.protocol.addresses import to_checksum_address
from raidennode.protocol.signing import recover

pytestmark = pytest.mark.django_db(transaction=True)

KEY_1 = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
KEY_2 = bytes.fromhex("b25c7db31feed9122727bf0939dc769a96564b2de4c4726d035b36ecf1e5b364")
KEY_3 = bytes.fromhex("0000000000000000000000000000000000000000000000000000000000c0ffee")
# A cheap scrypt work factor keeps the tests fast; the default (2**18) is exercised once.
FAST_SCRYPT = 2**10
# The Web3 Secret Storage Definition's test vectors (PBKDF2-SHA-256 and scrypt), password "testpassword".
SPEC_KEY = bytes.fromhex("7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d")
SPEC_PBKDF2 = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {
            "c": 262144,
            "dklen": 32,
            "prf": "hmac-sha256",
            "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
        },
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
SPEC_SCRYPT = {
    "Crypto": {  # geth's older capitalisation
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
        "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
        "kdf": "scrypt",
        "kdfparams": {
            "dklen": 32,
            "n": 262144,
            "r": 1,
            "p": 8,
            "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19",
        },
        "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}


def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue().strip()


def address(private_key: bytes) -> str:
    return Account.from_key(private_key).address


def assert_signs(node: Node) -> None:
    """The node's stored key decrypts and signs for the node's address."""
    message = b"key custody " + node.address.encode()
    signature = node_account(node).sign_message(message)
    assert to_checksum_address(recover(message, signature)) == node.address


def text_forms(private_key: bytes) -> list[str]:
    """The ways a key could show up in text: hex (both cases, with and without 0x), base64."""
    hex_ = private_key.hex()
    forms = [hex_, hex_.upper(), "0x" + hex_, "0X" + hex_.upper(), "0x" + hex_.upper()]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.append(encode(private_key).decode())
        forms.append(encode(private_key).decode().rstrip("="))
        # the key inside a longer base64 stream, at each of the three alignments: the characters
        # that depend on the key's bytes only (the first and last groups mix in other bytes)
        for offset in (0, 1, 2):
            encoded = encode(b"\0" * offset + private_key + b"\0\0\0").decode()
            forms.append(encoded[4 if offset else 0 : -8])
    return forms


def assert_absent(haystack: bytes | str, private_key: bytes, where: str) -> None:
    if isinstance(haystack, bytes):
        assert private_key not in haystack, f"{where} holds the raw key bytes"
        haystack = haystack.decode("utf-8", errors="replace")
    for form in text_forms(private_key):
        assert form not in haystack, f"{where} holds the key ({form[:6]}...)"
    assert repr(private_key) not in haystack, f"{where} holds the key's repr"


@pytest.fixture
def fernet_keys(settings):
    """Two fresh encryption keys, A and B; the deployment starts with A only."""
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = a
    return a, b


# --- rotation ------------------------------------------------------------------------------------


def test_rotation_moves_every_key_to_the_new_encryption_key(settings, fernet_keys):
    a, b = fernet_keys
    old_nodes = [node_create(private_key=k) for k in (KEY_1, KEY_2, KEY_3)] + [node_create(name="generated")]
    tokens_under_a = {n.pk: n.encrypted_key for n in old_nodes}

    # the new key first, the old one kept: old keys still decrypt, new writes use the new key
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = f"{b},{a}"
    for node in old_nodes:
        assert_signs(node)
    new_node = node_create(name="after the new key")
    Fernet(b.encode()).decrypt(new_node.encrypted_key.encode())

    out = run("rotatekeys", "--batch-size", "2")
    lines = out.splitlines()
    assert lines[-1] == "re-encrypted 4 of 5 key(s) with the current encryption key"
    assert lines[:-1] == [
        "re-encrypted 2 of 2 key(s) examined so far",
        "re-encrypted 4 of 4 key(s) examined so far",
        "re-encrypted 4 of 5 key(s) examined so far",
    ]
    # idempotent: nothing left to do, nothing written
    before = dict(Node.objects.values_list("pk", "encrypted_key"))
    assert run("rotatekeys").endswith(
        "re-encrypted 0 of 5 key(s) with the current encryption key (all were current already)"
    )
    assert dict(Node.objects.values_list("pk", "encrypted_key")) == before
    assert keys_rotate() == 0

    nodes = list(Node.objects.order_by("pk"))
    assert all(n.encrypted_key != tokens_under_a[n.pk] for n in nodes if n.pk in tokens_under_a)
    # the old key removed: every node still decrypts and signs, with the same key as before
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = b
    for node in nodes:
        assert_signs(node)
    assert [private_key_decrypt(n.encrypted_key) for n in nodes[:3]] == [KEY_1, KEY_2, KEY_3]
    # only the new key decrypts now
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = a
    for node in nodes:
        with pytest.raises(KeyDecryptionError):
            private_key_decrypt(node.encrypted_key)
        with pytest.raises(KeyDecryptionError):
            node_account(node)


def test_rotation_names_a_key_that_no_configured_key_decrypts(settings, fernet_keys):
    a, b = fernet_keys
    first = node_create(private_key=KEY_1)
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = b
    second = node_create(private_key=KEY_2)
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = f"{Fernet.generate_key().decode()},{b}"  # A is lost
    with pytest.raises(CommandError, match=f"decrypts the key of node {first.address}"):
        run("rotatekeys")
    # the batch holding the undecryptable key rolled back as a whole
    second.refresh_from_db()
    Fernet(b.encode()).decrypt(second.encrypted_key.encode())
    with pytest.raises(KeyDecryptionError):
        keys_rotate()


# --- keystore import and export ------------------------------------------------------------------


def test_keystore_export_and_import_round_trip(fernet_keys):
    node = node_create(private_key=KEY_1, name="alice")
    keystore = keystore_export(node, "correct horse", iterations=FAST_SCRYPT)
    assert keystore["version"] == 3 and keystore["crypto"]["kdf"] == "scrypt"
    assert keystore["address"].lower() == node.address[2:].lower()
    assert KEY_1.hex() not in json.dumps(keystore)
    # a standard keystore: other tools read it
    assert bytes(Account.decrypt(keystore, "correct horse")) == KEY_1

    with pytest.raises(NodeExistsError, match=f"a node with address {node.address} already exists"):
        keystore_import(keystore, "correct horse")
    node.delete()
    owner = get_user_model().objects.create_user("carol")
    imported = keystore_import(keystore, "correct horse", owner=owner, name="imported")
    assert (imported.address, imported.owner, imported.name) == (node.address, owner, "imported")
    assert private_key_decrypt(imported.encrypted_key) == KEY_1
    assert_signs(imported)

    with pytest.raises(KeystorePasswordError, match="password does not decrypt"):
        keystore_import(keystore, "wrong horse")
    pbkdf2 = keystore_export(imported, "pw", kdf="pbkdf2", iterations=1000)
    assert pbkdf2["crypto"]["kdf"] == "pbkdf2" and pbkdf2["crypto"]["kdfparams"]["c"] == 1000
    assert bytes(Account.decrypt(pbkdf2, "pw")) == KEY_1
    default = keystore_export(imported, "pw")  # eth_account's (and geth's) standard scrypt cost
    assert default["crypto"]["kdfparams"]["n"] == 2**18
    with pytest.raises(CustodyError, match="empty password"):
        keystore_export(imported, "")
    with pytest.raises(CustodyError, match="kdf must be"):
        keystore_export(imported, "pw", kdf="md5")


def test_keystore_import_reads_the_spec_vectors_and_refuses_bad_keystores(fernet_keys):
    node = keystore_import(SPEC_PBKDF2, "testpassword")
    assert node.address == address(SPEC_KEY)
    node.delete()
    node = keystore_import(SPEC_SCRYPT, "testpassword")
    assert private_key_decrypt(node.encrypted_key) == SPEC_KEY
    node.delete()

    def broken(change) -> dict:
        keystore = json.loads(json.dumps(SPEC_PBKDF2))
        change(keystore)
        return keystore

    bad = {
        "not an object": [],
        "no crypto": {"version": 3},
        "version 4": broken(lambda k: k.update(version=4)),
        "no mac": broken(lambda k: k["crypto"].pop("mac")),
        "other cipher": broken(lambda k: k["crypto"].update(cipher="aes-256-gcm")),
        "other kdf": broken(lambda k: k["crypto"].update(kdf="argon2")),
        "bad salt": broken(lambda k: k["crypto"]["kdfparams"].update(salt="zz")),
        "no prf": broken(lambda k: k["crypto"]["kdfparams"].pop("prf")),
        "huge pbkdf2": broken(lambda k: k["crypto"]["kdfparams"].update(c=10**9)),
        "huge scrypt": {**SPEC_SCRYPT, "Crypto": {**SPEC_SCRYPT["Crypto"], "kdfparams": {"n": 2**30, "r": 8, "p": 1}}},
        "wrong address": broken(lambda k: k.update(address="00" * 20)),
    }
    for what, keystore in bad.items():
        with pytest.raises(KeystoreFormatError):
            keystore_import(keystore, "testpassword")
            pytest.fail(what)
    # a changed ciphertext fails the MAC like a wrong password does
    with pytest.raises(KeystorePasswordError):
        keystore_import(broken(lambda k: k["crypto"].update(ciphertext="00" * 32)), "testpassword")
    assert not Node.objects.exists()


def test_exportkey_and_importkey_commands(tmp_path, monkeypatch, fernet_keys):
    node = node_create(private_key=KEY_2, name="bob")
    get_user_model().objects.create_user("dave")
    password_file = tmp_path / "password"
    password_file.write_text("s3cret\n")
    keystore_file = tmp_path / "bob.json"

    previous_umask = os.umask(0)  # a permissive umask must not leak into the file's mode
    try:
        out = run(
            "exportkey",
            node.address.lower(),
            "--password-file",
            str(password_file),
            "--output",
            str(keystore_file),
            "--iterations",
            str(FAST_SCRYPT),
        )
    finally:
        os.umask(previous_umask)
    assert out == f"wrote the keystore of {node.address} to {keystore_file}"
    assert stat.S_IMODE(keystore_file.stat().st_mode) == 0o600
    keystore = json.loads(keystore_file.read_text())
    assert bytes(Account.decrypt(keystore, "s3cret")) == KEY_2
    with pytest.raises(CommandError, match="exists already"):
        run("exportkey", node.address, "--password-file", str(password_file), "--output", str(keystore_file))

    # the password from the environment; the keystore on stdout
    monkeypatch.setenv("RAIDEN_KEYSTORE_PASSWORD", "from env")
    printed = json.loads(run("exportkey", node.address, "--kdf", "pbkdf2", "--iterations", "1000"))
    assert bytes(Account.decrypt(printed, "from env")) == KEY_2

    with pytest.raises(CommandError, match="already exists"):
        run("importkey", str(keystore_file), "--password-file", str(password_file))
    node.delete()
    with pytest.raises(CommandError, match="password does not decrypt"):
        run("importkey", str(keystore_file))  # the environment's password is the wrong one
    with pytest.raises(CommandError, match="no user named"):
        run("importkey", str(keystore_file), "--password-file", str(password_file), "--owner", "nobody")
    out = run(
        "importkey", str(keystore_file), "--password-file", str(password_file), "--owner", "dave", "--name", "bob 2"
    )
    assert out == address(KEY_2)
    imported = Node.objects.get(address=out)
    assert (imported.owner.username, imported.name) == ("dave", "bob 2")
    assert_signs(imported)
    imported.delete()
    out = run("importkey", str(tmp_path / "bob.json"), "--password-file", str(password_file))
    assert out == address(KEY_2)

    # clear errors for bad input
    not_json = tmp_path / "not.json"
    not_json.write_text("{nope")
    version_1 = tmp_path / "v1.json"
    version_1.write_text('{"version": 1}')
    monkeypatch.delenv("RAIDEN_KEYSTORE_PASSWORD")
    errors = {
        "not a JSON file": ("importkey", str(not_json), "--password-file", str(password_file)),
        "cannot read": ("importkey", str(tmp_path / "missing.json"), "--password-file", str(password_file)),
        "keystore version 3": ("importkey", str(version_1), "--password-file", str(password_file)),
        "RAIDEN_KEYSTORE_PASSWORD": ("exportkey", out),
        "cannot read the password file": ("exportkey", out, "--password-file", str(tmp_path / "none")),
        "no node with address": ("exportkey", "0x" + "11" * 20, "--password-file", str(password_file)),
        "not an address": ("exportkey", "alice", "--password-file", str(password_file)),
    }
    json_string = tmp_path / "string.json"
    json_string.write_text('"just a string"')
    errors["a keystore is a JSON object"] = ("importkey", str(json_string), "--password-file", str(password_file))
    for message, args in errors.items():
        with pytest.raises(CommandError, match=message):
            run(*args)
    assert not (tmp_path / "none").exists()


# --- no plaintext anywhere -----------------------------------------------------------------------


def pg_dump() -> bytes:
    db = connection.settings_dict
    assert connection.vendor == "postgresql", "the dump test needs PostgreSQL (DATABASE_URL)"
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    command = ["pg_dump", "--no-owner", "--no-privileges", "-h", db["HOST"] or "127.0.0.1"]
    command += ["-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres", db["NAME"]]
    return subprocess.run(command, env=env, check=True, capture_output=True, timeout=120).stdout


@pytest.fixture
def everything_logged(caplog):
    """Every log record at DEBUG, the SQL of every query with its parameters included."""
    for name in (None, "raidennode", "channels_app", "transfers_app", "django", "django.db.backends"):
        caplog.set_level(logging.DEBUG, logger=name)
    previous = connection.force_debug_cursor
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = previous


def test_database_dump_and_logs_never_hold_a_plaintext_key(settings, fernet_keys, everything_logged, tmp_path):
    a, b = fernet_keys
    nodes = [node_create(private_key=k, name=f"n{i}") for i, k in enumerate((KEY_1, KEY_2))]
    keystore = keystore_export(nodes[0], "pw", iterations=FAST_SCRYPT)
    nodes[0].delete()
    nodes[0] = keystore_import(keystore, "pw", name="imported")
    password_file = tmp_path / "pw"
    password_file.write_text("pw")
    run("exportkey", nodes[1].address, "--password-file", str(password_file), "--output", str(tmp_path / "k.json"))
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = f"{b},{a}"
    assert run("rotatekeys").endswith("re-encrypted 2 of 2 key(s) with the current encryption key")
    for node in nodes:
        assert_signs(node)
    stored = list(Node.objects.values_list("address", "encrypted_key"))
    assert len(stored) == 2

    dump = pg_dump()
    # the dump holds the nodes (so the test is not vacuous), their keys only encrypted
    for node_address, encrypted_key in stored:
        assert node_address.encode() in dump and encrypted_key.encode() in dump
    logs = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.args!r}" for r in everything_logged.records)
    assert "INSERT INTO" in logs and "UPDATE" in logs  # SQL was logged, with its parameters
    assert f"imported node {nodes[0].address}" in logs
    for key in (KEY_1, KEY_2):
        assert_absent(dump, key, "the database dump")
        assert_absent(logs, key, "the logs")
        assert_absent(everything_logged.text, key, "the formatted logs")
        assert_absent((tmp_path / "k.json").read_bytes(), key, "the keystore file")


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("keyoperator", "op@example.org", "pw")
    client.force_login(user)
    return user


def test_admin_and_api_never_show_a_key(chain_env, settings, client, operator):
    a = Fernet.generate_key().decode()
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = a
    nodes = [node_create(private_key=k, owner=operator, name=f"n{i}") for i, k in enumerate((KEY_1, KEY_3))]
    changelist = client.get("/admin/nodes/node/").content.decode()
    assert nodes[0].address in changelist and nodes[1].address in changelist
    pages = ["/admin/nodes/node/", "/admin/nodes/node/?q=n1"]
    for node in nodes:
        pages += [f"/admin/nodes/node/{node.pk}/change/", f"/admin/nodes/node/{node.pk}/history/"]
        pages += [f"/admin/nodes/node/{node.pk}/delete/"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for node, key in zip(nodes, (KEY_1, KEY_3)):
            assert_absent(html, key, page)
            assert node.encrypted_key not in html, f"{page} shows an encrypted key"

    # the admin's action re-encrypts the selected nodes' keys
    b = Fernet.generate_key().decode()
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = f"{b},{a}"
    response = client.post(
        "/admin/nodes/node/", {"action": "reencrypt_keys", "_selected_action": [nodes[0].pk]}, follow=True
    )
    assert "Re-encrypted 1 of 1 key(s) with the current key." in response.content.decode()
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = b
    assert private_key_decrypt(Node.objects.get(pk=nodes[0].pk).encrypted_key) == KEY_1
    with pytest.raises(KeyDecryptionError):
        private_key_decrypt(Node.objects.get(pk=nodes[1].pk).encrypted_key)  # not selected
    settings.RAIDEN_KEY_ENCRYPTION_KEYS = f"{b},{a}"

    for node, key in zip(nodes, (KEY_1, KEY_3)):
        response = client.get(f"/nodes/{node.address}/api/v1/address")
        assert response.status_code == 200
        assert json.loads(response.content) == {"our_address": node.address}
        assert_absent(response.content, key, "the API")
        assert Node.objects.get(pk=node.pk).encrypted_key not in response.content.decode()
