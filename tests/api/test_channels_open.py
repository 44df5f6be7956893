"""GET /channels, /channels/<t>, /channels/<t>/<p> and PUT /channels (spec 3.1, 4.5-4.7)."""

from __future__ import annotations

import pytest

from raidennode.chain.deploy import deploy_token, mint_tokens
from raidennode.chain.proxies import TokenNetworkProxy
from tests.api.support import (
    CHANNEL_KEYS,
    NULL_ADDRESS,
    SETTLE_TIMEOUT_MAX,
    SETTLE_TIMEOUT_MIN,
    TEST_REVEAL_TIMEOUT,
    TEST_SETTLE_TIMEOUT,
    assert_error,
    assert_field_errors,
    assert_ok,
    lower,
)

pytestmark = pytest.mark.django_db(transaction=True)

SETTLE_TOO_SMALL_PREFIX = "`settle_timeout` can not be smaller than double the `reveal_timeout`."


def not_found(partner: str, token: str) -> str:
    return f"Channel with partner '{partner}' for token '{token}' could not be found."


def test_open_a_channel(api_for, alice, bob, make_node, chain_env, token):
    a, b = api_for(alice), api_for(bob)
    assert assert_ok(a.get("/channels")) == []
    assert assert_ok(a.get(f"/channels/{token}")) == []
    assert_error(a.get(f"/channels/{token}/{bob.address}"), 404, not_found(bob.address, token))

    channel = assert_ok(a.put("/channels", {"token_address": token, "partner_address": bob.address}), 201)
    assert channel == {
        "channel_identifier": "1",
        "token_network_address": chain_env.token_network,
        "token_address": token,
        "partner_address": bob.address,
        "settle_timeout": str(TEST_SETTLE_TIMEOUT),
        "reveal_timeout": str(TEST_REVEAL_TIMEOUT),
        "balance": "0",
        "state": "opened",
        "total_deposit": "0",
        "total_withdraw": "0",
        "network_state": "unknown",
    }
    assert set(channel) == CHANNEL_KEYS  # exactly 11 keys
    network = TokenNetworkProxy(chain_env.client, chain_env.token_network)
    assert network.channel_identifier(alice.address, bob.address) == 1

    assert assert_ok(a.get("/channels")) == [channel]
    assert assert_ok(a.get(f"/channels/{token}")) == [channel]
    assert assert_ok(a.get(f"/channels/{token}/{bob.address}")) == channel
    # The partner node sees the channel too, from its side.
    seen = assert_ok(b.get(f"/channels/{token}/{alice.address}"))
    assert seen == {**channel, "partner_address": alice.address}

    # Opening again while the channel is open answers 200 with the channel (Raiden's race path).
    again = a.put("/channels", {"token_address": token, "partner_address": bob.address})
    assert assert_ok(again, 200) == channel
    # ... and so does the partner opening the same channel.
    assert assert_ok(b.put("/channels", {"token_address": token, "partner_address": alice.address}), 200) == seen

    carol = make_node(name="carol")
    second = assert_ok(a.put("/channels", {"token_address": token, "partner_address": carol.address}), 201)
    assert second["channel_identifier"] == "2"
    assert [c["partner_address"] for c in assert_ok(a.get("/channels"))] == [bob.address, carol.address]
    # An unknown token lists nothing; an unknown token or partner is a 404 with Raiden's message.
    other = deploy_token(chain_env.deployer, 1, 18, "Other", "OTH")
    assert assert_ok(a.get(f"/channels/{other}")) == []
    assert_error(a.get(f"/channels/{other}/{bob.address}"), 404, not_found(bob.address, other))
    assert_error(a.get(f"/channels/{token}/{alice.address}"), 404, not_found(alice.address, token))
    assert_error(api_for(carol).get(f"/channels/{token}/{bob.address}"), 404, not_found(bob.address, token))


def test_open_with_deposit_and_timeouts(api_for, alice, bob, chain_env, token):
    a = api_for(alice)
    body = {
        "token_address": token,
        "partner_address": bob.address,
        "settle_timeout": "30",
        "reveal_timeout": 7,
        "total_deposit": "100",
    }
    channel = assert_ok(a.put("/channels", body), 201)
    assert (channel["settle_timeout"], channel["reveal_timeout"]) == ("30", "7")
    assert (channel["total_deposit"], channel["balance"], channel["state"]) == ("100", "100", "opened")
    assert chain_env.token_balance(chain_env.token_network) == 100
    assert chain_env.token_balance(alice.address) == 900

    # Duplicate open with a higher total deposit: 200, and the deposit is made.
    again = assert_ok(a.put("/channels", {**body, "total_deposit": 150}), 200)
    assert (again["channel_identifier"], again["total_deposit"], again["balance"]) == ("1", "150", "150")
    assert chain_env.token_balance(chain_env.token_network) == 150


