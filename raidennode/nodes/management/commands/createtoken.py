"""``manage.py createtoken <node address>``: a new API token for a node; prints the key once."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from raidennode.nodes.models import ApiToken
from raidennode.nodes.selectors import node_by_address
from raidennode.nodes.tokens import api_token_create


class Command(BaseCommand):
    help = (
        "Create an API token for a node and print its key (shown only now). Use it as "
        "'Authorization: Token <key>' or as the password of HTTP Basic."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("address", help="the node's EIP-55 address")
        parser.add_argument("--name", default="", help="a label, e.g. the client that uses it")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.FULL)
        parser.add_argument("--expires-in-days", type=float, help="the token stops working after this many days")

    def handle(self, *args, address: str, name: str, scope: str, expires_in_days: float | None, **options) -> None:
        node = node_by_address(address)
        if node is None:
            raise CommandError(f"no node with address {address} (addresses are EIP-55 checksummed)")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be positive")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days is not None else None
        token, key = api_token_create(node, name=name, scope=scope, expires_at=expires_at)
        self.stderr.write(
            f"token {token.key_prefix}… ({scope}) for {node.address}"
            + (f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "")
        )
        self.stdout.write(key)
