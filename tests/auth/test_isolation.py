"""Isolation of users: every route of the URL configuration, walked with no credentials, with
another user's token, with another user's session and with a read-only token.

The victim has a channel and a payment; the attacker has a node of their own. Whatever the
attacker sends to the victim's node is answered as for a node that is not hosted here (404),
and nothing of the victim's changes. Without credentials every route answers 401.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from channels_app.models import ChainOperation, Channel
from raidennode.nodes.models import ApiToken, AuditEntry, Node
from raidennode.nodes.tokens import api_token_create
from tests.conftest import Api
from transfers_app.models import Message, Payment

from .conftest import AuthApi, basic_header, deposit, open_channel, pay, token_header

pytestmark = pytest.mark.django_db(transaction=True)

NODE_PREFIX = "nodes/<addr:node_address>/api/v1/"


def node_routes() -> list[tuple[str, list[str]]]:
    """(route relative to the API prefix, HTTP methods) of every v1 node route in the URL conf."""
    routes: dict[str, set[str]] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and prefix == NODE_PREFIX:
                actions = getattr(pattern.callback, "actions", None)
                assert actions, f"{pattern} is not a viewset route"
                routes.setdefault(str(pattern.pattern), set()).update(m.upper() for m in actions)

    walk(get_resolver().url_patterns, "")
    return sorted((route, sorted(methods)) for route, methods in routes.items())


ROUTES = node_routes()


def test_the_walk_covers_the_api():
    # If routes are added, they are walked too; this guards against an empty or partial walk.
    assert len(ROUTES) >= 20
    methods = {(route, method) for route, ms in ROUTES for method in ms}
    assert ("payments/<addr:token_address>/<addr:target_address>", "POST") in methods
    assert ("channels/<addr:token_address>/<addr:partner_address>", "PATCH") in methods
    assert ("shutdown", "POST") in methods
    assert all("<" not in concrete(route, "t", "p") for route, _ in ROUTES), "a path parameter the walk cannot fill"


def concrete(route: str, token: str, partner: str) -> str:
    return (
        route.replace("<addr:token_address>", token)
        .replace("<addr:partner_address>", partner)
        .replace("<addr:target_address>", partner)
        .replace("<int:identifier>", "1337")
    )


def body_for(route: str, method: str, token: str, partner: str) -> dict | None:
    """A body the route would act on if it were reached."""
    if method in ("GET", "DELETE"):
        return None
    if route == "channels":
        return {"token_address": token, "partner_address": partner, "total_deposit": "1"}
    if route.startswith("channels/"):
        return {"state": "closed"}
    if route.startswith(("payments/", "transfers/")):
        return {"amount": "1"}
    if route.startswith("token_swaps/"):
        return {
            "role": "maker",
            "sending_amount": "1",
            "sending_token": token,
            "receiving_amount": "1",
            "receiving_token": partner,
        }
    if route.startswith("connections/"):
        return {"funds": "10"}
    if route == "user_deposit":
        return {"total_deposit": "1"}
    if route.startswith("_testing"):
        return {"to": partner, "value": "1"}
    return {}


def calls(token: str, partner: str):
    for route, methods in ROUTES:
        for method in methods:
            yield method, "/" + concrete(route, token, partner), body_for(route, method, token, partner)


def state_of(node: Node) -> tuple:
    """Everything an attacker could try to change about a node."""
    node.refresh_from_db()
    return (
        node.state,
        list(
            Channel.objects.filter(node=node).values_list(
                "id",
                "local_state",
                "network_channel__state",
                "network_channel__participant1_deposit",
                "network_channel__participant2_deposit",
                "our_nonce",
                "our_transferred",
            )
        ),
        list(Payment.objects.filter(node=node).values_list("id", "status", "amount")),
        Message.objects.filter(sender_node=node).count(),
        ChainOperation.objects.filter(node=node).count(),
        ApiToken.objects.filter(node=node).count(),
    )


@pytest.fixture
def victim_and_attacker(owned_node, api_for, token, settings):
    """The victim (a channel to bob, one payment made) and the attacker (a node of their own)."""
    victim_user, victim, victim_key = owned_node("victim", tokens=1000)
    _bob_user, bob, _ = owned_node("bob", tokens=1000)
    attacker_user, attacker, attacker_key = owned_node("attacker", tokens=1000)
    # set up with auth off (the default of the test suite), then switch it on
    open_channel(api_for(victim), token, bob, 100)
    deposit(api_for(bob), token, victim, 50)
    assert pay(api_for(victim), token, bob, 7).status_code == 200
    settings.RAIDEN_AUTH = True
    return {
        "victim": victim,
        "victim_user": victim_user,
        "victim_key": victim_key,
        "bob": bob,
        "attacker": attacker,
        "attacker_user": attacker_user,
        "attacker_key": attacker_key,
    }


def test_without_credentials_every_route_answers_401(victim_and_attacker, token):
    victim, bob = victim_and_attacker["victim"], victim_and_attacker["bob"]
    before = state_of(victim)
    client = Client()
    for prefix in (f"/nodes/{victim.address}/api/v1", "/api/v1", f"/nodes/{victim.address}/api/1"):
        api = Api(client, prefix)
        for method, path, body in calls(token, bob.address):
            response = api.request(method, path, body)
            assert response.status_code == 401, (method, prefix + path, response.content)
            assert "Authentication required" in response.json_body["errors"]
            assert response.headers["WWW-Authenticate"] == 'Basic realm="raiden"'
    assert state_of(victim) == before
    # a wrong key is refused as such
    bad = AuthApi(client, f"/nodes/{victim.address}/api/v1", token_header("rn_not-a-key"))
    assert bad.get("/address").status_code == 401
    assert bad.get("/address").json_body == {"errors": "Invalid, expired or revoked API token."}


@pytest.mark.parametrize("credential", ["token", "basic", "session"])
def test_another_users_node_is_404_on_every_route(victim_and_attacker, token, credential):
    victim, bob, attacker = (victim_and_attacker[k] for k in ("victim", "bob", "attacker"))
    before = state_of(victim)
    client = Client()
    key = victim_and_attacker["attacker_key"]
    if credential == "session":
        client.force_login(victim_and_attacker["attacker_user"])
        headers = {}
    else:
        headers = token_header(key) if credential == "token" else basic_header(key)
    foreign = AuthApi(client, f"/nodes/{victim.address}/api/v1", headers)
    walked = 0
    for method, path, body in calls(token, bob.address):
        response = foreign.request(method, path, body)
        assert response.status_code == 404, (method, path, response.content)
        # answered exactly as for a node that is not hosted here: nothing to learn
        assert response.json_body == {
            "errors": ["invalid endpoint", f"No node with address {victim.address} is hosted here."]
        }
        walked += 1
    assert walked >= 25
    assert state_of(victim) == before
    assert victim.is_running

    # The attacker's own node answers (the same credential works), and the default prefix
    # serves the caller's own node, never the deployment's default (the victim is older).
    own = AuthApi(client, f"/nodes/{attacker.address}/api/v1", headers)
    assert own.get("/address").json_body == {"our_address": attacker.address}
    default = AuthApi(client, "/api/v1", headers)
    assert default.get("/address").json_body == {"our_address": attacker.address}
    # The victim's channel and payment are not the attacker's: 404 and empty lists.
    assert own.get(f"/channels/{token}/{bob.address}").status_code == 404
    assert own.get("/channels").json_body == []
    assert own.get("/payments").json_body == []
    assert own.get(f"/payments/{token}/{bob.address}").json_body == []
    assert own.get("/pending_transfers").json_body == []


def test_the_owner_reaches_their_node_with_each_credential(victim_and_attacker, token):
    victim, bob, key = victim_and_attacker["victim"], victim_and_attacker["bob"], victim_and_attacker["victim_key"]
    session = Client()
    session.force_login(victim_and_attacker["victim_user"])
    for client, headers in ((Client(), token_header(key)), (Client(), basic_header(key)), (session, {})):
        api = AuthApi(client, f"/nodes/{victim.address}/api/v1", headers)
        assert api.get("/address").json_body == {"our_address": victim.address}
        channel = api.get(f"/channels/{token}/{bob.address}")
        assert channel.status_code == 200 and channel.json_body["balance"] == str(100 - 7)
        events = api.get("/payments").json_body
        assert [(e["event"], e["amount"]) for e in events] == [("EventPaymentSentSuccess", "7")]
    # and a write goes through
    api = AuthApi(Client(), f"/nodes/{victim.address}/api/v1", token_header(key))
    assert pay(api, token, bob, 3).status_code == 200


def test_read_only_token_reads_but_cannot_write(victim_and_attacker, token):
    victim, bob = victim_and_attacker["victim"], victim_and_attacker["bob"]
    _row, read_key = api_token_create(victim, scope=ApiToken.Scope.READ)
    before = state_of(victim)
    api = AuthApi(Client(), f"/nodes/{victim.address}/api/v1", token_header(read_key))
    for method, path, body in calls(token, bob.address):
        response = api.request(method, path, body)
        if method == "GET":
            assert response.status_code != 403, (method, path)
        else:
            assert response.status_code == 403, (method, path, response.content)
            assert response.json_body == {
                "errors": "This API token is read-only; a full token is needed to change anything."
            }
    assert api.get(f"/channels/{token}/{bob.address}").status_code == 200
    assert state_of(victim) == before


def test_session_writes_need_the_csrf_token(victim_and_attacker, token):
    """The WebUI's session: Angular sends the XSRF-TOKEN cookie back as X-XSRF-TOKEN."""
    victim, bob = victim_and_attacker["victim"], victim_and_attacker["bob"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(victim_and_attacker["victim_user"])
    api = Api(client, f"/nodes/{victim.address}/api/v1")
    refused = pay(api, token, bob, 1)
    assert refused.status_code == 403 and "CSRF" in refused.json_body["errors"]
    assert api.get("/address").status_code == 200  # reads need no CSRF token
    # Django sets the cookie on any page that asks for a token, e.g. the admin login page
    client.get("/admin/login/")
    csrf = client.cookies["XSRF-TOKEN"].value
    paid = api.post(f"/payments/{token}/{bob.address}", {"amount": "1"}, HTTP_X_XSRF_TOKEN=csrf)
    assert paid.status_code == 200, paid.json_body


def test_audit_entries_of_refused_calls(victim_and_attacker, token):
    victim, bob = victim_and_attacker["victim"], victim_and_attacker["bob"]
    AuditEntry.objects.all().delete()
    foreign = AuthApi(Client(), f"/nodes/{victim.address}/api/v1", token_header(victim_and_attacker["attacker_key"]))
    assert foreign.patch(f"/channels/{token}/{bob.address}", {"state": "closed"}).status_code == 404
    assert Api(Client(), f"/nodes/{victim.address}/api/v1").post("/shutdown", {}).status_code == 401
    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.method, e.status_code, e.node_id) for e in entries] == [("PATCH", 404, None), ("POST", 401, None)]
    assert entries[0].actor.startswith("token rn_") and entries[0].api_token.node == victim_and_attacker["attacker"]
    assert entries[1].actor == "anonymous"
    assert "is hosted here" in entries[0].result and "Authentication required" in entries[1].result
