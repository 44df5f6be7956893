"""The older API's events routes (seeds/002 "Querying Events"): GET /events/network,
/events/tokens/<t> and /events/channels/<t>/<p>, with from_block and to_block.

Chain events come from what ingestion stored (ChainEvent); the channel route adds the node's
payment events. The shapes are described in docs/api.md.
"""

from __future__ import annotations

import json

import pytest

from channels_app.models import ChainEvent, ChainOperation
from raidennode.chain.deploy import deploy_token
from raidennode.nodes.models import ApiToken
from raidennode.nodes.tokens import api_token_create
from tests.api.support import (
    TEST_SETTLE_TIMEOUT,
    assert_error,
    assert_field_errors,
    assert_ok,
    assert_path_address_error,
    lower,
)
from tests.payments.conftest import deposit, duty_rounds, open_channel, pay, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

INVALID_INTEGER = ["Not a valid integer."]
NEGATIVE = ["Must be greater than or equal to 0."]
PREFIX_MESSAGE = "Not a valid hex address, 0x prefix missing."


def _exactly(response, expected: list, note: str = "") -> None:
    """200 with exactly ``expected``: the same values, keys in the same order, as json.dumps writes it."""
    assert assert_ok(response) == expected, (note, response.json_body)
    assert response.content == json.dumps(expected).encode(), (note, response.content)


def _event(name: str, **args) -> ChainEvent:
    events = ChainEvent.objects.filter(name=name, **{f"args__{key}": value for key, value in args.items()})
    assert events.count() == 1, (name, args, list(events))
    return events.get()


def _apis(api_for, node):
    """The node's API under every prefix it is served at (node is the default node)."""
    return [api_for(node), api_for(node, "1"), api_for(None), api_for(None, "1")]


def _token_added(event: ChainEvent) -> dict:
    return {
        "event_type": "TokenAdded",
        "token_address": event.args["token_address"],
        "channel_manager_address": event.args["token_network_address"],
        "token_network_address": event.args["token_network_address"],
        "block_number": event.block_number,
    }


def _channel_new(event: ChainEvent, token_network: str, first, second, identifier: str) -> dict:
    return {
        "event_type": "ChannelNew",
        "settle_timeout": str(TEST_SETTLE_TIMEOUT),
        "netting_channel": token_network,
        "participant1": first.address,
        "participant2": second.address,
        "token_network_address": token_network,
        "channel_identifier": identifier,
        "block_number": event.block_number,
    }


def _new_balance(event: ChainEvent, participant, total: int, identifier: str) -> dict:
    return {
        "event_type": "ChannelNewBalance",
        "participant": participant.address,
        "balance": str(total),
        "channel_identifier": identifier,
        "total_deposit": str(total),
        "block_number": event.block_number,
    }


# --- GET /events/network ----------------------------------------------------------------------


def test_network_events(api_for, alice, bob, chain_env, token):
    first = _event("TokenNetworkCreated", token_address=token)
    assert first.args["token_network_address"] == chain_env.token_network
    for api in [*_apis(api_for, alice), api_for(bob, "1")]:
        expected = {
            "event_type": "TokenAdded",
            "token_address": token,
            "channel_manager_address": chain_env.token_network,
            "token_network_address": chain_env.token_network,
            "block_number": first.block_number,
        }
        _exactly(api.get("/events/network"), [expected])

    # A token registered later is a second TokenAdded, at its own block.
    new_token = deploy_token(chain_env.deployer, 10**20, 18, "New", "NEW")
    network = assert_ok(api_for(alice).put(f"/tokens/{new_token}"), 201)["token_network_address"]
    second = _event("TokenNetworkCreated", token_address=new_token)
    assert second.args["token_network_address"] == network and second.block_number > first.block_number
    both = [_token_added(first), _token_added(second)]

    api = api_for(alice, "1")
    cases = {
        "": both,
        f"?from_block={first.block_number}": both,
        f"?from_block={first.block_number + 1}": [both[1]],
        f"?from_block={second.block_number}": [both[1]],
        f"?from_block={second.block_number + 1}": [],
        f"?to_block={second.block_number - 1}": [both[0]],
        f"?to_block={first.block_number}": [both[0]],
        f"?to_block={first.block_number - 1}": [],
        f"?from_block={first.block_number}&to_block={first.block_number}": [both[0]],
        f"?from_block={second.block_number}&to_block={second.block_number}": [both[1]],
        f"?from_block={second.block_number}&to_block={first.block_number}": [],  # an empty range
        "?from_block=0&to_block=0": [],
        f"?from_block={10**30}": [],
        f"?to_block={10**30}": both,
        f"?from_block=%2B{second.block_number}": [both[1]],  # "+N": Python's int(), as marshmallow
        # a repeated parameter counts with its first value
        f"?from_block={second.block_number}&from_block=0": [both[1]],
    }
    for query, expected in cases.items():
        _exactly(api.get("/events/network" + query), expected, query)


