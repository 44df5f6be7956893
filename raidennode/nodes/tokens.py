"""API tokens: creating, revoking and checking the credentials of a node's API.

A key is 40 random URL-safe characters with a ``rn_`` prefix. Only its SHA-256 digest is stored,
so a database dump gives no usable credential; the key is returned once, by ``api_token_create``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.utils import timezone

from .models import ApiToken, Node

KEY_PREFIX = "rn_"


def api_token_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_token_create(
    node: Node, *, name: str = "", scope: str = ApiToken.Scope.FULL, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token for ``node``; returns the row and the key (shown to the user once, never stored).

    Raises ValueError for an unknown scope or an expiry in the past.
    """
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiToken.Scope.values)}")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("the expiry must be in the future")
    key = KEY_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        node=node,
        name=name,
        scope=scope,
        expires_at=expires_at,
        key_digest=api_token_digest(key),
        key_prefix=key[:10],
    )
    return token, key


def api_token_revoke(token: ApiToken) -> None:
    """Revokes ``token`` from now on (idempotent: the first revocation time is kept)."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])


def api_token_check(key: str) -> ApiToken | None:
    """The live token with this key (not revoked, not expired) with its node, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    token = ApiToken.objects.select_related("node", "node__owner").filter(key_digest=api_token_digest(key)).first()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    return token
