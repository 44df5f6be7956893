"""Transport-level conventions of REST API v1 (spec section 1): bodies, content types, routing errors,
OPTIONS, HEAD and CORS."""

from __future__ import annotations

import json
from itertools import product

import pytest

from tests.api.support import (
    PREFIX_MESSAGE,
    assert_field_errors,
    assert_invalid_endpoint,
    assert_ok,
    assert_path_address_error,
    assert_payload_expected,
    lower,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True)

MALFORMED_MESSAGE = "The browser (or proxy) sent a request that this server could not understand."
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."


def body_routes(token: str, partner: str) -> list[tuple[str, str]]:
    """The endpoints that read a JSON body (spec 1.4)."""
    return [
        ("PUT", "/channels"),
        ("PATCH", f"/channels/{token}/{partner}"),
        ("POST", "/user_deposit"),
        ("POST", f"/_testing/tokens/{token}/mint"),
    ]


def test_success_body_is_json_dumps_with_default_separators(api, alice):
    contracts = assert_ok(api.get("/contracts"))
    raw = api.get("/contracts").content
    assert b'", "' in raw and b'": "' in raw
    assert not raw.endswith(b"\n")
    assert set(contracts) >= {"contracts_version", "token_network_registry_address"}
    assert assert_ok(api.get("/address")) == {"our_address": alice.address}


NO_JSON_PAYLOAD = [
    ("text/plain", b'{"total_deposit": "1"}'),
    ("application/x-www-form-urlencoded", b"total_deposit=1"),
    ("multipart/form-data; boundary=x", b"--x--"),
    ("", b'{"total_deposit": "1"}'),
    # Falsy JSON values count as no payload.
    ("application/json", b"{}"),
    ("application/json", b"[]"),
    ("application/json", b"null"),
    ("application/json", b"0"),
    ("application/json", b"false"),
    ("application/json", b'""'),
]


def test_no_usable_json_payload(api, token, bob):
    for content_type, raw in NO_JSON_PAYLOAD:
        for method, path in body_routes(token, bob.address):
            assert_payload_expected(send(api, method, path, raw=raw, content_type=content_type))


def test_missing_body_without_json_content_type(api, token, bob):
    for method, path in body_routes(token, bob.address):
        assert_payload_expected(api.request(method, path))
        assert_payload_expected(send(api, method, path, content_type=None))


# Also an empty body with a JSON content type (spec 1.3).
MALFORMED = [b"{", b"{'a': 1}", b'{"a": 1,}', b"", b"   ", b"\xff\xfe"]


def test_malformed_json(api, token, bob):
    for raw, (method, path) in product(MALFORMED, body_routes(token, bob.address)):
        response = send(api, method, path, raw=raw)
        assert response.status_code == 400, (method, path, response.content)
        assert response["Content-Type"] == "application/json"
        body = response.json_body
        # flask-restful's "message", plus "errors" (a string) for clients that only read that key.
        assert set(body) == {"message", "errors"}, body
        assert body["message"] == MALFORMED_MESSAGE
        assert isinstance(body["errors"], str) and body["errors"]
        compact = json.dumps(body, separators=(",", ":"), sort_keys=True) + "\n"
        assert response.content == compact.encode()


def test_non_object_json(api, token, bob):
    for raw, (method, path) in product([b"[1]", b"1", b'"x"', b"true", b"[{}]"], body_routes(token, bob.address)):
        assert_field_errors(api.request(method, path, raw=raw), {"_schema": ["Invalid input type."]})


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.raiden+json"])
def test_json_content_type_variants_are_json(api, content_type):
    response = api.request("POST", "/user_deposit", raw=b'{"nonsense": 1}', content_type=content_type)
    assert_field_errors(response, {"nonsense": ["Unknown field."]})


def path_routes() -> list[tuple[str, str]]:
    """(method, path) of every route with an address in its path, with {t} and {p} slots."""
    return [
        ("GET", "/tokens/{t}"),
        ("PUT", "/tokens/{t}"),
        ("GET", "/tokens/{t}/partners"),
        ("GET", "/channels/{t}"),
        ("GET", "/channels/{t}/{p}"),
        ("PATCH", "/channels/{t}/{p}"),
        ("DELETE", "/connections/{t}"),
        ("PUT", "/connections/{t}"),
        ("POST", "/_testing/tokens/{t}/mint"),
    ]