@pytest.mark.parametrize(
    "query, errors",
    [
        ("?from_block=abc", {"from_block": INVALID_INTEGER}),
        ("?from_block=", {"from_block": INVALID_INTEGER}),
        ("?from_block", {"from_block": INVALID_INTEGER}),
        ("?from_block=1.5", {"from_block": INVALID_INTEGER}),
        ("?from_block=0x10", {"from_block": INVALID_INTEGER}),
        ("?to_block=true", {"to_block": INVALID_INTEGER}),
        ("?from_block=-1", {"from_block": NEGATIVE}),
        ("?to_block=-5", {"to_block": NEGATIVE}),
        ("?from_block=-1&to_block=x", {"from_block": NEGATIVE, "to_block": INVALID_INTEGER}),
        ("?limit=1", {"limit": ["Unknown field."]}),
        ("?from_block=1&fromBlock=2", {"fromBlock": ["Unknown field."]}),
    ],
)
def test_malformed_query_strings(api_for, alice, chain_env, token, query, errors):
    """400 with the field errors on every events route, before the token or channel is looked up."""
    unknown_token = alice.address
    for path in (
        "/events/network",
        f"/events/tokens/{token}",
        f"/events/tokens/{unknown_token}",
        f"/events/channels/{token}/{alice.address}",
    ):
        for api in (api_for(alice), api_for(None, "1")):
            assert_field_errors(api.get(path + query), errors)


def test_bad_addresses_in_the_path(api_for, alice, bob, chain_env, token):
    api = api_for(alice, "1")
    for path in (
        f"/events/tokens/{lower(token)}",
        f"/events/channels/{lower(token)}/{bob.address}",
        f"/events/channels/{token}/{lower(bob.address)}",
        f"/events/channels/{token}/{bob.address.upper().replace('0X', '0x')}",
    ):
        assert_path_address_error(api.get(path))
    for path in (f"/events/tokens/{token[2:]}", f"/events/channels/{token}/{bob.address[2:]}"):
        assert_path_address_error(api.get(path), PREFIX_MESSAGE)
    # checked before the method: 404 rather than 405
    assert_path_address_error(api.post(f"/events/tokens/{lower(token)}", {}))


def test_only_get_is_served(api_for, alice, bob, chain_env, token):
    api = api_for(alice)
    for path in ("/events/network", f"/events/tokens/{token}", f"/events/channels/{token}/{bob.address}"):
        for method in ("post", "put", "patch", "delete"):
            response = getattr(api, method)(path, {})
            assert response.status_code == 405, (method, path, response.content)
            assert "GET" in response["Allow"]


