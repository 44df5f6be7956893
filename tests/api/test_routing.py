"""Where the API is served: /api/v1, /api/1 and /nodes/<address>/api/v1 (and /api/1) for every
co-hosted node; /api/v1 is the default node (the oldest unless RAIDEN_DEFAULT_NODE says otherwise)."""

from __future__ import annotations

import pytest

from tests.api.support import (
    PREFIX_MESSAGE,
    assert_invalid_endpoint,
    assert_ok,
    assert_path_address_error,
    lower,
    send,
)
from tests.conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)

GET_ROUTES = [
    "/address",
    "/version",
    "/settings",
    "/contracts",
    "/status",
    "/tokens",
    "/tokens/{t}",
    "/tokens/{t}/partners",
    "/channels",
    "/channels/{t}",
    "/channels/{t}/{p}",
    "/connections",
]


def prefixes(node) -> list[str]:
    return ["/api/v1", "/api/1", f"/nodes/{node.address}/api/v1", f"/nodes/{node.address}/api/1"]


def test_every_get_route_under_every_prefix(api_for, alice, bob, token):
    opened = api_for(alice).put("/channels", {"token_address": token, "partner_address": bob.address})
    assert opened.status_code == 201, opened.json_body
    client = api_for(None).client
    for template in GET_ROUTES:
        path = template.format(t=token, p=bob.address)
        bodies = []
        for prefix in prefixes(alice):
            body = assert_ok(Api(client, prefix).get(path))
            if template == "/tokens/{t}/partners":
                # The channel link is relative to the prefix the request came in on.
                assert body == [{"partner_address": bob.address, "channel": f"{prefix}/channels/{token}/{bob.address}"}]
                continue
            bodies.append(body)
        assert all(body == bodies[0] for body in bodies), (template, bodies)


def test_write_routes_under_the_old_prefix_and_node_urls(api_for, alice, bob, make_node, token):
    carol = make_node(name="carol")
    old_default = api_for(None, "1")
    opened = old_default.put("/channels", {"token_address": token, "partner_address": bob.address})
    assert opened.status_code == 201, opened.json_body
    bob_old = Api(old_default.client, f"/nodes/{bob.address}/api/1")
    deposited = bob_old.patch(f"/channels/{token}/{alice.address}", {"total_deposit": "7"})
    assert assert_ok(deposited)["total_deposit"] == "7"
    carol_api = api_for(carol)
    opened = carol_api.put("/channels", {"token_address": token, "partner_address": bob.address})
    assert opened.status_code == 201, opened.json_body
    # Each node sees its own channels only.
    assert [c["partner_address"] for c in assert_ok(api_for(alice).get("/channels"))] == [bob.address]
    assert sorted(c["partner_address"] for c in assert_ok(api_for(bob).get("/channels"))) == sorted(
        [alice.address, carol.address]
    )
    assert [c["partner_address"] for c in assert_ok(carol_api.get("/channels"))] == [bob.address]
    closed = old_default.patch(f"/channels/{token}/{bob.address}", {"state": "closed"})
    assert assert_ok(closed)["state"] == "closed"


def test_default_node_is_the_oldest(api_for, alice, bob, make_node):
    make_node(name="carol")
    for version in ("v1", "1"):
        assert assert_ok(api_for(None, version).get("/address")) == {"our_address": alice.address}


def test_default_node_from_settings(api_for, alice, bob, settings):
    settings.RAIDEN_DEFAULT_NODE = bob.address
    assert assert_ok(api_for(None).get("/address")) == {"our_address": bob.address}
    assert assert_ok(api_for(alice).get("/address")) == {"our_address": alice.address}


@pytest.mark.parametrize("version", ["v1", "1"])
def test_node_address_checks(api_for, alice, bob, token, version):
    client = api_for(None).client
    stranger = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55 test vector, not hosted here
    for method, path, body in [
        ("GET", "/address", None),
        ("POST", "/address", None),  # 404 before 405
        ("PUT", "/channels", {"token_address": token, "partner_address": bob.address}),
        ("GET", f"/channels/{token}/{bob.address}", None),
        ("OPTIONS", "/channels", None),
    ]:
        response = send(Api(client, f"/nodes/{stranger}/api/{version}"), method, path, body=body)
        assert response.status_code == 404, (method, path, response.content)
        assert response["Content-Type"] == "application/json"
        errors = response.json_body["errors"]
        assert isinstance(errors, list) and errors[0] == "invalid endpoint" and len(errors) == 2, errors
        assert stranger in errors[1]

        lowercase = Api(client, f"/nodes/{lower(alice.address)}/api/{version}")
        assert_path_address_error(send(lowercase, method, path, body=body))
        unprefixed = Api(client, f"/nodes/{alice.address[2:]}/api/{version}")
        assert_path_address_error(send(unprefixed, method, path, body=body), PREFIX_MESSAGE)


def test_unknown_paths_under_node_urls(api_for, alice):
    client = api_for(None).client
    for path in [
        f"/nodes/{alice.address}/api/v1/nothing",
        f"/nodes/{alice.address}/api/v1/address/",
        f"/nodes/{alice.address}/api/v1",
        f"/nodes/{alice.address}/api/v1/",
        f"/nodes/{alice.address}",
        f"/nodes/{alice.address}/api/v2/address",
        "/nodes",
        "/nodes/",
    ]:
        assert_invalid_endpoint(client.get(path))