BAD_PATH_ADDRESSES = [
    (lower, "Not a valid EIP55 encoded address."),
    (lambda a: "0x" + a[2:].upper(), "Not a valid EIP55 encoded address."),
    (lambda a: a[:-2], "Not a valid EIP55 encoded address."),
    (lambda a: a[:-1] + "g", "Not a valid EIP55 encoded address."),
    (lambda a: a + "00", "Not a valid EIP55 encoded address."),
    (lambda a: a[2:], PREFIX_MESSAGE),
    (lambda a: "token", PREFIX_MESSAGE),
]


def test_bad_path_addresses(api, token, bob):
    good = {"t": token, "p": bob.address}
    for (spoil, message), (method, template) in product(BAD_PATH_ADDRESSES, path_routes()):
        for slot in ("t", "p"):
            if "{" + slot + "}" in template:
                path = template.format(**{**good, slot: spoil(good[slot])})
                assert_path_address_error(send(api, method, path, body={"total_deposit": "1"}), message)


def test_path_addresses_are_checked_before_the_method(api, token):
    # POST is not allowed on /channels/<t>, but the converter fails first: 404, not 405.
    assert_path_address_error(api.post(f"/channels/{lower(token)}", {"a": 1}))
    assert_path_address_error(api.request("OPTIONS", f"/channels/{lower(token)}"))
    assert_path_address_error(api.put(f"/connections/{token[2:]}"), PREFIX_MESSAGE)


def test_null_address_is_accepted_in_paths(api):
    null = "0x0000000000000000000000000000000000000000"
    assert assert_ok(api.get(f"/channels/{null}")) == []
    assert assert_ok(api.get(f"/tokens/{null}/partners")) == []


ROUTE_METHODS = [
    ("/address", {"GET", "HEAD", "OPTIONS"}),
    ("/version", {"GET", "HEAD", "OPTIONS"}),
    ("/settings", {"GET", "HEAD", "OPTIONS"}),
    ("/contracts", {"GET", "HEAD", "OPTIONS"}),
    ("/status", {"GET", "HEAD", "OPTIONS"}),
    ("/shutdown", {"POST", "OPTIONS"}),
    ("/tokens", {"GET", "HEAD", "OPTIONS"}),
    ("/tokens/{t}", {"GET", "HEAD", "PUT", "OPTIONS"}),
    ("/tokens/{t}/partners", {"GET", "HEAD", "OPTIONS"}),
    ("/channels", {"GET", "HEAD", "PUT", "OPTIONS"}),
    ("/channels/{t}", {"GET", "HEAD", "OPTIONS"}),
    ("/channels/{t}/{p}", {"GET", "HEAD", "PATCH", "OPTIONS"}),
    ("/connections", {"GET", "HEAD", "OPTIONS"}),
    ("/connections/{t}", {"PUT", "DELETE", "OPTIONS"}),
    ("/user_deposit", {"POST", "OPTIONS"}),
    ("/_testing/tokens/{t}/mint", {"POST", "OPTIONS"}),
    # the older API's routes (seeds/002)
    ("/transfers/{t}/{p}", {"POST", "OPTIONS"}),
    ("/token_swaps/{p}/1337", {"GET", "HEAD", "PUT", "OPTIONS"}),
    ("/events/network", {"GET", "HEAD", "OPTIONS"}),
    ("/events/tokens/{t}", {"GET", "HEAD", "OPTIONS"}),
    ("/events/channels/{t}/{p}", {"GET", "HEAD", "OPTIONS"}),
]
ALL_METHODS = {"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"}


def allow_set(response) -> set[str]:
    return {method.strip() for method in response["Allow"].split(",")}


def test_method_not_allowed(api, token, bob):
    for template, allowed in ROUTE_METHODS:
        path = template.format(t=token, p=bob.address)
        for method in sorted(ALL_METHODS - allowed):
            check_method_not_allowed(send(api, method, path, body={"total_deposit": "1"}), method, allowed)


def test_options(api, token, bob):
    for template, allowed in ROUTE_METHODS:
        options = api.request("OPTIONS", template.format(t=token, p=bob.address))
        assert options.status_code == 200, (template, options.content)
        assert options.content == b""
        assert options["Content-Type"].startswith("text/html")
        assert allow_set(options) == allowed, template


def check_method_not_allowed(response, method: str, allowed: set[str]) -> None:
    assert response.status_code == 405, (method, response.content)
    assert response["Content-Type"] == "application/json"
    assert allow_set(response) == allowed
    if method == "HEAD":  # same status and headers, never a body
        assert response.content == b""
        return
    assert response.json_body["message"] == METHOD_NOT_ALLOWED, response.json_body
    compact = json.dumps(response.json_body, separators=(",", ":"), sort_keys=True) + "\n"
    assert response.content == compact.encode()


