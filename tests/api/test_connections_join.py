"""PUT /connections/<t>: joining a token network (the older API, seed 002; spec 4.10's history),
and the ``funds`` it adds to GET /connections."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from channels_app.models import ChainOperation, TokenNetworkConnection
from channels_app.services.connections import funding_per_channel
from channels_app.services.ingest import chain_ingest_all
from channels_app.services.operations import operations_sweep
from raidennode.chain.deploy import deploy_token
from tests.api.support import (
    UINT256_MAX,
    assert_error,
    assert_field_errors,
    assert_ok,
    assert_payload_expected,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True)

GAS_RESERVE_MESSAGE = "The account balance is below the estimated amount necessary to finish the lifecycles"


def open_channel(api, token: str, partner, deposit: int = 0) -> dict:
    body = {"token_address": token, "partner_address": partner.address}
    if deposit:
        body["total_deposit"] = str(deposit)
    return assert_ok(api.put("/channels", body), 201)


def connect(api, token: str, body) -> None:
    """A successful connect: 204 No Content with an empty body."""
    response = send(api, "PUT", f"/connections/{token}", body=body)
    assert response.status_code == 204, (response.status_code, response.content)
    assert response.content == b""


def deposits(api, token: str) -> dict[str, int]:
    """{partner: our total deposit} over the node's open channels, in creation order."""
    channels = assert_ok(api.get(f"/channels/{token}"))
    return {c["partner_address"]: int(c["total_deposit"]) for c in channels if c["state"] == "opened"}


@pytest.fixture
def network(make_node, api_for, token):
    """bob, carol, dave and erin with open channels among them: bob has 3, carol and dave 2, erin 1.

    Returns the nodes in the order a connect prefers them (most channels first, then address)."""
    bob, carol, dave, erin = (make_node(name=name) for name in ("bob", "carol", "dave", "erin"))
    b, c = api_for(bob), api_for(carol)
    for partner in (carol, dave, erin):
        open_channel(b, token, partner, 10)
    open_channel(c, token, dave, 10)
    middle = sorted((carol, dave), key=lambda n: n.address.lower())
    return [bob, *middle, erin]


def test_funding_per_channel_is_exact():
    assert funding_per_channel(100, 3, Decimal("0.4")) == 20
    assert funding_per_channel(1, 3, Decimal("0.4")) == 0
    assert funding_per_channel(100, 0, Decimal("0.4")) == 0
    assert funding_per_channel(100, 2, Decimal("1")) == 0
    assert funding_per_channel(90, 2, Decimal("0")) == 45
    # No float (or 28-digit Decimal) rounding, even at uint256 sizes.
    assert funding_per_channel(UINT256_MAX, 3, Decimal("0.4")) == UINT256_MAX // 5


def test_connect_opens_funded_channels_with_the_best_connected_partners(api_for, alice, network, chain_env, token):
    a = api_for(alice)
    in_network = chain_env.token_balance(chain_env.token_network)
    assert assert_ok(a.get("/connections")) == {}

    # Defaults: initial_channel_target 3, joinable_funds_target 0.4: 3 channels of 100 * 0.6 / 3.
    connect(a, token, {"funds": 100})
    expected = network[:3]
    assert deposits(a, token) == {p.address: 20 for p in expected}
    assert chain_env.token_balance(alice.address) == 940
    assert chain_env.token_balance(chain_env.token_network) == in_network + 60
    # The partners see the new channels, with their own (zero) deposit.
    for partner in expected:
        channel = assert_ok(api_for(partner).get(f"/channels/{token}/{alice.address}"))
        assert channel["state"] == "opened" and channel["total_deposit"] == "0"
    assert assert_ok(a.get("/connections")) == {token: {"funds": "100", "sum_deposits": "60", "channels": "3"}}
    # Only the connecting node has funds; the others never connected.
    assert assert_ok(api_for(network[0]).get("/connections")) == {
        token: {"funds": "0", "sum_deposits": "30", "channels": "4"}
    }

    # Connecting again with more funds deposits the difference into the same channels.
    connect(a, token, {"funds": "200"})
    assert deposits(a, token) == {p.address: 40 for p in expected}
    assert chain_env.token_balance(alice.address) == 880
    assert assert_ok(a.get("/connections")) == {token: {"funds": "200", "sum_deposits": "120", "channels": "3"}}

    # A higher target: the funded channels count, and only one partner is left to open with.
    connect(a, token, {"funds": 200, "initial_channel_target": 5})
    assert deposits(a, token) == {**{p.address: 40 for p in expected}, network[3].address: 24}
    assert chain_env.token_balance(alice.address) == 856
    assert assert_ok(a.get("/connections")) == {token: {"funds": "200", "sum_deposits": "144", "channels": "4"}}
    assert chain_env.token_balance(chain_env.token_network) == in_network + 144

    # Leaving closes them all, as before, and forgets the funds.
    left = assert_ok(a.delete(f"/connections/{token}"))
    assert [c["state"] for c in left] == ["closed"] * 4
    assert assert_ok(a.get("/connections")) == {}
    assert not TokenNetworkConnection.objects.filter(node=alice).exists()


