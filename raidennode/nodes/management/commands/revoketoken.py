"""``manage.py revoketoken <key prefix>``: revokes API tokens by the prefix shown in the admin."""

from django.core.management.base import BaseCommand, CommandError

from raidennode.nodes.models import ApiToken
from raidennode.nodes.tokens import api_token_digest, api_token_revoke


class Command(BaseCommand):
    help = "Revoke the API token whose key starts with the given prefix (as shown in the admin)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("prefix", help="the key, or its first characters as the admin shows them (e.g. rn_AbCdEfG)")

    def handle(self, *args, prefix: str, **options) -> None:
        if len(prefix) < 6:
            raise CommandError("give at least 6 characters of the key")
        live = ApiToken.objects.filter(revoked_at__isnull=True).select_related("node")
        # a whole key names its token exactly; a prefix names the tokens whose key starts with it
        matches = list(
            live.filter(key_digest=api_token_digest(prefix)) or live.filter(key_prefix__startswith=prefix[:10])
        )
        if not matches:
            raise CommandError(f"no live token starts with {prefix!r}")
        if len(matches) > 1:
            raise CommandError(f"{len(matches)} tokens start with {prefix!r}; give more characters")
        api_token_revoke(matches[0])
        self.stdout.write(f"revoked {matches[0].key_prefix}… of {matches[0].node.address}")
