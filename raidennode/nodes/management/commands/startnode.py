"""``manage.py startnode <address>``: serve a node again after POST /shutdown stopped it."""

from django.core.management.base import BaseCommand, CommandError

from raidennode.nodes.selectors import node_by_address
from raidennode.nodes.services import node_start


class Command(BaseCommand):
    help = "Start a stopped node again (its API and duties)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("address", help="the node's EIP-55 address")

    def handle(self, *args, address: str, **options) -> None:
        node = node_by_address(address)
        if node is None:
            raise CommandError(f"no node with address {address}")
        node_start(node)
        self.stdout.write(f"{node.address} is running")
