"""Direct and mediated payments between co-hosted nodes, through the REST API."""

from __future__ import annotations

import re

import pytest

from raidennode.protocol.hashing import sha256
from transfers_app.models import Message, Payment, StateChange

from .conftest import channel_of, pay

pytestmark = pytest.mark.django_db(transaction=True)

LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}000)?$")


def test_direct_payment_moves_balances_and_is_in_both_histories(pair, token):
    alice, bob, a, b = pair
    secret = "0x" + "11" * 32
    response = pay(a, token, bob, 30, identifier="42", secret=secret)
    assert response.status_code == 200, response.json_body
    assert response.json_body == {
        "initiator_address": alice.address,
        "target_address": bob.address,
        "token_address": token,
        "amount": "30",
        "identifier": "42",
        "secret": secret,
        "secret_hash": "0x" + sha256(bytes.fromhex(secret[2:])).hex(),
    }
    assert channel_of(a, token, bob)["balance"] == "70"
    assert channel_of(b, token, alice)["balance"] == "130"
    assert a.get("/pending_transfers").json_body == []
    assert b.get("/pending_transfers").json_body == []

    sent = a.get("/payments").json_body
    assert len(sent) == 1 and set(sent[0]) == {"event", "amount", "target", "identifier", "log_time", "token_address"}
    assert sent[0]["event"] == "EventPaymentSentSuccess"
    assert (sent[0]["amount"], sent[0]["target"], sent[0]["identifier"]) == ("30", bob.address, "42")
    assert LOG_TIME.match(sent[0]["log_time"]), sent[0]["log_time"]
    received = b.get(f"/payments/{token}/{alice.address}").json_body
    assert [(e["event"], e["amount"], e["initiator"], e["identifier"]) for e in received] == [
        ("EventPaymentReceivedSuccess", "30", alice.address, "42")
    ]
    # Every message was processed, and each node logged its state changes.
    assert set(Message.objects.values_list("status", flat=True)) == {"processed"}
    assert StateChange.objects.filter(node=alice, kind="payment_initiated").count() == 1
    assert StateChange.objects.filter(node=bob, kind="received_Unlock").count() == 1


def test_payments_in_both_directions_and_generated_identifier(pair, token):
    alice, bob, a, b = pair
    for _ in range(3):
        assert pay(a, token, bob, 10).status_code == 200
        assert pay(b, token, alice, 4).status_code == 200
    assert channel_of(a, token, bob)["balance"] == str(100 - 30 + 12)
    assert channel_of(b, token, alice)["balance"] == str(100 + 30 - 12)
    identifiers = {e["identifier"] for e in a.get("/payments").json_body if e["event"] == "EventPaymentSentSuccess"}
    assert len(identifiers) == 3 and all(0 < int(i) < 2**64 for i in identifiers)
    # limit and offset page the history (oldest first)
    page = a.get("/payments?limit=2&offset=1").json_body
    assert page == a.get("/payments").json_body[1:3]


def test_mediated_payment_over_two_hops(line, token):
    (alice, bob, carol), (a, b, c) = line
    response = pay(a, token, carol, 25)
    assert response.status_code == 200, response.json_body
    assert channel_of(a, token, bob)["balance"] == "75"
    assert channel_of(b, token, alice)["balance"] == "25"
    assert channel_of(b, token, carol)["balance"] == "75"
    assert channel_of(c, token, bob)["balance"] == "25"
    roles = dict(Payment.objects.values_list("node__address", "role"))
    assert roles == {alice.address: "initiator", bob.address: "mediator", carol.address: "target"}
    assert set(Payment.objects.values_list("status", flat=True)) == {"succeeded"}
    received = c.get("/payments").json_body
    assert [(e["event"], e["initiator"]) for e in received] == [("EventPaymentReceivedSuccess", alice.address)]
    # the mediator's history holds no payment events of its own
    assert b.get("/payments").json_body == []


def test_mediation_fees_are_paid_to_the_mediator(line, token):
    (alice, bob, carol), (a, b, c) = line
    bob.mediation_fee_flat = 4  # per mediation: 2 on each of its two channels, as in Raiden
    bob.save(update_fields=["mediation_fee_flat"])
    assert pay(a, token, carol, 20).status_code == 200
    paid = 100 - int(channel_of(a, token, bob)["balance"])
    received = int(channel_of(c, token, bob)["balance"])
    kept = int(channel_of(b, token, alice)["balance"]) - (100 - int(channel_of(b, token, carol)["balance"]))
    # Raiden's initiator adds a fee margin: the target gets at least the amount, the mediator its
    # fee, and nothing is created or lost on the way.
    assert received >= 20 and kept == 4
    assert paid == received + kept


def test_insufficient_balance_is_402_and_changes_nothing(pair, token):
    alice, bob, a, b = pair
    response = pay(a, token, bob, 101)
    assert response.status_code == 402, response.json_body
    assert "insufficient balance" in response.json_body["errors"]
    assert channel_of(a, token, bob)["balance"] == "100"
    assert Payment.objects.count() == 0 and Message.objects.count() == 0