def test_unknown_token_and_unknown_channel(api_for, alice, bob, chain_env, token):
    unregistered = deploy_token(chain_env.deployer, 10**18, 18, "Other", "OTH")
    for api in (api_for(alice), api_for(None, "1")):
        for address in (unregistered, bob.address):
            message = f'No token network registered for token "{address}"'
            assert_error(api.get(f"/events/tokens/{address}"), 404, message)
            assert_error(api.get(f"/events/channels/{address}/{bob.address}"), 404, message)
        # a registered token without channels: no ChannelNew yet
        _exactly(api.get(f"/events/tokens/{token}"), [])
        # no channel with that partner (nor with the node itself)
        for partner in (bob.address, alice.address):
            assert_error(
                api.get(f"/events/channels/{token}/{partner}?from_block=0"),
                404,
                f"Channel with partner '{partner}' for token '{token}' could not be found.",
            )


def test_events_routes_with_authentication(api_for, alice, bob, chain_env, token, settings):
    """With RAIDEN_AUTH on, the events routes are node routes like the others: credentials needed,
    a read-only token suffices, another node's token gets the 404 of a node not hosted here."""
    open_channel(api_for(alice), token, bob, 10)
    opened = _event("ChannelOpened", channel_identifier="1")
    alice_deposit = _event("ChannelNewDeposit", channel_identifier="1")
    expected = [
        _channel_new(opened, chain_env.token_network, alice, bob, "1"),
        _new_balance(alice_deposit, alice, 10, "1"),
    ]
    _row, alice_key = api_token_create(alice, scope=ApiToken.Scope.READ)
    _row, bob_key = api_token_create(bob)
    settings.RAIDEN_AUTH = True
    paths = ("/events/network", f"/events/tokens/{token}", f"/events/channels/{token}/{bob.address}")
    for path in paths:
        for api in (api_for(alice, "1"), api_for(None, "1"), api_for(alice)):
            response = api.get(path)
            assert response.status_code == 401, (api.prefix + path, response.content)
    as_alice = {"HTTP_AUTHORIZATION": f"Token {alice_key}"}
    for api in (api_for(alice, "1"), api_for(None, "1")):  # /api/1 serves the caller's node
        _exactly(api.get(f"/events/channels/{token}/{bob.address}", **as_alice), expected)
        _exactly(api.get(f"/events/tokens/{token}", **as_alice), expected[:1])
    as_bob = {"HTTP_AUTHORIZATION": f"Token {bob_key}"}
    foreign = api_for(alice, "1").get(f"/events/channels/{token}/{bob.address}", **as_bob)
    assert foreign.status_code == 404
    assert foreign.json_body == {
        "errors": ["invalid endpoint", f"No node with address {alice.address} is hosted here."]
    }
    # bob's own view of the channel, through /api/1 with his token
    _exactly(api_for(None, "1").get(f"/events/channels/{token}/{alice.address}", **as_bob), expected)


# --- a channel's life: token and channel events -----------------------------------------------


