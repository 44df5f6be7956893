"""The base of every REST resource: node routing, path checks, gates and request bodies.

All behaviour shared by resources lives here so viewsets stay a few lines each: validate the
input, call one service, serialise the output.
"""

from __future__ import annotations

import json
import re
import time

from django.conf import settings
from django.http import HttpResponse
from django.http.request import RawPostDataException
from rest_framework import viewsets
from rest_framework.request import Request

from raidennode.errors import ServiceUnavailable
from raidennode.nodes.audit import audit_record
from raidennode.nodes.limits import request_admit
from raidennode.nodes.models import Node
from raidennode.nodes.selectors import node_by_address, node_default
from raidennode.protocol.addresses import is_checksum_address

from .auth import actor_of, authenticators, node_for_caller, token_of
from .errors import (
    SERVICE_UNAVAILABLE,
    SHUTTING_DOWN,
    InputInvalid,
    MalformedJson,
    PathAddressInvalid,
    PayloadExpected,
)

JSON_CONTENT_TYPE = re.compile(r"^application/(json|[^;/\s]+\+json)\s*(;.*)?$", re.IGNORECASE)
# reads (and OPTIONS) change nothing, so they are not audited
AUDIT_SKIPPED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ADDRESS_KWARGS = ("node_address", "token_address", "partner_address", "target_address")


def path_address_check(value: str) -> None:
    """Raiden's HexAddressConverter: 0x prefix first, then the EIP-55 checksum (404 otherwise)."""
    if not value.startswith(("0x", "0X")):
        raise PathAddressInvalid("Not a valid hex address, 0x prefix missing.")
    if not is_checksum_address(value):
        raise PathAddressInvalid("Not a valid EIP55 encoded address.")


class NodeViewSet(viewsets.ViewSet):
    """A resource of one co-hosted node: ``/nodes/<address>/api/v1/...`` or the default node.

    Sets ``request.node`` and ``request.api_prefix`` (the URL prefix the request came in on).
    """

    # /status answers while the node is not ready; everything else gets 503 until then.
    requires_ready = True

    def get_authenticators(self) -> list:
        return authenticators()

    def initial(self, request: Request, *args, **kwargs) -> None:
        request.started = time.monotonic()
        # Path addresses are checked before anything else, method dispatch included.
        for key in ADDRESS_KWARGS:
            if key in kwargs:
                path_address_check(kwargs[key])
        super().initial(request, *args, **kwargs)  # authenticates: 401 on bad credentials
        request.node = self.node_resolve(request, kwargs.get("node_address"))
        request_admit(request.node)
        request.api_prefix = self.api_prefix(request)
        if not request.node.is_running:
            raise ServiceUnavailable(SHUTTING_DOWN)
        if self.requires_ready:
            self.ready_check(request)

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in AUDIT_SKIPPED_METHODS:
            self.audit(request, response)
        return response

    @staticmethod
    def audit(request: Request, response) -> None:
        """One audit entry for a state-changing call, whatever its answer."""
        # Only what authentication established; a request refused before it is "anonymous".
        authenticated = hasattr(request, "_user")
        token = token_of(request) if authenticated else None
        user = request.user if authenticated else None
        data = response.data if response.status_code >= 400 else None
        errors = data.get("errors", "") if isinstance(data, dict) else ""
        try:
            raw_body = request._request.body
        except RawPostDataException:  # read as a stream by a parser: not kept
            raw_body = b""
        audit_record(
            node=getattr(request, "node", None),
            user_id=user.pk if user is not None and user.is_authenticated else None,
            api_token_id=token.pk if token is not None else None,
            actor=actor_of(request) if authenticated else "anonymous",
            method=request.method,
            path=request.path,
            raw_body=raw_body,
            status_code=response.status_code,
            result=errors if isinstance(errors, str) else json.dumps(errors),
            duration_ms=int((time.monotonic() - getattr(request, "started", time.monotonic())) * 1000),
        )

    def node_resolve(self, request: Request, address: str | None) -> Node:
        if settings.RAIDEN_AUTH:
            node = node_for_caller(request, address)
            if node is None:
                # The same answer as for a node that is not hosted: no one learns others' nodes.
                raise PathAddressInvalid(f"No node with address {address} is hosted here.")
            return node
        if address is None:
            node = node_default()
            if node is None:
                raise ServiceUnavailable(SERVICE_UNAVAILABLE)
            return node
        node = node_by_address(address)
        if node is None:
            raise PathAddressInvalid(f"No node with address {address} is hosted here.")
        return node

    def ready_check(self, request: Request) -> None:
        """Hook for the chain-dependent readiness gate (see channels_app.api.base)."""

    @staticmethod
    def api_prefix(request: Request) -> str:
        path = request.path
        for marker in ("/api/v1", "/api/1"):
            index = path.find(marker)
            if index >= 0:
                return path[: index + len(marker)]
        return "/api/v1"

    def options(self, request, *args, **kwargs):
        # Flask answers OPTIONS with an empty text/html body and the Allow header.
        response = HttpResponse(b"", content_type="text/html; charset=utf-8")
        response["Allow"] = ", ".join(self.allowed_methods)
        return response

    @property
    def allowed_methods(self) -> list[str]:
        methods = [m.upper() for m in self.http_method_names if hasattr(self, m)]
        return sorted(set(methods) | {"OPTIONS"})

    # --- request bodies -------------------------------------------------------------------------

    @staticmethod
    def json_body(request: Request) -> dict:
        """The JSON object of the body, with Raiden's answers to everything else.

        Not a JSON content type, or a falsy JSON value ({}, [], null, 0, ""): 400 "JSON payload
        expected". An empty or unparseable body with a JSON content type: 400 (flask-restful's
        message). Any other non-object: 400 ``_schema``.
        """
        django_request = request._request
        content_type = django_request.META.get("CONTENT_TYPE", "")
        if not JSON_CONTENT_TYPE.match(content_type):
            raise PayloadExpected()
        raw = django_request.body
        if not raw.strip():
            raise MalformedJson()
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise MalformedJson() from None
        if not data:
            raise PayloadExpected()
        if not isinstance(data, dict):
            raise InputInvalid({"_schema": ["Invalid input type."]})
        return data
