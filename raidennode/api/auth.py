"""Who is calling a node's API, and which nodes they may reach (RAIDEN_AUTH on).

Credentials, in the order they are tried:

* ``Authorization: Token <key>`` (also ``Bearer <key>``): an API token of one node;
* HTTP Basic with the token key as the password (any user name), so unmodified Raiden clients
  work with credentials in their base URL (``http://raiden:<key>@host/api/v1``);
* the Django session of a logged-in user (the WebUI), with CSRF checked on writes.

A token reaches exactly its node; a session user the nodes they own. Anything else is answered
as if the node did not exist (404), so one user cannot even learn another user's addresses.
With RAIDEN_AUTH off, nobody is asked and every hosted node answers (Raiden's local API).
"""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from raidennode.errors import Forbidden
from raidennode.nodes.models import ApiToken, Node
from raidennode.nodes.tokens import api_token_check

INVALID_TOKEN = "Invalid, expired or revoked API token."
READ_ONLY_TOKEN = "This API token is read-only; a full token is needed to change anything."
NOT_AUTHENTICATED = (
    "Authentication required: send 'Authorization: Token <key>' (or HTTP Basic with the key as password)."
)
SESSION_NODE_KEY = "raiden_node"


class TokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request):
        scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        token = api_token_check(key.strip())
        if token is None:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        return token.node.owner, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"


class TokenBasicAuthentication(authentication.BaseAuthentication):
    """HTTP Basic: the user name is ignored, the password is an API token key."""

    def authenticate(self, request: Request):
        scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            _user, _, key = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed("Malformed HTTP Basic credentials.") from None
        token = api_token_check(key)
        if token is None:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        return token.node.owner, token

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="raiden"'


class UserSessionAuthentication(authentication.SessionAuthentication):
    """The logged-in Django user (WebUI), with CSRF checked on unsafe methods."""

    def enforce_csrf(self, request: Request) -> None:
        # Django's check reads request.POST; on DRF's request that would run the parsers (this
        # API has none: 415), on Django's it is an empty form for a JSON body.
        super().enforce_csrf(request._request)


AUTHENTICATORS = (TokenBasicAuthentication, TokenAuthentication, UserSessionAuthentication)


def authenticators() -> list[authentication.BaseAuthentication]:
    """The authenticators of a node resource: none with RAIDEN_AUTH off."""
    if not settings.RAIDEN_AUTH:
        return []
    return [cls() for cls in AUTHENTICATORS]


def token_of(request: Request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def node_for_caller(request: Request, address: str | None) -> Node | None:
    """The node the authenticated caller reaches at ``address`` (their default node when None).

    Returns None when the caller may not reach such a node (the API answers 404 as for an
    unknown node). Raises NotAuthenticated without credentials and Forbidden for a write with a
    read-only token.
    """
    token = token_of(request)
    if token is not None:
        if token.scope == ApiToken.Scope.READ and request.method not in SAFE_METHODS:
            raise Forbidden(READ_ONLY_TOKEN)
        if address is not None and address != token.node.address:
            return None
        return token.node
    user = request.user
    if user is None or not user.is_authenticated:
        raise exceptions.NotAuthenticated(NOT_AUTHENTICATED)
    owned = Node.objects.filter(owner=user)
    if address is not None:
        return owned.filter(address=address).first()
    chosen = request._request.session.get(SESSION_NODE_KEY) if hasattr(request._request, "session") else None
    return (owned.filter(address=chosen).first() if chosen else None) or owned.order_by("id").first()


def actor_of(request: Request) -> str:
    """How the caller authenticated, for the audit log (never the key itself)."""
    token = token_of(request)
    if token is not None:
        return f"token {token.key_prefix}… ({token.node.address[:10]}…)"
    user = getattr(request, "_user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return f"session {user.get_username()}"
    return "anonymous"