def test_connect_on_the_old_prefix_tops_up_existing_channels_first(api_for, alice, network, chain_env, token):
    old = api_for(None, version="1")  # alice is the default node
    erin = network[3]
    open_channel(old, token, erin, 5)

    # 90 * (1 - 0) / 2 = 45 per channel: erin's channel (5) is topped up, one new channel with bob.
    connect(old, token, {"funds": "90", "initial_channel_target": "2", "joinable_funds_target": 0})
    assert deposits(old, token) == {erin.address: 45, network[0].address: 45}
    assert chain_env.token_balance(alice.address) == 910
    summary = {token: {"funds": "90", "sum_deposits": "90", "channels": "2"}}
    assert assert_ok(old.get("/connections")) == summary
    assert assert_ok(api_for(alice).get("/connections")) == summary
    row = TokenNetworkConnection.objects.get(node=alice)
    assert (row.funds, row.initial_channel_target, row.joinable_funds_target) == (90, 2, Decimal(0))
    assert row.joining_until is None

    # A fraction as a string or a JSON number; nothing to do when every channel is funded.
    connect(old, token, {"funds": 90, "initial_channel_target": 1, "joinable_funds_target": "0.5"})
    connect(old, token, {"funds": 80, "initial_channel_target": 2, "joinable_funds_target": 0.25})
    assert deposits(old, token) == {erin.address: 45, network[0].address: 45}
    row.refresh_from_db()
    assert (row.funds, row.initial_channel_target, row.joinable_funds_target) == (80, 2, Decimal("0.25"))
    assert assert_ok(old.get("/connections"))[token]["funds"] == "80"


def test_connect_without_partners_remembers_the_funds(api_for, alice, bob, chain_env, token):
    a = api_for(alice)
    connect(a, token, {"funds": 100})
    assert assert_ok(a.get(f"/channels/{token}")) == []
    assert not ChainOperation.objects.exists()
    assert chain_env.token_balance(alice.address) == 1000
    # No open channel yet, so no entry (as in the reference).
    assert assert_ok(a.get("/connections")) == {}
    assert TokenNetworkConnection.objects.get(node=alice).funds == 100

    # A channel that bob opens shows up with the remembered funds (no automatic deposit into it).
    open_channel(api_for(bob), token, alice, 7)
    assert assert_ok(a.get("/connections")) == {token: {"funds": "100", "sum_deposits": "0", "channels": "1"}}
    assert assert_ok(api_for(bob).get("/connections")) == {token: {"funds": "0", "sum_deposits": "7", "channels": "1"}}

    # A target of 0 opens nothing either, bob's channel stays unfunded; the funds are replaced.
    connect(a, token, {"funds": 10, "initial_channel_target": 0})
    assert deposits(a, token) == {bob.address: 0}
    assert assert_ok(a.get("/connections"))[token]["funds"] == "10"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"initial_channel_target": 1}, {"funds": ["Missing data for required field."]}),
        ({"funds": None}, {"funds": ["Field may not be null."]}),
        ({"funds": "ten"}, {"funds": ["Not a valid integer."]}),
        ({"funds": True}, {"funds": ["Not a valid integer."]}),
        ({"funds": "1.5"}, {"funds": ["Not a valid integer."]}),
        ({"funds": 1, "initial_channel_target": "x"}, {"initial_channel_target": ["Not a valid integer."]}),
        ({"funds": 1, "joinable_funds_target": "abc"}, {"joinable_funds_target": ["Not a valid number."]}),
        ({"funds": 1, "joinable_funds_target": True}, {"joinable_funds_target": ["Not a valid number."]}),
        ({"funds": 1, "joinable_funds_target": [0.4]}, {"joinable_funds_target": ["Not a valid number."]}),
        (
            {"funds": 1, "joinable_funds_target": "NaN"},
            {"joinable_funds_target": ["Special numeric values (nan or infinity) are not permitted."]},
        ),
        ({"funds": 1, "only_receiving_channels": False}, {"only_receiving_channels": ["Unknown field."]}),
        (
            {"funds": "x", "initial_channel_target": None, "joinable_funds_target": "y"},
            {"funds": ["Not a valid integer."], "joinable_funds_target": ["Not a valid number."]},
        ),
    ],
)
def test_connect_input_errors(api, chain_env, token, body, errors):
    assert_field_errors(api.put(f"/connections/{token}", body), errors)
    assert not TokenNetworkConnection.objects.exists()


