"""``manage.py rotatekeys``: re-encrypt every stored key with the current encryption key.

Rotation: put the new Fernet key first in RAIDEN_KEY_ENCRYPTION_KEYS (keep the old ones after it)
and restart every process, run this command until it reports 0, then remove the old keys.
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from raidennode.nodes.custody import ROTATE_BATCH_SIZE, keys_rotate
from raidennode.nodes.keys import KeyDecryptionError


class Command(BaseCommand):
    help = (
        "Re-encrypt every node's stored private key with the first key of RAIDEN_KEY_ENCRYPTION_KEYS "
        "(keys already encrypted with it are left alone)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=ROTATE_BATCH_SIZE, help="keys per transaction (default %(default)s)"
        )

    def handle(self, *args, batch_size: int, verbosity: int = 1, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")

        examined_total = [0]

        def progress(rotated: int, examined: int) -> None:
            examined_total[0] = examined
            if verbosity >= 1:
                self.stdout.write(f"re-encrypted {rotated} of {examined} key(s) examined so far")

        try:
            rotated = keys_rotate(batch_size=batch_size, progress=progress)
        except (KeyDecryptionError, ImproperlyConfigured) as exc:
            raise CommandError(f"{exc}; keys re-encrypted before the error stay re-encrypted") from None
        self.stdout.write(
            f"re-encrypted {rotated} of {examined_total[0]} key(s) with the current encryption key"
            + ("" if rotated else " (all were current already)")
        )