UNKNOWN_PATHS = [
    "/api/v1/channels/",
    "/api/v1/address/",
    "/api/v1/tokens/",
    "/api/v1/connections/",
    "/api",
    "/api/",
    "/api/v1",
    "/api/v1/",
    "/api/v2/address",
    "/api/v1/nothing",
    "/api/v1/payments/x/y/z",
    "/api/v1/ADDRESS",
]


def test_unknown_paths_and_trailing_slashes(client, alice):
    for path, method in product(UNKNOWN_PATHS, ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")):
        assert_invalid_endpoint(client.generic(method, path))


def test_trailing_slash_after_path_address(api, token, bob):
    assert_invalid_endpoint(api.get(f"/channels/{token}/"))
    assert_invalid_endpoint(api.patch(f"/channels/{token}/{bob.address}/", {"state": "closed"}))
    assert_invalid_endpoint(api.delete(f"/connections/{token}/"))


def test_head_on_get_routes(api):
    for path in ("/address", "/version", "/settings", "/contracts", "/status", "/tokens", "/channels", "/connections"):
        get = api.get(path)
        head = api.request("HEAD", path)
        assert head.status_code == get.status_code == 200, path
        assert head["Content-Type"] == get["Content-Type"] == "application/json"
        assert head.content == b""


def test_head_on_path_routes(api, token, bob):
    assert api.request("HEAD", f"/tokens/{token}").status_code == 200
    assert api.request("HEAD", f"/channels/{token}/{bob.address}").status_code == 404
    assert api.request("HEAD", f"/channels/{lower(token)}").status_code == 404


def test_query_strings_are_ignored(api, token):
    assert assert_ok(api.get("/channels?limit=abc&foo=bar")) == []
    assert assert_ok(api.get(f"/tokens/{token}?x=1")) == api.get(f"/tokens/{token}").json_body


def test_bodies_of_get_routes_are_ignored(api, alice):
    # raiden_client sends {} even on GET; malformed bodies are not read either.
    assert assert_ok(send(api, "GET", "/address", body={})) == {"our_address": alice.address}
    assert assert_ok(send(api, "GET", "/address", raw=b"{nope")) == {"our_address": alice.address}


# --- CORS (spec 1.8) ------------------------------------------------------------------------------


def test_cors_allowed_origin_is_echoed_on_every_response(api, token):
    origin = "http://localhost:4200"
    for response in (
        api.get("/address", headers={"Origin": origin}),
        api.get(f"/channels/{token}/{token}", headers={"Origin": origin}),  # 404
        api.put("/channels", {"x": 1}, headers={"Origin": origin}),  # 400
        api.client.get("/api/v1/nothing", headers={"Origin": origin}),  # invalid endpoint
    ):
        assert response["Access-Control-Allow-Origin"] == origin
        assert "Origin" in response["Vary"]
        assert "Access-Control-Allow-Credentials" not in response
        assert "Access-Control-Max-Age" not in response


def test_cors_preflight(api):
    response = api.request(
        "OPTIONS",
        "/channels",
        headers={
            "Origin": "http://localhost:4200",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,x-custom",
        },
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response["Access-Control-Allow-Origin"] == "http://localhost:4200"
    assert response["Access-Control-Allow-Methods"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert response["Access-Control-Allow-Headers"] == "content-type,x-custom"
    assert "Access-Control-Allow-Credentials" not in response
    assert "Access-Control-Max-Age" not in response


@pytest.mark.parametrize("origin", ["http://127.0.0.1:4200", "https://localhost:4200", "http://example.com"])
def test_cors_other_origins_get_no_headers_but_are_served(api, alice, origin):
    response = api.get("/address", headers={"Origin": origin})
    assert assert_ok(response) == {"our_address": alice.address}
    assert "Access-Control-Allow-Origin" not in response
    preflight = api.request("OPTIONS", "/channels", headers={"Origin": origin, "Access-Control-Request-Method": "PUT"})
    assert "Access-Control-Allow-Origin" not in preflight
    assert "Access-Control-Allow-Methods" not in preflight


def test_cors_disabled_with_empty_origin_list(api, settings):
    settings.RAIDEN_CORS_ORIGINS = []
    response = api.get("/address", headers={"Origin": "http://localhost:4200"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_cors_prefix_match_of_the_default_pattern(api):
    response = api.get("/address", headers={"Origin": "http://localhostile.example"})
    # flask-cors applies re.match: the default pattern matches any origin with that prefix.
    assert response["Access-Control-Allow-Origin"] == "http://localhostile.example"
