"""PATCH /channels/<t>/<p> (spec 4.8): validation order, deposit, reveal timeout, close, and the old
API's manual settle (PATCH state=settled), which this project implements on purpose."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from channels_app.services.ingest import chain_ingest_all
from tests.api.support import (
    NULL_ADDRESS,
    TEST_SETTLE_TIMEOUT,
    assert_error,
    assert_field_errors,
    assert_ok,
)

pytestmark = pytest.mark.django_db(transaction=True)

RT_STATE = "Can not update a channel's reveal timeout and state at the same time"
TD_STATE = "Can not update a channel's total deposit and state at the same time"
TW_STATE = "Can not update a channel's total withdraw and state at the same time"
TW_TD = "Can not update a channel's total withdraw and total deposit at the same time"
RT_TD = "Can not update a channel's reveal timeout and total deposit at the same time"
RT_TW = "Can not update a channel's reveal timeout and total withdraw at the same time"
NOTHING_TO_DO = (
    "Nothing to do. Should either provide 'total_deposit', 'total_withdraw', 'reveal_timeout' or 'state' argument"
)
STATE_ENUM = ["Must be one of: closed, opened, settled."]
SETTLE_TOO_SMALL_PREFIX = "`settle_timeout` can not be smaller than double the `reveal_timeout`."


def not_found(token: str, partner: str) -> str:
    return f"Requested channel for token {token} and partner {partner} not found"


@pytest.fixture
def channel(api, bob, token) -> dict:
    """alice's open channel with bob, without deposits."""
    return assert_ok(api.put("/channels", {"token_address": token, "partner_address": bob.address}), 201)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"reveal_timeout": 10, "state": "closed"}, RT_STATE),
        ({"total_deposit": 1, "state": "closed"}, TD_STATE),
        ({"total_withdraw": 1, "state": "closed"}, TW_STATE),
        ({"total_withdraw": 1, "total_deposit": 1}, TW_TD),
        ({"reveal_timeout": 1, "total_deposit": 1}, RT_TD),
        ({"reveal_timeout": 1, "total_withdraw": 1}, RT_TW),
        # The first matching pair, in the order above, wins.
        ({"total_deposit": 1, "total_withdraw": 1, "reveal_timeout": 1, "state": "closed"}, RT_STATE),
        ({"total_deposit": 1, "total_withdraw": 1, "state": "closed"}, TD_STATE),
        ({"total_deposit": 1, "total_withdraw": 1, "reveal_timeout": 1}, TW_TD),
        ({"reveal_timeout": 1, "state": "settled"}, RT_STATE),
        ({"total_withdraw": "2", "state": "opened"}, TW_STATE),
        # Pair checks come before the sign checks.
        ({"total_deposit": -5, "state": "closed"}, TD_STATE),
        ({"total_deposit": -5, "total_withdraw": -5}, TW_TD),
        # Sign checks.
        ({"total_deposit": -1}, "Amount to deposit must not be negative."),
        ({"total_deposit": "-1"}, "Amount to deposit must not be negative."),
        ({"total_withdraw": "-5"}, "Amount to withdraw must not be negative."),
        ({"total_withdraw": -1, "state": None}, "Amount to withdraw must not be negative."),
    ],
)
def test_conflicting_fields_before_the_channel_lookup(api, bob, token, body, message):
    # No channel exists: every one of these checks comes before the existence check.
    assert_error(api.patch(f"/channels/{token}/{bob.address}", body), 409, message)


@pytest.mark.parametrize(
    "body",
    [
        {"state": None},
        {"total_deposit": None},
        {"total_deposit": None, "total_withdraw": None, "reveal_timeout": None, "state": None},
    ],
)
def test_nothing_to_do(api, bob, token, channel, body):
    assert_error(api.patch(f"/channels/{token}/{bob.address}", body), 400, NOTHING_TO_DO)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"state": "inlimbo"}, {"state": STATE_ENUM}),
        ({"state": "CLOSED"}, {"state": STATE_ENUM}),
        ({"state": ""}, {"state": STATE_ENUM}),
        ({"state": "waiting_for_close"}, {"state": STATE_ENUM}),
        ({"balance": 100}, {"balance": ["Unknown field."]}),
        ({"total_deposit": "1.5"}, {"total_deposit": ["Not a valid integer."]}),
        ({"total_deposit": True}, {"total_deposit": ["Not a valid integer."]}),
        ({"reveal_timeout": "ten"}, {"reveal_timeout": ["Not a valid integer."]}),
        ({"total_withdraw": [1]}, {"total_withdraw": ["Not a valid integer."]}),
        (
            {"state": "inlimbo", "total_deposit": "x", "balance": 1},
            {"balance": ["Unknown field."], "state": STATE_ENUM, "total_deposit": ["Not a valid integer."]},
        ),
    ],
)
def test_patch_schema_errors(api, bob, token, body, errors):
    assert_field_errors(api.patch(f"/channels/{token}/{bob.address}", body), errors)