def test_open_integer_forms_and_null_optionals(api_for, alice, bob, make_node, token):
    a = api_for(alice)
    channel = assert_ok(
        a.put(
            "/channels",
            {
                "token_address": token,
                "partner_address": bob.address,
                "settle_timeout": 25.9,  # JSON floats are truncated
                "reveal_timeout": " 6 ",  # Python int() rules
                "total_deposit": 10.5,
            },
        ),
        201,
    )
    assert (channel["settle_timeout"], channel["reveal_timeout"], channel["total_deposit"]) == ("25", "6", "10")
    carol = make_node(name="carol")
    # null for an optional field is the same as leaving it out.
    channel = assert_ok(
        a.put(
            "/channels",
            {
                "token_address": token,
                "partner_address": carol.address,
                "settle_timeout": None,
                "reveal_timeout": None,
                "total_deposit": None,
            },
        ),
        201,
    )
    assert channel["settle_timeout"] == str(TEST_SETTLE_TIMEOUT)
    assert channel["reveal_timeout"] == str(TEST_REVEAL_TIMEOUT)
    assert channel["total_deposit"] == "0"


def test_open_with_a_partner_hosted_elsewhere(api, chain_env, token):
    stranger = "0x52908400098527886E0F7030069857D2E4169EE7"  # not a node of this deployment
    channel = assert_ok(
        api.put("/channels", {"token_address": token, "partner_address": stranger, "total_deposit": 5}), 201
    )
    assert (channel["partner_address"], channel["total_deposit"], channel["state"]) == (stranger, "5", "opened")
    assert assert_ok(api.get(f"/channels/{token}/{stranger}")) == channel
    assert assert_ok(api.patch(f"/channels/{token}/{stranger}", {"total_deposit": 8}))["balance"] == "8"
    assert chain_env.token_balance(chain_env.token_network) == 8


def test_settle_timeout_bounds(api_for, alice, bob, make_node, token):
    a = api_for(alice)
    base = {"token_address": token, "partner_address": bob.address, "reveal_timeout": 1}
    assert_error(
        a.put("/channels", {**base, "settle_timeout": SETTLE_TIMEOUT_MIN - 1}),
        409,
        f"Settlement timeout should be at least {SETTLE_TIMEOUT_MIN}",
    )
    assert_error(
        a.put("/channels", {**base, "settle_timeout": str(SETTLE_TIMEOUT_MAX + 1)}),
        409,
        f"Settlement timeout exceeds max of {SETTLE_TIMEOUT_MAX}",
    )
    assert assert_ok(a.get("/channels")) == []
    # Both bounds are inclusive.
    low = assert_ok(a.put("/channels", {**base, "settle_timeout": SETTLE_TIMEOUT_MIN}), 201)
    assert low["settle_timeout"] == str(SETTLE_TIMEOUT_MIN)
    carol = make_node(name="carol")
    high = assert_ok(
        a.put("/channels", {**base, "partner_address": carol.address, "settle_timeout": SETTLE_TIMEOUT_MAX}), 201
    )
    assert high["settle_timeout"] == str(SETTLE_TIMEOUT_MAX)


@pytest.mark.parametrize(
    ("timeouts", "message"),
    [
        ({"reveal_timeout": 0}, "reveal_timeout should be larger than zero."),
        ({"reveal_timeout": "-3"}, "reveal_timeout should be larger than zero."),
        ({"settle_timeout": 20, "reveal_timeout": 11}, SETTLE_TOO_SMALL_PREFIX),
        # The reveal timeout is checked before the settle timeout range: 4 < 2 * 5 (default reveal).
        ({"settle_timeout": 4}, SETTLE_TOO_SMALL_PREFIX),
    ],
)
def test_reveal_timeout_errors(api, bob, token, timeouts, message):
    response = api.put("/channels", {"token_address": token, "partner_address": bob.address, **timeouts})
    assert response.status_code == 409, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json_body["errors"].startswith(message), response.json_body
    if message == SETTLE_TOO_SMALL_PREFIX:
        assert len(response.json_body["errors"]) > len(message)  # Raiden's long explanation follows
    assert assert_ok(api.get("/channels")) == []


def test_deposit_above_balance(api, chain_env, alice, bob, token):
    body = {"token_address": token, "partner_address": bob.address, "total_deposit": "1001"}
    assert_error(api.put("/channels", body), 402, f"Not enough balance to deposit. {token} Available=1000 Needed=1001")
    # Checked before opening: no channel exists afterwards.
    assert assert_ok(api.get("/channels")) == []
    network = TokenNetworkProxy(chain_env.client, chain_env.token_network)
    assert network.channel_identifier(alice.address, bob.address) == 0
    assert chain_env.token_balance(alice.address) == 1000