def test_connect_without_a_json_body(api, api_for, chain_env, token):
    for prefix_api in (api, api_for(None, version="1")):
        assert_payload_expected(send(prefix_api, "PUT", f"/connections/{token}", body={}))
        assert_payload_expected(send(prefix_api, "PUT", f"/connections/{token}", raw=b"", content_type=None))
        assert_payload_expected(
            send(prefix_api, "PUT", f"/connections/{token}", raw=b'{"funds": 1}', content_type="text/plain")
        )
        response = send(prefix_api, "PUT", f"/connections/{token}", raw=b"[1]")
        assert_field_errors(response, {"_schema": ["Invalid input type."]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"funds": 0}, "The funds to use in the connection need to be a positive integer"),
        ({"funds": "-1"}, "The funds to use in the connection need to be a positive integer"),
        ({"funds": 10, "initial_channel_target": -1}, "initial_channel_target must be between 0 and 2147483647"),
        ({"funds": 10, "initial_channel_target": 2**31}, "initial_channel_target must be between 0 and 2147483647"),
        ({"funds": 10, "joinable_funds_target": "1.5"}, "joinable_funds_target must be between 0 and 1"),
        ({"funds": 10, "joinable_funds_target": -0.1}, "joinable_funds_target must be between 0 and 1"),
    ],
)
def test_connect_conflicts(api, chain_env, token, body, message):
    assert_error(api.put(f"/connections/{token}", body), 409, message)
    assert not TokenNetworkConnection.objects.exists()


def test_connect_to_an_unregistered_token(api, api_for, chain_env, bob):
    unknown = deploy_token(chain_env.deployer, 10**18, 18, "Unknown", "UNK")
    for prefix_api in (api, api_for(None, version="1")):
        for address in (unknown, bob.address):
            assert_error(
                prefix_api.put(f"/connections/{address}", {"funds": 1}),
                409,
                f"Token network for token {address} does not exist",
            )
    assert not TokenNetworkConnection.objects.exists()


def test_connect_with_too_few_tokens_is_402(api_for, alice, bob, carol_node, chain_env, token):
    a = api_for(alice)
    open_channel(api_for(bob), token, carol_node)
    assert_error(
        a.put(f"/connections/{token}", {"funds": 1001}),
        402,
        f"Not enough balance to connect. {token} Available=1000 Needed=1001",
    )
    # Re-connecting counts what is already deposited in the token network's open channels.
    open_channel(a, token, bob, 600)
    assert_error(
        api_for(None, version="1").put(f"/connections/{token}", {"funds": 1001}),
        402,
        f"Not enough balance to connect. {token} Available=400 Needed=401",
    )
    assert not TokenNetworkConnection.objects.exists()
    assert ChainOperation.objects.filter(node=alice, kind="channel_open").count() == 1
    # Exactly enough: bob's channel (600) counts as funded, carol gets 1000 * 0.6 / 3 = 200.
    connect(a, token, {"funds": 1000})
    assert deposits(a, token) == {bob.address: 600, carol_node.address: 200}
    assert chain_env.token_balance(alice.address) == 200


@pytest.fixture
def carol_node(make_node):
    return make_node(name="carol")


