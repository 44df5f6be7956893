"""GET /address, /version, /settings, /contracts, /status and POST /shutdown (spec 3.8, 3.9, 4.1-4.4,
4.22, 4.23, 1.7)."""

from __future__ import annotations

import pytest

from channels_app.services.ingest import chain_ingest_all
from raidennode.nodes.services import node_create
from raidennode.protocol.addresses import is_checksum_address
from tests.api.support import assert_error, assert_ok, assert_path_address_error, lower, send

pytestmark = pytest.mark.django_db(transaction=True)

SHUTTING_DOWN = "Raiden API is shutting down"
UNAVAILABLE = "Service unavailable. Try again later."


def every_route(token: str, partner: str) -> list[tuple[str, str, dict | None]]:
    """(method, path, body) of each operation of the API, with a plausible body."""
    return [
        ("GET", "/address", None),
        ("GET", "/version", None),
        ("GET", "/settings", None),
        ("GET", "/contracts", None),
        ("GET", "/status", None),
        ("POST", "/shutdown", None),
        ("GET", "/tokens", None),
        ("GET", f"/tokens/{token}", None),
        ("PUT", f"/tokens/{token}", None),
        ("GET", f"/tokens/{token}/partners", None),
        ("GET", "/channels", None),
        ("PUT", "/channels", {"token_address": token, "partner_address": partner}),
        ("GET", f"/channels/{token}", None),
        ("GET", f"/channels/{token}/{partner}", None),
        ("PATCH", f"/channels/{token}/{partner}", {"state": "closed"}),
        ("GET", "/connections", None),
        ("DELETE", f"/connections/{token}", None),
        ("POST", "/user_deposit", {"total_deposit": "1"}),
        ("POST", f"/_testing/tokens/{token}/mint", {"to": partner, "value": "1"}),
    ]


def test_address(api_for, alice, bob):
    assert assert_ok(api_for(alice).get("/address")) == {"our_address": alice.address}
    assert assert_ok(api_for(bob).get("/address")) == {"our_address": bob.address}
    assert is_checksum_address(api_for(bob).get("/address").json_body["our_address"])


def test_version(api):
    assert assert_ok(api.get("/version")) == {"version": "3.0.1"}


def test_settings(api, settings):
    assert assert_ok(api.get("/settings")) == {"pathfinding_service_address": None}
    settings.RAIDEN_PFS_URL = "https://pfs.example"
    assert assert_ok(api.get("/settings")) == {"pathfinding_service_address": "https://pfs.example"}


def test_contracts(api, chain_env):
    body = assert_ok(api.get("/contracts"))
    deployment = chain_env.raiden
    assert body == {
        "contracts_version": "0.40.0",
        "token_network_registry_address": deployment.token_network_registry,
        "secret_registry_address": deployment.secret_registry,
        "service_registry_address": deployment.service_registry,
        "user_deposit_address": deployment.user_deposit,
        "monitoring_service_address": deployment.monitoring_service,
        "one_to_n_address": deployment.one_to_n,
    }
    assert all(is_checksum_address(v) for k, v in body.items() if k != "contracts_version")


def test_status_ready_and_syncing(api, chain_env, settings):
    assert assert_ok(api.get("/status")) == {"status": "ready"}
    chain_env.mine(settings.RAIDEN_SYNC_TOLERANCE + 7)
    syncing = assert_ok(api.get("/status"))
    assert syncing["status"] == "syncing"
    # blocks_to_sync is one of the few JSON numbers of the API.
    assert isinstance(syncing["blocks_to_sync"], int) and syncing["blocks_to_sync"] > settings.RAIDEN_SYNC_TOLERANCE
    assert b'"blocks_to_sync": ' + str(syncing["blocks_to_sync"]).encode() in api.get("/status").content
    chain_ingest_all()
    assert assert_ok(api.get("/status")) == {"status": "ready"}


def test_unavailable_without_a_chain_deployment(transactional_db, api_for):
    """Before the node knows its chain, only /status answers (spec 1.7); path checks still run first."""
    node = node_create(name="early")
    api = api_for(node)
    assert assert_ok(api.get("/status")) == {"status": "unavailable"}
    token = node.address  # any checksummed address will do for the paths
    for method, path, body in every_route(token, node.address):
        if path == "/status":
            continue
        assert_error(send(api, method, path, body=body), 503, UNAVAILABLE)
    assert_path_address_error(api.get(f"/channels/{lower(token)}"))
    assert assert_ok(api_for(None).get("/status")) == {"status": "unavailable"}


def test_shutdown_stops_only_that_node(api_for, alice, bob, token):
    a, b, default = api_for(alice), api_for(bob), api_for(None)
    assert assert_ok(a.post("/shutdown")) == {"status": "shutdown"}

    for method, path, body in every_route(token, bob.address):
        assert_error(send(a, method, path, body=body), 503, SHUTTING_DOWN)
        # alice is the oldest node, so also the default node at /api/v1 and /api/1.
        assert_error(send(default, method, path, body=body), 503, SHUTTING_DOWN)
        assert_error(send(api_for(None, "1"), method, path, body=body), 503, SHUTTING_DOWN)
    for method in ("OPTIONS", "HEAD"):
        stopped = send(a, method, "/address")
        assert stopped.status_code == 503, (method, stopped.content)
    # The body is ignored, and a second shutdown is refused like every other request.
    assert_error(a.post("/shutdown", {"x": 1}), 503, SHUTTING_DOWN)

    # bob is not affected.
    assert assert_ok(b.get("/address")) == {"our_address": bob.address}
    assert assert_ok(b.get("/status")) == {"status": "ready"}
    assert assert_ok(b.get("/channels")) == []


def test_shutdown_ignores_the_body_and_get_is_not_allowed(api_for, alice, bob):
    b = api_for(bob)
    response = b.get("/shutdown")
    assert response.status_code == 405
    assert assert_ok(send(b, "POST", "/shutdown", raw=b"{not json")) == {"status": "shutdown"}
    assert_error(b.get("/status"), 503, SHUTTING_DOWN)
    assert assert_ok(api_for(alice).get("/status")) == {"status": "ready"}
