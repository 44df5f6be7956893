"""Errors of the REST API in Raiden's shapes (spec section 1.3), and DRF's exception handler."""

from __future__ import annotations

import logging

from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from raidennode.chain.errors import RpcUnavailable
from raidennode.errors import ServiceError

logger = logging.getLogger(__name__)

INVALID_ENDPOINT = "invalid endpoint"
JSON_PAYLOAD_EXPECTED = "JSON payload expected"
MALFORMED_JSON = "The browser (or proxy) sent a request that this server could not understand."
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."
SERVICE_UNAVAILABLE = "Service unavailable. Try again later."
SHUTTING_DOWN = "Raiden API is shutting down"


class InputInvalid(exceptions.APIException):
    """Field errors: ``{"errors": {field: [messages]}}`` written compactly (marshmallow's form)."""

    status_code = 400

    def __init__(self, errors: dict) -> None:
        super().__init__()
        self.errors = errors


class PayloadExpected(exceptions.APIException):
    status_code = 400


class MalformedJson(exceptions.APIException):
    status_code = 400


class PathAddressInvalid(exceptions.APIException):
    """A bad address in the URL: Raiden's converter answers 404 before method dispatch."""

    status_code = 404

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


def _response(data, status: int, compact: bool = False, headers: dict | None = None) -> Response:
    response = Response(data, status=status, headers=headers)
    response.compact = compact
    return response


def exception_handler(exc, context):
    """Maps every exception a view raises to Raiden's error bodies; never DRF's ``detail``."""
    if isinstance(exc, ServiceError):
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return _response({"errors": exc.message}, exc.status, headers={"Retry-After": str(retry_after)})
        if exc.status >= 500 and exc.status != 501 and exc.status != 503:
            return _response({"errors": [exc.message]}, exc.status)  # Raiden's 500 body is a list
        return _response({"errors": exc.message}, exc.status)
    if isinstance(exc, InputInvalid):
        return _response({"errors": exc.errors}, 400, compact=True)
    if isinstance(exc, PayloadExpected):
        return _response({"errors": JSON_PAYLOAD_EXPECTED}, 400, compact=True)
    if isinstance(exc, MalformedJson):
        # flask-restful's body, plus "errors" for clients that only read that key.
        return _response(
            {"message": MALFORMED_JSON, "errors": "Malformed JSON: the body is not valid JSON"}, 400, compact=True
        )
    if isinstance(exc, PathAddressInvalid):
        return _response({"errors": [INVALID_ENDPOINT, exc.message]}, 404)
    if isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        allowed = ", ".join(view.allowed_methods) if view is not None else ""
        return _response(
            {
                "message": METHOD_NOT_ALLOWED,
                "errors": f"The method {exc.args[0] if exc.args else ''} is not allowed here",
            },
            405,
            compact=True,
            headers={"Allow": allowed},
        )
    if isinstance(exc, (Http404, exceptions.NotFound)):
        return _response({"errors": [INVALID_ENDPOINT]}, 404)
    if isinstance(exc, RpcUnavailable):
        return _response({"errors": f"The Ethereum node is not reachable; try again later. ({exc})"}, 503)
    if isinstance(exc, exceptions.APIException):
        # 401s name the schemes a client may retry with (set by DRF's handle_exception)
        auth_header = getattr(exc, "auth_header", None)
        headers = {"WWW-Authenticate": auth_header} if auth_header else None
        return _response({"errors": str(exc.detail)}, exc.status_code, headers=headers)
    # A bug: answer with Raiden's 500 body, but (unlike the reference) keep serving.
    logger.exception("unhandled error in %s", context.get("view"))
    return _response({"errors": [str(exc) or exc.__class__.__name__]}, 500)


def not_found_view(request, exception=None):
    """Django's 404 handler: every unknown path answers like Raiden's endpoint_not_found."""
    return JsonResponse({"errors": [INVALID_ENDPOINT]}, status=404, content_type="application/json")


def server_error_view(request):
    return JsonResponse({"errors": ["Internal server error"]}, status=500, content_type="application/json")
