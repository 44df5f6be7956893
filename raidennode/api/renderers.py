"""JSON exactly as Raiden's Flask server writes it."""

import json

from rest_framework.renderers import BaseRenderer


class RaidenJSONRenderer(BaseRenderer):
    """``application/json`` without a charset; Python's default separators for results.

    Validation errors (flagged ``compact`` on the response) are written like Flask's jsonify:
    compact, keys sorted, with a trailing newline. ``None`` is the JSON ``null``.
    """

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and getattr(response, "compact", False):
            return (json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n").encode()
        return json.dumps(data).encode()
