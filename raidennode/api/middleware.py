"""CORS as Raiden's flask-cors set-up does it (spec section 1.8).

RAIDEN_CORS_ORIGINS holds patterns; one with regex metacharacters is a regex matched at the
start of the Origin (flask-cors uses re.match), so the default ``http://localhost:*/*`` accepts
any origin starting with ``http://localhost``. A non-matching origin gets no CORS headers.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponse

ALLOWED_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
_REGEX_CHARS = set("*\\]?$^[]()")


def _matches(origin: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern == "*":
            return True
        if _REGEX_CHARS & set(pattern):
            try:
                if re.match(pattern, origin):
                    return True
            except re.error:
                continue
        elif pattern == origin:
            return True
    return False


class CorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        origin = request.headers.get("Origin")
        allowed = bool(origin) and bool(settings.RAIDEN_CORS_ORIGINS) and _matches(origin, settings.RAIDEN_CORS_ORIGINS)
        if allowed and request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = HttpResponse(b"", content_type="text/html; charset=utf-8")
            response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            if "Access-Control-Request-Headers" in request.headers:
                response["Access-Control-Allow-Headers"] = request.headers["Access-Control-Request-Headers"]
        else:
            response = self.get_response(request)
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            response["Vary"] = "Origin"
        return response