def test_channel_life_in_events(api_for, make_node, chain_env, token):
    alice, bob, carol = make_node(name="alice"), make_node(name="bob"), make_node(name="carol")
    a, b, c = api_for(alice), api_for(bob), api_for(carol)
    network = chain_env.token_network

    open_channel(a, token, bob, 100)
    deposit(b, token, alice, 50)
    assert pay(a, token, bob, 7, identifier="11").status_code == 200
    assert pay(b, token, alice, 3, identifier="12").status_code == 200
    wait_until(lambda: len(a.get("/payments").json_body) == 2, "alice's payment events")
    wait_until(lambda: len(b.get("/payments").json_body) == 2, "bob's payment events")
    withdrawn = a.patch(f"/channels/{token}/{bob.address}", {"total_withdraw": "10"})
    assert withdrawn.status_code == 200, withdrawn.json_body
    # carol's channel with bob: not alice's business
    open_channel(c, token, bob, 10)

    # alice closes with bob's balance proof, bob's node answers with alice's, then it settles
    closed = a.patch(f"/channels/{token}/{bob.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    duty_rounds(lambda: ChainEvent.objects.filter(name="NonClosingBalanceProofUpdated").exists(), "bob's update")
    chain_env.mine(TEST_SETTLE_TIMEOUT + 1)
    duty_rounds(lambda: ChainEvent.objects.filter(name="ChannelSettled").exists(), "the settlement")
    assert a.get(f"/channels/{token}/{bob.address}").status_code == 404  # settled: out of the listings
    assert not ChainOperation.objects.filter(status="failed").exists()

    opened = _event("ChannelOpened", channel_identifier="1")
    alice_deposit = _event("ChannelNewDeposit", channel_identifier="1", participant=alice.address)
    bob_deposit = _event("ChannelNewDeposit", channel_identifier="1", participant=bob.address)
    withdraw = _event("ChannelWithdraw", channel_identifier="1")
    close = _event("ChannelClosed", channel_identifier="1")
    update = _event("NonClosingBalanceProofUpdated", channel_identifier="1")
    settle = _event("ChannelSettled", channel_identifier="1")
    carol_opened = _event("ChannelOpened", channel_identifier="2")
    carol_deposit = _event("ChannelNewDeposit", channel_identifier="2")
    # openChannelWithDeposit: one transaction, the open first
    assert opened.transaction_hash == alice_deposit.transaction_hash
    assert opened.log_index < alice_deposit.log_index
    assert opened.block_number < bob_deposit.block_number < withdraw.block_number < close.block_number
    assert close.block_number < update.block_number < settle.block_number

    # GET /events/tokens/<t>: every channel of the token network, whoever's (public chain data)
    alice_bob = _channel_new(opened, network, alice, bob, "1")
    carol_bob = _channel_new(carol_opened, network, carol, bob, "2")
    for api in (a, api_for(alice, "1"), c, api_for(carol, "1")):
        _exactly(api.get(f"/events/tokens/{token}"), [alice_bob, carol_bob])
    tokens = api_for(alice, "1")
    _exactly(tokens.get(f"/events/tokens/{token}?from_block={carol_opened.block_number}"), [carol_bob])
    _exactly(tokens.get(f"/events/tokens/{token}?to_block={carol_opened.block_number - 1}"), [alice_bob])
    _exactly(tokens.get(f"/events/tokens/{token}?from_block={carol_opened.block_number + 1}"), [])

    # GET /events/channels/<t>/<p>: chain events of the channel and the node's payment events
    alice_payments = assert_ok(a.get(f"/payments/{token}/{bob.address}"))
    assert [(e["event"], e["amount"]) for e in alice_payments] == [
        ("EventPaymentSentSuccess", "7"),
        ("EventPaymentReceivedSuccess", "3"),
    ]
    sent, received = ({"event_type": e["event"], **e} for e in alice_payments)
    assert sent == {
        "event_type": "EventPaymentSentSuccess",
        "event": "EventPaymentSentSuccess",
        "amount": "7",
        "target": bob.address,
        "identifier": "11",
        "log_time": sent["log_time"],
        "token_address": token,
    }
    assert received == {
        "event_type": "EventPaymentReceivedSuccess",
        "event": "EventPaymentReceivedSuccess",
        "amount": "3",
        "initiator": bob.address,
        "identifier": "12",
        "log_time": received["log_time"],
        "token_address": token,
    }
    settled_amounts = {
        settle.args["participant1"]: settle.args["participant1_amount"],
        settle.args["participant2"]: settle.args["participant2_amount"],
    }
    assert settled_amounts == {alice.address: "86", bob.address: "54"}  # 100-10-7+3 and 50+7-3
    chain_part = [
        alice_bob,
        _new_balance(alice_deposit, alice, 100, "1"),
        _new_balance(bob_deposit, bob, 50, "1"),
        {
            "event_type": "ChannelWithdraw",
            "channel_identifier": "1",
            "participant": alice.address,
            "total_withdraw": "10",
            "block_number": withdraw.block_number,
        },
        {
            "event_type": "ChannelClosed",
            "channel_identifier": "1",
            "closing_participant": alice.address,
            "nonce": close.args["nonce"],
            "balance_hash": close.args["balance_hash"],
            "block_number": close.block_number,
        },
        {
            "event_type": "TransferUpdated",
            "channel_identifier": "1",
            "closing_participant": alice.address,
            "nonce": update.args["nonce"],
            "balance_hash": update.args["balance_hash"],
            "block_number": update.block_number,
        },
        {
            "event_type": "ChannelSettled",
            "channel_identifier": "1",
            "participant1": settle.args["participant1"],
            "participant1_amount": settle.args["participant1_amount"],
            "participant1_locksroot": settle.args["participant1_locksroot"],
            "participant2": settle.args["participant2"],
            "participant2_amount": settle.args["participant2_amount"],
            "participant2_locksroot": settle.args["participant2_locksroot"],
            "block_number": settle.block_number,
        },
    ]
    for value in (close.args["nonce"], update.args["nonce"]):
        assert value.isdigit() and int(value) > 0
    for value in (close.args["balance_hash"], update.args["balance_hash"]):
        assert value.startswith("0x") and len(value) == 66
    # the payments at their place in time: after the deposits, before the withdraw
    everything = chain_part[:3] + [sent, received] + chain_part[3:]
    path = f"/events/channels/{token}/{bob.address}"
    for api in (a, api_for(alice, "1")):
        _exactly(api.get(path), everything)

    # from_block / to_block select the chain events; payment events have no block: always listed
    cases = {
        f"?from_block={close.block_number}": [sent, received] + chain_part[4:],
        f"?from_block={settle.block_number + 1}": [sent, received],
        f"?to_block={bob_deposit.block_number}": chain_part[:3] + [sent, received],
        f"?to_block={opened.block_number}": chain_part[:2] + [sent, received],
        f"?from_block={withdraw.block_number}&to_block={update.block_number}": [sent, received] + chain_part[3:6],
        f"?from_block={update.block_number}&to_block={close.block_number}": [sent, received],
    }
    for query, expected in cases.items():
        _exactly(api_for(alice, "1").get(path + query), expected, query)

    # bob sees the same chain events with his own payment events
    bob_payments = [{"event_type": e["event"], **e} for e in assert_ok(b.get(f"/payments/{token}/{alice.address}"))]
    assert [(e["event_type"], e["amount"]) for e in bob_payments] == [
        ("EventPaymentReceivedSuccess", "7"),
        ("EventPaymentSentSuccess", "3"),
    ]
    _exactly(b.get(f"/events/channels/{token}/{alice.address}"), chain_part[:3] + bob_payments + chain_part[3:])

    # another node's channel: carol sees her channel with bob only, alice none of carol's
    carol_chain = [carol_bob, _new_balance(carol_deposit, carol, 10, "2")]
    _exactly(c.get(f"/events/channels/{token}/{bob.address}"), carol_chain)
    _exactly(b.get(f"/events/channels/{token}/{carol.address}"), carol_chain)
    not_found = "Channel with partner '{}' for token '{}' could not be found."
    assert_error(a.get(f"/events/channels/{token}/{carol.address}"), 404, not_found.format(carol.address, token))
    assert_error(c.get(f"/events/channels/{token}/{alice.address}"), 404, not_found.format(alice.address, token))
    assert_error(
        api_for(carol, "1").get(f"/events/channels/{token}/{alice.address}"),
        404,
        not_found.format(alice.address, token),
    )

    # a new channel with the same partner: the settled one's events stay, the new one's follow
    reopened = open_channel(a, token, bob, 5)
    assert reopened["channel_identifier"] == "3"
    new_open = _event("ChannelOpened", channel_identifier="3")
    new_deposit = _event("ChannelNewDeposit", channel_identifier="3")
    third = [_channel_new(new_open, network, alice, bob, "3"), _new_balance(new_deposit, alice, 5, "3")]
    _exactly(a.get(path), everything + third)
    _exactly(a.get(path + f"?from_block={new_open.block_number}"), [sent, received] + third)
    _exactly(a.get(f"/events/tokens/{token}"), [alice_bob, carol_bob, third[0]])
    # the network events did not change
    _exactly(a.get("/events/network"), [_token_added(_event("TokenNetworkCreated", token_address=token))])
