"""POST /transfers/<token>/<target>: the older API's name for a payment (seeds/002), on both prefixes."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from transfers_app.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)


def transfer(api: Api, token: str, target, body: dict):
    return api.post(f"/transfers/{token}/{target.address}", body)


@pytest.mark.parametrize("version", ["1", "v1"])
def test_a_transfer_is_a_payment(pair, api_for, token, version):
    alice, bob, _a, _b = pair
    api = api_for(alice, version=version)
    # the older document sends JSON numbers; v1 clients send strings: both are accepted
    response = transfer(api, token, bob, {"amount": 200 // 10, "identifier": 42})
    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert {k: body[k] for k in ("initiator_address", "target_address", "token_address", "amount", "identifier")} == {
        "initiator_address": alice.address,
        "target_address": bob.address,
        "token_address": token,
        "amount": "20",
        "identifier": "42",
    }
    assert Payment.objects.get(node=alice, payment_identifier=42).status == "succeeded"
    # and it is listed as a payment
    events = api_for(bob).get("/payments").json_body
    assert [(e["event"], e["amount"], e["identifier"]) for e in events] == [("EventPaymentReceivedSuccess", "20", "42")]


def test_transfer_errors_as_the_document_lists(pair, make_node, api_for, token):
    alice, bob, _a, _b = pair
    api = api_for(alice, version="1")
    malformed = api.post(f"/transfers/{token}/{bob.address}", raw=b"{not json")
    assert malformed.status_code == 400
    assert transfer(api, token, bob, {"identifier": 1}).status_code == 400  # amount missing
    assert transfer(api, token, bob, {"amount": 10**6}).status_code == 402  # more than the channel holds
    stranger = make_node()
    assert transfer(api, token, stranger, {"amount": 1}).status_code == 409  # no route
    assert transfer(api, token, bob, {"amount": 0}).status_code == 409  # invalid amount
    assert not Payment.objects.filter(node=alice, status="succeeded").exists()
