"""A channel's whole life between two co-hosted nodes, through the REST API, on a real chain."""

import pytest

from channels_app.services.duties import chain_duties_run
from channels_app.services.ingest import chain_ingest_all
from tests.conftest import TEST_SETTLE_TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)


def test_open_deposit_close_settle(chain_env, make_node, api_for, token):
    alice, bob = make_node(tokens=1000), make_node(tokens=1000)
    a, b = api_for(alice), api_for(bob)

    opened = a.put("/channels", {"token_address": token, "partner_address": bob.address, "total_deposit": "100"})
    assert opened.status_code == 201, opened.json_body
    channel = opened.json_body
    assert channel["state"] == "opened"
    assert channel["total_deposit"] == "100" and channel["balance"] == "100"
    assert channel["settle_timeout"] == str(TEST_SETTLE_TIMEOUT)

    # The partner's node sees the channel its partner opened.
    seen = b.get(f"/channels/{token}/{alice.address}")
    assert seen.status_code == 200, seen.json_body
    assert seen.json_body["channel_identifier"] == channel["channel_identifier"]
    assert seen.json_body["total_deposit"] == "0"

    deposited = b.patch(f"/channels/{token}/{alice.address}", {"total_deposit": 50})
    assert deposited.status_code == 200, deposited.json_body
    assert deposited.json_body["total_deposit"] == "50"
    assert chain_env.token_balance(chain_env.token_network) == 150

    closed = a.patch(f"/channels/{token}/{bob.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    assert closed.json_body["state"] == "closed"
    assert b.get(f"/channels/{token}/{alice.address}").json_body["state"] == "closed"

    # Inside the settlement window a manual settle is refused.
    early = b.patch(f"/channels/{token}/{alice.address}", {"state": "settled"})
    assert early.status_code == 409, early.json_body

    chain_env.mine(TEST_SETTLE_TIMEOUT + 1)
    chain_ingest_all()
    assert chain_duties_run() == 1
    chain_ingest_all()
    for _ in range(100):
        chain_ingest_all()
        if a.get(f"/channels/{token}/{bob.address}").status_code == 404:
            break
    assert a.get(f"/channels/{token}/{bob.address}").status_code == 404
    assert chain_env.token_balance(alice.address) == 1000
    assert chain_env.token_balance(bob.address) == 1000
    assert chain_env.token_balance(chain_env.token_network) == 0
