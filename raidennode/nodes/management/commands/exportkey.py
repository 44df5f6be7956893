"""``manage.py exportkey <address>``: a node's key as an Ethereum keystore v3 JSON file.

The keystore is encrypted with a password read from --password-file or RAIDEN_KEYSTORE_PASSWORD;
it is written to --output (created with mode 0600, never overwritten) or to stdout.
"""

import json
import os

from django.core.management.base import BaseCommand, CommandError

from raidennode.nodes.custody import KDFS, CustodyError, keystore_export, keystore_password
from raidennode.nodes.keys import KeyDecryptionError
from raidennode.nodes.selectors import node_by_address
from raidennode.protocol.addresses import to_checksum_address


class Command(BaseCommand):
    help = "Export a node's private key as an Ethereum keystore v3 JSON (geth, MetaMask, eth_account)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("address", help="the node's address")
        parser.add_argument(
            "--password-file", help="file holding the keystore password (else RAIDEN_KEYSTORE_PASSWORD)"
        )
        parser.add_argument("--output", help="file to write (mode 0600; must not exist); stdout when omitted")
        parser.add_argument("--kdf", choices=KDFS, default="scrypt", help="key derivation (default %(default)s)")
        parser.add_argument(
            "--iterations", type=int, help="the KDF's work factor (scrypt n, a power of two; pbkdf2 count)"
        )

    def handle(
        self,
        *args,
        address: str,
        password_file: str | None,
        output: str | None,
        kdf: str,
        iterations: int | None,
        **options,
    ) -> None:
        try:
            address = to_checksum_address(address)
        except ValueError:
            raise CommandError(f"not an address: {address!r}") from None
        node = node_by_address(address)
        if node is None:
            raise CommandError(f"no node with address {address}")
        try:
            keystore = keystore_export(node, keystore_password(password_file), kdf=kdf, iterations=iterations)
        except (CustodyError, KeyDecryptionError) as exc:
            raise CommandError(str(exc)) from None
        text = json.dumps(keystore, indent=2) + "\n"
        if not output:
            self.stdout.write(text, ending="")
            return
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{output} exists already; remove it or choose another --output") from None
        except OSError as exc:
            raise CommandError(f"cannot create {output}: {exc}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the umask
            f.write(text)
        self.stdout.write(f"wrote the keystore of {node.address} to {output}")