def test_unknown_token_and_address_without_code(api, chain_env, alice, bob):
    unregistered = deploy_token(chain_env.deployer, 10**18, 18, "Unregistered", "UNR")
    mint_tokens(chain_env.deployer, unregistered, alice.address, 100)
    assert_error(
        api.put("/channels", {"token_address": unregistered, "partner_address": bob.address}),
        409,
        f"Token network for token {unregistered} does not exist",
    )
    no_code = api.put("/channels", {"token_address": bob.address, "partner_address": bob.address})
    assert no_code.status_code == 409, no_code.content
    assert isinstance(no_code.json_body["errors"], str)
    # a contract that is no ERC20 token, with a deposit (its balanceOf reverts): 409, not 500
    not_a_token = api.put(
        "/channels",
        {"token_address": chain_env.raiden.secret_registry, "partner_address": bob.address, "total_deposit": "1"},
    )
    assert not_a_token.status_code == 409, not_a_token.content
    assert "does not follow the ERC20 standard" in not_a_token.json_body["errors"]
    same_peer = api.put("/channels", {"token_address": chain_env.token, "partner_address": alice.address})
    assert same_peer.status_code == 409, same_peer.content
    assert isinstance(same_peer.json_body["errors"], str)
    assert assert_ok(api.get("/channels")) == []


MISSING = ["Missing data for required field."]
NOT_NULL = ["Field may not be null."]
NOT_INT = ["Not a valid integer."]
NOT_EIP55 = ["Not a valid EIP55 encoded address"]
NO_PREFIX = ["Not a valid hex encoded address, must be 0x prefixed."]
NULL_REFUSED = [f"The {NULL_ADDRESS} address is not accepted"]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"balance": 1}, {"balance": ["Unknown field."]}),
        ({"token_address": "<absent>"}, {"token_address": MISSING}),
        (
            {"token_address": "<absent>", "partner_address": "<absent>", "settle_timeout": 20},
            {"token_address": MISSING, "partner_address": MISSING},
        ),
        ({"token_address": None}, {"token_address": NOT_NULL}),
        ({"partner_address": None}, {"partner_address": NOT_NULL}),
        ({"partner_address": "<lower>"}, {"partner_address": NOT_EIP55}),
        ({"token_address": "<lower-token>"}, {"token_address": NOT_EIP55}),
        ({"partner_address": "<upper>"}, {"partner_address": NOT_EIP55}),
        ({"partner_address": "<short>"}, {"partner_address": NOT_EIP55}),
        ({"partner_address": "<bare>"}, {"partner_address": NO_PREFIX}),
        ({"partner_address": "bob"}, {"partner_address": NO_PREFIX}),
        ({"partner_address": NULL_ADDRESS}, {"partner_address": NULL_REFUSED}),
        ({"token_address": NULL_ADDRESS}, {"token_address": NULL_REFUSED}),
        ({"settle_timeout": "1.5"}, {"settle_timeout": NOT_INT}),
        ({"settle_timeout": True}, {"settle_timeout": NOT_INT}),
        ({"settle_timeout": False}, {"settle_timeout": NOT_INT}),
        ({"settle_timeout": "1e3"}, {"settle_timeout": NOT_INT}),
        ({"settle_timeout": "0x10"}, {"settle_timeout": NOT_INT}),
        ({"settle_timeout": ""}, {"settle_timeout": NOT_INT}),
        ({"settle_timeout": "abc"}, {"settle_timeout": NOT_INT}),
        ({"settle_timeout": [1]}, {"settle_timeout": NOT_INT}),
        ({"settle_timeout": {}}, {"settle_timeout": NOT_INT}),
        ({"reveal_timeout": "1.5"}, {"reveal_timeout": NOT_INT}),
        ({"total_deposit": "1.5"}, {"total_deposit": NOT_INT}),
        ({"total_deposit": True}, {"total_deposit": NOT_INT}),
        (
            {"token_address": "<lower-token>", "settle_timeout": "x", "total_deposit": True, "funds": 3},
            {
                "token_address": NOT_EIP55,
                "settle_timeout": NOT_INT,
                "total_deposit": NOT_INT,
                "funds": ["Unknown field."],
            },
        ),
    ],
)
def test_open_body_errors(api, bob, token, changes, errors):
    special = {
        "<lower>": lower(bob.address),
        "<lower-token>": lower(token),
        "<upper>": "0x" + bob.address[2:].upper(),
        "<short>": bob.address[:-2],
        "<bare>": bob.address[2:],
    }
    body = {"token_address": token, "partner_address": bob.address}
    for key, value in changes.items():
        if value == "<absent>":
            body.pop(key)
        else:
            body[key] = special.get(value, value) if isinstance(value, str) else value
    assert_field_errors(api.put("/channels", body), errors)


@pytest.mark.parametrize("value", [123, 1.5, ["0x"], {"a": 1}, True])
def test_open_non_string_address_is_a_400(api, bob, value):
    """The reference crashes (500) on a non-string address; this node answers 400 for the field."""
    response = api.put("/channels", {"token_address": value, "partner_address": bob.address})
    assert response.status_code == 400, response.content
    assert set(response.json_body["errors"]) == {"token_address"}


def test_open_with_negative_deposit_is_a_conflict(api, bob, token):
    """Spec 1.5: "-5" passes the schema and the sign is refused by the business logic with a 409."""
    response = api.put("/channels", {"token_address": token, "partner_address": bob.address, "total_deposit": "-5"})
    assert response.status_code == 409, response.content
    assert isinstance(response.json_body["errors"], str)
