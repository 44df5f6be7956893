"""``manage.py importkey KEYSTORE_FILE``: a new node from an Ethereum keystore v3 JSON file.

The keystore's password is read from --password-file or RAIDEN_KEYSTORE_PASSWORD; the key is
stored encrypted with the current encryption key. Prints the new node's address.
"""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from raidennode.nodes.custody import CustodyError, keystore_import, keystore_password


class Command(BaseCommand):
    help = "Create a node from an Ethereum keystore v3 JSON file (geth, MetaMask, eth_account) and print its address."

    def add_arguments(self, parser) -> None:
        parser.add_argument("keystore_file", help="the keystore JSON file")
        parser.add_argument(
            "--password-file", help="file holding the keystore password (else RAIDEN_KEYSTORE_PASSWORD)"
        )
        parser.add_argument("--owner", help="username of the user who owns the node")
        parser.add_argument("--name", default="", help="a label for operators")

    def handle(
        self, *args, keystore_file: str, password_file: str | None, owner: str | None, name: str, **options
    ) -> None:
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"no user named {owner!r}")
        try:
            with open(keystore_file, encoding="utf-8") as f:
                keystore = json.load(f)
        except OSError as exc:
            raise CommandError(f"cannot read {keystore_file}: {exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise CommandError(f"{keystore_file} is not a JSON file: {exc}") from None
        try:
            node = keystore_import(keystore, keystore_password(password_file), owner=user, name=name)
        except CustodyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(node.address)
