"""The base of every REST resource: node routing, path checks, gates and request bodies.

All behaviour shared by resources lives here so viewsets stay a few lines each: validate the
input, call one service, serialise the output.
"""

from __future__ import annotations

import json
import re

from django.http import HttpResponse
from rest_framework import viewsets
from rest_framework.request import Request

from raidennode.errors import ServiceUnavailable
from raidennode.nodes.models import Node
from raidennode.nodes.selectors import node_by_address, node_default
from raidennode.protocol.addresses import is_checksum_address

from .errors import (
    SERVICE_UNAVAILABLE,
    SHUTTING_DOWN,
    InputInvalid,
    MalformedJson,
    PathAddressInvalid,
    PayloadExpected,
)

JSON_CONTENT_TYPE = re.compile(r"^application/(json|[^;/\s]+\+json)\s*(;.*)?$", re.IGNORECASE)
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

    def initial(self, request: Request, *args, **kwargs) -> None:
        # Path addresses are checked before anything else, method dispatch included.
        for key in ADDRESS_KWARGS:
            if key in kwargs:
                path_address_check(kwargs[key])
        super().initial(request, *args, **kwargs)
        request.node = self.node_resolve(kwargs.get("node_address"))
        request.api_prefix = self.api_prefix(request)
        if not request.node.is_running:
            raise ServiceUnavailable(SHUTTING_DOWN)
        if self.requires_ready:
            self.ready_check(request)

    def node_resolve(self, address: str | None) -> Node:
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