def test_no_route_is_409(make_node, api_for, pair, token):
    alice, bob, a, b = pair
    stranger = make_node()
    response = pay(a, token, stranger, 5)
    assert response.status_code == 409, response.json_body
    assert response.json_body["errors"].startswith("Payment couldn't be completed because: ")
    assert channel_of(a, token, bob)["balance"] == "100"


def test_identifier_reuse(pair, token):
    alice, bob, a, b = pair
    assert pay(a, token, bob, 5, identifier="7").status_code == 200
    # the same payment again: answered with the first result, nothing paid twice
    again = pay(a, token, bob, 5, identifier="7")
    assert again.status_code == 200
    assert channel_of(a, token, bob)["balance"] == "95"
    # the same identifier for a different payment: 409
    other = pay(a, token, bob, 6, identifier="7")
    assert other.status_code == 409, other.json_body
    assert channel_of(a, token, bob)["balance"] == "95"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"amount": "0"}, 409, "Amount negative"),
        ({"amount": "5", "identifier": "0"}, 409, "Payment identifier cannot be 0 or negative"),
        ({"amount": "5", "identifier": str(2**64)}, 409, "Payment identifier is too large"),
        ({"amount": "5", "secret": "0x123"}, 400, None),
        ({"amount": "5", "secret": "0x" + "11" * 32, "secret_hash": "0x" + "22" * 32}, 409, "do not match"),
        ({"amount": "5", "lock_timeout": "1"}, 409, "None of the available routes could be used"),
        ({"identifier": "5"}, 400, None),
    ],
)
def test_payment_input_errors(pair, token, body, status, message):
    alice, bob, a, b = pair
    response = a.post(f"/payments/{token}/{bob.address}", body)
    assert response.status_code == status, response.json_body
    if message:
        assert message in response.json_body["errors"]
    assert channel_of(a, token, bob)["balance"] == "100"


def test_payment_history_errors(pair, token):
    alice, bob, a, b = pair
    assert a.get("/payments?limit=-1").json_body == {"errors": "limit must be a positive integer"}
    assert a.get("/payments?limit=x").status_code == 400
    # beyond SQL's bigint: all of them / past the end, never a 500
    assert a.get(f"/payments?limit={2**70}").status_code == 200
    assert a.get(f"/payments?offset={2**70}").json_body == []
    assert a.get("/payments?foo=1").status_code == 400
    unknown = a.get(f"/payments/{bob.address}")
    assert unknown.status_code == 400
    assert unknown.json_body == {"errors": "Token address does not match a Raiden token network"}
    assert a.get(f"/payments/{token}/{alice.address}").json_body == []
    assert a.get(f"/pending_transfers/{bob.address}").status_code == 404
    missing = a.get(f"/pending_transfers/{token}/{alice.address}")
    assert missing.status_code == 404 and "Channel" in missing.json_body["errors"]


def test_payment_to_a_node_not_hosted_here(pair, token):
    alice, bob, a, b = pair
    outsider = "0x" + "ab" * 20
    from raidennode.protocol.addresses import to_checksum_address

    response = a.post(f"/payments/{token}/{to_checksum_address(outsider)}", {"amount": "5"})
    assert response.status_code == 409, response.json_body
    assert "not hosted by this deployment" in response.json_body["errors"]
    assert Payment.objects.count() == 0


def test_explicit_paths_choose_the_route(line, token):
    (alice, bob, carol), (a, b, c) = line
    route = {"route": [alice.address, bob.address, carol.address], "address_metadata": {}}
    response = pay(a, token, carol, 5, paths=[route])
    assert response.status_code == 200, response.json_body
    assert channel_of(c, token, bob)["balance"] == "5"
    unusable = {"route": [alice.address, carol.address], "address_metadata": {}}
    refused = pay(a, token, carol, 5, paths=[unusable])
    assert refused.status_code == 409, refused.json_body
    bad = a.post(f"/payments/{token}/{carol.address}", {"amount": "5", "paths": [{"fake_route": []}]})
    assert bad.status_code == 400
    assert set(bad.json_body["errors"]["paths"]["0"]) == {"route", "address_metadata", "fake_route"}


def test_mediated_payment_over_three_hops(make_node, api_for, token):
    from .conftest import open_channel

    nodes = [make_node(tokens=1000) for _ in range(4)]
    apis = [api_for(node) for node in nodes]
    for index in range(3):
        open_channel(apis[index], token, nodes[index + 1], 50)
    response = pay(apis[0], token, nodes[3], 7)
    assert response.status_code == 200, response.json_body
    for index in range(3):
        assert channel_of(apis[index], token, nodes[index + 1])["balance"] == "43"
        assert channel_of(apis[index + 1], token, nodes[index])["balance"] == "7"
    roles = [Payment.objects.get(node=node).role for node in nodes]
    assert roles == ["initiator", "mediator", "mediator", "target"]
