"""Settings the payment services read (one place, so tests can see what they depend on)."""

from django.conf import settings


def cooperative_settle_enabled() -> bool:
    """Whether a close first tries a cooperative settle (Raiden 3.0.1 does; RAIDEN_COOPERATIVE_SETTLE)."""
    return getattr(settings, "RAIDEN_COOPERATIVE_SETTLE", True)