@pytest.mark.parametrize(
    "body",
    [{"total_deposit": 1}, {"state": "closed"}, {"reveal_timeout": 5}, {"state": "opened"}, {"state": "settled"}],
)
def test_unknown_channel_is_a_409(api, bob, make_node, token, channel, body):
    carol = make_node(name="carol", tokens=0)
    assert_error(api.patch(f"/channels/{token}/{carol.address}", body), 409, not_found(token, carol.address))
    assert_error(api.patch(f"/channels/{token}/{NULL_ADDRESS}", body), 409, not_found(token, NULL_ADDRESS))
    # Another node's channel is not ours.
    assert_error(api.patch(f"/channels/{bob.address}/{bob.address}", body), 409, not_found(bob.address, bob.address))


def test_state_opened_is_invalid(api, bob, token, channel):
    assert_error(
        api.patch(f"/channels/{token}/{bob.address}", {"state": "opened"}), 400, "Provided invalid channel state opened"
    )


def test_deposit(api, api_for, alice, bob, chain_env, token, channel):
    path = f"/channels/{token}/{bob.address}"
    deposited = assert_ok(api.patch(path, {"total_deposit": "100"}))
    assert deposited == {**channel, "total_deposit": "100", "balance": "100"}
    assert chain_env.token_balance(chain_env.token_network) == 100
    assert assert_ok(api.get(path)) == deposited

    for same_or_lower in ("100", 100, "0", 0, 99):
        assert_error(api.patch(path, {"total_deposit": same_or_lower}), 409, "Total deposit did not increase.")

    # JSON floats are truncated; the deposit is a total, not an increment.
    assert assert_ok(api.patch(path, {"total_deposit": 150.9}))["total_deposit"] == "150"
    assert chain_env.token_balance(alice.address) == 850

    # The increase (not the total) is compared with the balance.
    assert_error(
        api.patch(path, {"total_deposit": "1001"}),
        402,
        f"Not enough balance to deposit. {token} Available=850 Needed=851",
    )
    assert assert_ok(api.patch(path, {"total_deposit": "1000"}))["balance"] == "1000"
    assert chain_env.token_balance(alice.address) == 0

    # The partner's deposit shows on its side only.
    bob_side = assert_ok(api_for(bob).patch(f"/channels/{token}/{alice.address}", {"total_deposit": 30}))
    assert (bob_side["total_deposit"], bob_side["balance"]) == ("30", "30")
    assert assert_ok(api.get(path))["total_deposit"] == "1000"
    assert chain_env.token_balance(chain_env.token_network) == 1030


