"""``manage.py createnode``: a new node with a new key (stored encrypted); prints its address."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from raidennode.nodes.services import node_create


class Command(BaseCommand):
    help = "Create a node (an Ethereum account with an encrypted key) and print its address."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default="", help="a label for operators")
        parser.add_argument("--owner", help="username of the user who owns the node")

    def handle(self, *args, name: str, owner: str | None, **options) -> None:
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"no user named {owner!r}")
        node = node_create(owner=user, name=name)
        self.stdout.write(node.address)