def test_connect_without_eth_is_402(api_for, alice, bob, carol_node, chain_env, token):
    open_channel(api_for(bob), token, carol_node)
    chain_env.set_eth(alice.address, 0)
    for prefix_api in (api_for(alice), api_for(None, version="1")):
        response = prefix_api.put(f"/connections/{token}", {"funds": 100})
        assert response.status_code == 402, response.json_body
        assert response.json_body["errors"].startswith(GAS_RESERVE_MESSAGE), response.json_body
    assert not ChainOperation.objects.filter(node=alice).exists(), "nothing may be queued for the chain"
    assert not TokenNetworkConnection.objects.exists()

    # With ETH again: both nodes of the network (fewer than the target of 3) get a channel.
    chain_env.set_eth(alice.address, 10**20)
    connect(api_for(alice), token, {"funds": 100})
    assert deposits(api_for(alice), token) == {
        p.address: 20 for p in sorted((bob, carol_node), key=lambda n: n.address.lower())
    }


def test_connect_not_mined_in_time_is_408(api_for, alice, bob, carol_node, chain_env, token, settings, eager_celery):
    a = api_for(alice)
    open_channel(api_for(bob), token, carol_node)
    settings.RAIDEN_TRANSACTION_TIMEOUT = 1
    chain_env.client.rpc("evm_setAutomine", [False])
    try:
        response = a.put(f"/connections/{token}", {"funds": 100, "initial_channel_target": 1})
        assert response.status_code == 408, response.json_body
        assert "not mined in time" in response.json_body["errors"]
    finally:
        chain_env.client.rpc("evm_setAutomine", [True])
    # The funds were remembered before the transaction, and the connect's lease is released.
    row = TokenNetworkConnection.objects.get(node=alice)
    assert (row.funds, row.joining_until) == (100, None)
    chain_env.mine(1)
    assert operations_sweep() == 1
    chain_ingest_all()
    first = min((bob, carol_node), key=lambda n: n.address.lower())
    assert deposits(a, token) == {first.address: 60}
    assert assert_ok(a.get("/connections")) == {token: {"funds": "100", "sum_deposits": "60", "channels": "1"}}


def test_a_second_connect_waits_for_the_first(api, alice, chain_env, token, settings):
    settings.RAIDEN_CONFIRMATION_TIMEOUT = 0.3
    connect(api, token, {"funds": 5})
    row = TokenNetworkConnection.objects.get(node=alice)
    # A connect in progress (its lease) holds off another one: 409 once the wait is over.
    TokenNetworkConnection.objects.filter(pk=row.pk).update(joining_until=timezone.now() + timedelta(minutes=5))
    assert_error(
        api.put(f"/connections/{token}", {"funds": 50}),
        409,
        f"Another connect of this node to the token network of {token} is in progress",
    )
    row.refresh_from_db()
    assert row.funds == 5
    # A lease left behind by a crashed connect expires.
    TokenNetworkConnection.objects.filter(pk=row.pk).update(joining_until=timezone.now() - timedelta(seconds=1))
    connect(api, token, {"funds": 50})
    row.refresh_from_db()
    assert (row.funds, row.joining_until) == (50, None)


def test_register_token_answers_the_channel_manager_address_on_both_prefixes(api_for, alice, chain_env):
    for prefix_api in (api_for(alice), api_for(None, version="1")):
        new_token = deploy_token(chain_env.deployer, 10**20, 18, "New", "NEW")
        body = assert_ok(prefix_api.put(f"/tokens/{new_token}"), 201)
        assert set(body) == {"token_network_address", "channel_manager_address"}
        assert body["channel_manager_address"] == body["token_network_address"]
        assert assert_ok(prefix_api.get(f"/tokens/{new_token}")) == body["token_network_address"]


def test_options_lists_put(api, token):
    response = api.request("OPTIONS", f"/connections/{token}")
    assert response.status_code == 200
    assert set(response["Allow"].split(", ")) == {"PUT", "DELETE", "OPTIONS"}
    not_allowed = send(api, "GET", f"/connections/{token}")
    assert not_allowed.status_code == 405
    assert set(not_allowed["Allow"].split(", ")) == {"PUT", "DELETE", "OPTIONS"}
