"""API tokens over their life (command, admin, expiry, revocation), per-node limits and the audit log."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from raidennode.nodes.models import ApiToken, AuditEntry, PaymentLimit
from raidennode.nodes.tokens import api_token_create, api_token_digest
from transfers_app.models import Payment

from .conftest import AuthApi, basic_header, deposit, open_channel, pay, token_header

pytestmark = pytest.mark.django_db(transaction=True)


def api_with(node, key: str) -> AuthApi:
    return AuthApi(Client(), f"/nodes/{node.address}/api/v1", token_header(key))


def test_createtoken_and_revoketoken_commands(owned_node, settings):
    settings.RAIDEN_AUTH = True
    _user, node, _ = owned_node("carol")
    out, err = io.StringIO(), io.StringIO()
    call_command("createtoken", node.address, "--name", "cli", "--scope", "read", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert key.startswith("rn_") and len(key) > 40
    row = ApiToken.objects.get(key_digest=api_token_digest(key))
    assert (row.node, row.name, row.scope, row.expires_at) == (node, "cli", "read", None)
    assert f"token {row.key_prefix}… (read) for {node.address}" in err.getvalue()
    # only the digest is stored
    assert not ApiToken.objects.filter(key_digest=key).exists() and key not in str(list(ApiToken.objects.values()))
    api = api_with(node, key)
    assert api.get("/address").json_body == {"our_address": node.address}
    # Basic with the key as password, any user name (what clients with credentials in the URL send)
    basic = AuthApi(Client(), "/api/v1", basic_header(key, user="anything"))
    assert basic.get("/address").json_body == {"our_address": node.address}

    out = io.StringIO()
    call_command("revoketoken", row.key_prefix, stdout=out)
    assert f"revoked {row.key_prefix}" in out.getvalue()
    assert api.get("/address").status_code == 401
    with pytest.raises(CommandError, match="no live token"):
        call_command("revoketoken", row.key_prefix)
    with pytest.raises(CommandError, match="no node with address"):
        call_command("createtoken", "0x" + "12" * 20)
    with pytest.raises(CommandError, match="must be positive"):
        call_command("createtoken", node.address, "--expires-in-days", "0")

    out = io.StringIO()
    call_command("createtoken", node.address, "--expires-in-days", "1", stdout=out, stderr=io.StringIO())
    expiring = ApiToken.objects.get(key_digest=api_token_digest(out.getvalue().strip()))
    assert timedelta(hours=23) < expiring.expires_at - timezone.now() <= timedelta(days=1)


def test_an_expired_token_is_refused(owned_node, settings):
    settings.RAIDEN_AUTH = True
    _user, node, _ = owned_node("dave")
    row, key = api_token_create(node, expires_at=timezone.now() + timedelta(hours=1))
    api = api_with(node, key)
    assert api.get("/address").status_code == 200
    ApiToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = api.get("/address")
    assert refused.status_code == 401
    assert refused.json_body == {"errors": "Invalid, expired or revoked API token."}
    with pytest.raises(ValueError, match="in the future"):
        api_token_create(node, expires_at=timezone.now() - timedelta(seconds=1))


def test_operators_issue_and_revoke_tokens_in_the_admin(owned_node, settings):
    settings.RAIDEN_AUTH = True
    _user, node, _ = owned_node("erin")
    admin_user = get_user_model().objects.create_superuser("operator", password="pw")
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/nodes/apitoken/add/",
        {"node": node.pk, "name": "from the admin", "scope": "full", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "New API token for" in text
    key = text.split(f"New API token for {node.address}: ")[1].split()[0]
    row = ApiToken.objects.get(name="from the admin")
    assert row.key_digest == api_token_digest(key)
    api = api_with(node, key)
    assert api.get("/address").status_code == 200
    # the list shows prefixes, never keys
    listing = client.get("/admin/nodes/apitoken/").content.decode()
    assert row.key_prefix in listing and key not in listing
    client.post("/admin/nodes/apitoken/", {"action": "revoke_tokens", "_selected_action": [row.pk]}, follow=True)
    assert api.get("/address").status_code == 401


def test_requests_per_minute_limit(owned_node, settings):
    settings.RAIDEN_AUTH = True
    _user, node, key = owned_node("frank")
    _other_user, other, other_key = owned_node("grace")
    node.requests_per_minute = 3
    node.save(update_fields=["requests_per_minute"])
    api = api_with(node, key)
    # the counter is per wall-clock minute: start at the beginning of one, so that 4 requests share it
    import time

    if time.time() % 60 > 55:
        time.sleep(60 - time.time() % 60 + 0.1)
    assert [api.get("/address").status_code for _ in range(3)] == [200, 200, 200]
    limited = api.get("/address")
    assert limited.status_code == 429
    assert limited.json_body["errors"].startswith(
        "Request limit reached: this node accepts 3 API requests per minute; try again in"
    )
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # writes are limited too, and audited as refused
    assert api.post("/shutdown", {}).status_code == 429
    node.refresh_from_db()
    assert node.is_running
    assert AuditEntry.objects.filter(node=node, method="POST", status_code=429).exists()
    # another node has its own count
    assert [api_with(other, other_key).get("/address").status_code for _ in range(4)] == [200] * 4


def test_largest_payment_limit_and_the_audit_log(owned_node, api_for, token, settings):
    _ua, alice, alice_key = owned_node("alice", tokens=1000)
    _ub, bob, _ = owned_node("bob", tokens=1000)
    open_channel(api_for(alice), token, bob, 100)
    deposit(api_for(bob), token, alice, 10)
    PaymentLimit.objects.create(node=alice, token_address=token, max_amount=20)
    settings.RAIDEN_AUTH = True
    AuditEntry.objects.all().delete()
    api = api_with(alice, alice_key)

    refused = pay(api, token, bob, 21)
    assert refused.status_code == 429
    assert refused.json_body == {
        "errors": f"Payment limit exceeded: this node sends at most 20 of token {token} in one payment (asked 21)."
    }
    assert not Payment.objects.filter(node=alice).exists()  # nothing started
    secret = "0x" + "ab" * 32
    assert pay(api, token, bob, 20, secret=secret).status_code == 200
    assert api.get("/channels").status_code == 200  # reads are not audited

    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.method, e.status_code) for e in entries] == [("POST", 429), ("POST", 200)]
    refused_entry, paid_entry = entries
    path = f"/nodes/{alice.address}/api/v1/payments/{token}/{bob.address}"
    assert paid_entry.path == path and paid_entry.node == alice
    assert paid_entry.actor.startswith("token rn_") and paid_entry.api_token.node == alice
    assert paid_entry.user.username == "alice"
    # the secret is not kept in the log; the rest of the body is
    assert paid_entry.body == {"amount": "20", "secret": "<redacted>"}
    assert secret not in str(list(AuditEntry.objects.values()))
    assert paid_entry.result == "" and "Payment limit exceeded" in refused_entry.result

    # operators filter the log in the admin
    operator = get_user_model().objects.create_superuser("operator", password="pw")
    client = Client()
    client.force_login(operator)
    page = client.get("/admin/nodes/auditentry/", {"status_code": "429"}).content.decode()
    assert "Payment limit exceeded" in page and "/shutdown" not in page
    assert client.get(f"/admin/nodes/auditentry/{paid_entry.pk}/change/").status_code == 200
    assert client.post(f"/admin/nodes/auditentry/{paid_entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=paid_entry.pk).exists()