def test_reveal_timeout(api, bob, token, channel):
    path = f"/channels/{token}/{bob.address}"
    assert_error(api.patch(path, {"reveal_timeout": 0}), 409, "reveal_timeout should be larger than zero.")
    assert_error(api.patch(path, {"reveal_timeout": -4}), 409, "reveal_timeout should be larger than zero.")
    for too_large in (TEST_SETTLE_TIMEOUT + 1, TEST_SETTLE_TIMEOUT // 2 + 1):
        response = api.patch(path, {"reveal_timeout": too_large})
        assert response.status_code == 409, response.content
        assert response.json_body["errors"].startswith(SETTLE_TOO_SMALL_PREFIX)
    assert assert_ok(api.get(path))["reveal_timeout"] == channel["reveal_timeout"]

    updated = assert_ok(api.patch(path, {"reveal_timeout": str(TEST_SETTLE_TIMEOUT // 2)}))
    assert updated == {**channel, "reveal_timeout": str(TEST_SETTLE_TIMEOUT // 2)}
    assert assert_ok(api.get(path))["reveal_timeout"] == str(TEST_SETTLE_TIMEOUT // 2)
    assert assert_ok(api.patch(path, {"reveal_timeout": 1}))["reveal_timeout"] == "1"
    # Integer strings follow Python's int(): signs, underscores and blanks are fine.
    assert assert_ok(api.patch(path, {"reveal_timeout": "+3"}))["reveal_timeout"] == "3"
    assert assert_ok(api.patch(path, {"reveal_timeout": " 1_0 "}))["reveal_timeout"] == "10"


def test_identical_concurrent_deposits_both_succeed(api_for, alice, bob, chain_env, token, channel):
    """Spec 1.10 (test_api_channel_open_and_deposit_race): two simultaneous identical deposits, both 200."""
    if connection.vendor != "postgresql":
        # The in-memory SQLite test database answers concurrent writers with "table is locked".
        pytest.skip("concurrency tests run on PostgreSQL")
    path = f"/nodes/{alice.address}/api/v1/channels/{token}/{bob.address}"

    def deposit(_) -> tuple[int, dict]:
        try:
            response = Client().patch(path, json.dumps({"total_deposit": "99"}), content_type="application/json")
            return response.status_code, json.loads(response.content)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(deposit, range(2)))
    assert [status for status, _ in results] == [200, 200], results
    assert all(body["total_deposit"] == "99" for _, body in results)
    assert chain_env.token_balance(chain_env.token_network) == 99


def test_close_then_settle(api, api_for, alice, bob, chain_env, token, channel):
    a, b = api, api_for(bob)
    path, partner_path = f"/channels/{token}/{bob.address}", f"/channels/{token}/{alice.address}"
    assert_ok(a.patch(path, {"total_deposit": 100}))
    assert_ok(b.patch(partner_path, {"total_deposit": 40}))

    # A manual settle needs a closed channel.
    early = a.patch(path, {"state": "settled"})
    assert early.status_code == 409, early.content
    assert isinstance(early.json_body["errors"], str)

    # null fields count as absent.
    closed = assert_ok(a.patch(path, {"state": "closed", "total_deposit": None, "reveal_timeout": None}))
    assert closed == {**channel, "state": "closed", "total_deposit": "100", "balance": "100"}
    assert assert_ok(a.get(path))["state"] == "closed"
    assert assert_ok(b.get(partner_path))["state"] == "closed"
    # Closed channels are still listed.
    assert assert_ok(a.get("/channels")) == [closed]
    assert assert_ok(a.get(f"/channels/{token}")) == [closed]

    # Closing twice, from either side.
    assert_error(a.patch(path, {"state": "closed"}), 409, "Attempted to close an already closed channel")
    assert_error(b.patch(partner_path, {"state": "closed"}), 409, "Attempted to close an already closed channel")
    # Nothing else can be changed on a closed channel.
    assert_error(a.patch(path, {"total_deposit": 200}), 409, "Can't set total deposit on a closed channel")
    assert_error(a.patch(path, {"reveal_timeout": 6}), 409, "Can't update the reveal timeout of a closed channel")
    assert_error(a.patch(path, {"state": "opened"}), 400, "Provided invalid channel state opened")
    assert_error(
        a.put("/channels", {"token_address": token, "partner_address": bob.address}),
        409,
        "Channel is not in an open state.",
    )

    # Inside the settlement window the settle is refused.
    inside = a.patch(path, {"state": "settled"})
    assert inside.status_code == 409, inside.content
    assert isinstance(inside.json_body["errors"], str) and inside.json_body["errors"]
    chain_env.mine(TEST_SETTLE_TIMEOUT - 2)
    assert b.patch(partner_path, {"state": "settled"}).status_code == 409
    assert assert_ok(a.get(path))["state"] == "closed"

    # Past the window: 200 with the settled channel, and the tokens are back.
    chain_env.mine(3)
    settled = assert_ok(a.patch(path, {"state": "settled"}))
    assert settled == {**closed, "state": "settled"}
    assert chain_env.token_balance(alice.address) == 1000
    assert chain_env.token_balance(bob.address) == 1000
    assert chain_env.token_balance(chain_env.token_network) == 0
    # A settled channel leaves the node's state.
    chain_ingest_all()
    assert a.get(path).status_code == 404
    assert b.get(partner_path).status_code == 404
    assert assert_ok(a.get("/channels")) == []
    # A new channel with the same partner can be opened again.
    reopened = assert_ok(a.put("/channels", {"token_address": token, "partner_address": bob.address}), 201)
    assert reopened["channel_identifier"] == "2"
