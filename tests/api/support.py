"""Assertions on Raiden's wire format (spec section 1) shared by the API conformance tests."""

from __future__ import annotations

import json
import re

from tests.conftest import SETTLE_TIMEOUT_MAX, SETTLE_TIMEOUT_MIN, TEST_REVEAL_TIMEOUT, TEST_SETTLE_TIMEOUT

__all__ = [
    "CHANNEL_KEYS",
    "NULL_ADDRESS",
    "SETTLE_TIMEOUT_MAX",
    "SETTLE_TIMEOUT_MIN",
    "TEST_REVEAL_TIMEOUT",
    "TEST_SETTLE_TIMEOUT",
    "assert_error",
    "assert_field_errors",
    "assert_invalid_endpoint",
    "assert_ok",
    "assert_path_address_error",
    "assert_payload_expected",
    "assert_tx_hash",
    "lower",
    "send",
]

NULL_ADDRESS = "0x0000000000000000000000000000000000000000"
UINT256_MAX = 2**256 - 1
CHANNEL_KEYS = {
    "channel_identifier",
    "token_network_address",
    "token_address",
    "partner_address",
    "settle_timeout",
    "reveal_timeout",
    "balance",
    "state",
    "total_deposit",
    "total_withdraw",
    "network_state",
}
TX_HASH = re.compile(r"^0x[0-9a-f]{64}$")
EIP55_MESSAGE = "Not a valid EIP55 encoded address."
PREFIX_MESSAGE = "Not a valid hex address, 0x prefix missing."


def send(
    api, method: str, path: str, body=None, raw: bytes | None = None, content_type="application/json", headers=None
):
    """Any method with any body (the Api helper turns GET data into a query string).

    The Content-Type header is sent even with an empty body.
    """
    if raw is None:
        raw = b"" if body is None else json.dumps(body).encode()
    extra = {"CONTENT_TYPE": content_type} if content_type is not None else {}
    response = api.client.generic(method, api.prefix + path, raw, headers=headers, **extra)
    response.json_body = json.loads(response.content) if response.content else None
    return response


def lower(address: str) -> str:
    """The all-lowercase (not EIP-55) form of an address."""
    return address.lower()


def _content_type_is_json(response) -> None:
    assert response["Content-Type"] == "application/json", response["Content-Type"]


def assert_ok(response, status: int = 200):
    """A success: the status, ``application/json`` and ``json.dumps`` with default separators."""
    assert response.status_code == status, (response.status_code, response.content)
    _content_type_is_json(response)
    assert response.content == json.dumps(response.json_body).encode(), response.content
    return response.json_body


def assert_error(response, status: int, message: str) -> None:
    """An ``api_error``: ``{"errors": "<message>"}`` written by ``json.dumps``, no newline."""
    assert response.status_code == status, (response.status_code, response.content)
    _content_type_is_json(response)
    assert response.json_body == {"errors": message}, response.json_body
    assert response.content == json.dumps({"errors": message}).encode(), response.content


def assert_field_errors(response, errors: dict) -> None:
    """A schema error: 400 ``{"errors": {field: [messages]}}``, compact JSON, keys sorted, "\\n"."""
    assert response.status_code == 400, (response.status_code, response.content)
    _content_type_is_json(response)
    assert response.json_body == {"errors": errors}, response.json_body
    expected = json.dumps({"errors": errors}, separators=(",", ":"), sort_keys=True) + "\n"
    assert response.content == expected.encode(), response.content


def assert_payload_expected(response) -> None:
    assert response.status_code == 400, (response.status_code, response.content)
    _content_type_is_json(response)
    assert response.content == b'{"errors":"JSON payload expected"}\n', response.content


def assert_invalid_endpoint(response) -> None:
    assert response.status_code == 404, (response.status_code, response.content)
    _content_type_is_json(response)
    assert response.content == b'{"errors": ["invalid endpoint"]}', response.content


def assert_path_address_error(response, message: str = EIP55_MESSAGE) -> None:
    """A bad address in the URL: 404 with the two-element list of HexAddressConverter."""
    assert response.status_code == 404, (response.status_code, response.content)
    _content_type_is_json(response)
    assert response.json_body == {"errors": ["invalid endpoint", message]}, response.json_body
    assert response.content == json.dumps({"errors": ["invalid endpoint", message]}).encode()


def assert_tx_hash(value) -> None:
    assert isinstance(value, str) and TX_HASH.match(value), value
