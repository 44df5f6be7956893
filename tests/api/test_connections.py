"""GET /connections and DELETE /connections/<t> (spec 3.6, 4.9, 4.10)."""

from __future__ import annotations

import pytest

from channels_app.services.ingest import chain_ingest_all
from raidennode.chain.deploy import deploy_token, mint_tokens, register_token_network
from tests.api.support import CHANNEL_KEYS, assert_error, assert_ok, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second_token(chain_env, alice, bob) -> str:
    """Another registered token, known to the node, with 1000 of it for alice and bob."""
    token = deploy_token(chain_env.deployer, 10**18, 18, "Second", "SND")
    register_token_network(chain_env.deployer, chain_env.raiden.token_network_registry, token)
    for node in (alice, bob):
        mint_tokens(chain_env.deployer, token, node.address, 1000)
    chain_ingest_all()
    return token


def open_channel(api, token: str, partner, deposit: int = 0) -> dict:
    return assert_ok(
        api.put("/channels", {"token_address": token, "partner_address": partner.address, "total_deposit": deposit}),
        201,
    )


def test_connections_lists_tokens_with_open_channels(api_for, alice, bob, make_node, token, second_token):
    a, b = api_for(alice), api_for(bob)
    assert assert_ok(a.get("/connections")) == {}
    carol = make_node(name="carol")
    open_channel(a, token, bob, 100)
    open_channel(a, token, carol, 50)
    open_channel(a, second_token, bob, 0)
    summary = assert_ok(a.get("/connections"))
    # Strings; "funds" (the older API's, from the last connect) is "0" for a node that never connected.
    assert summary == {
        token: {"funds": "0", "sum_deposits": "150", "channels": "2"},
        second_token: {"funds": "0", "sum_deposits": "0", "channels": "1"},
    }
    # The partner's view counts its own deposits only.
    assert assert_ok(b.get("/connections")) == {
        token: {"funds": "0", "sum_deposits": "0", "channels": "1"},
        second_token: {"funds": "0", "sum_deposits": "0", "channels": "1"},
    }
    assert_ok(b.patch(f"/channels/{token}/{alice.address}", {"total_deposit": 30}))
    assert assert_ok(b.get("/connections"))[token] == {"funds": "0", "sum_deposits": "30", "channels": "1"}
    assert assert_ok(a.get("/connections"))[token] == {"funds": "0", "sum_deposits": "150", "channels": "2"}

    # A token whose channels are all closed disappears.
    assert_ok(a.patch(f"/channels/{second_token}/{bob.address}", {"state": "closed"}))
    assert assert_ok(a.get("/connections")) == {token: {"funds": "0", "sum_deposits": "150", "channels": "2"}}
    assert_ok(a.patch(f"/channels/{token}/{carol.address}", {"state": "closed"}))
    assert assert_ok(a.get("/connections")) == {token: {"funds": "0", "sum_deposits": "100", "channels": "1"}}


def test_leave_a_token_network(api_for, alice, bob, make_node, chain_env, token, second_token):
    a, b = api_for(alice), api_for(bob)
    carol = make_node(name="carol")
    with_bob = open_channel(a, token, bob, 100)
    with_carol = open_channel(a, token, carol, 0)
    in_second = open_channel(a, second_token, bob, 10)
    bob_carol = open_channel(b, token, carol, 5)

    # The body is ignored, even a JSON null.
    response = send(a, "DELETE", f"/connections/{token}", raw=b"null")
    left = assert_ok(response)
    assert [set(c) for c in left] == [CHANNEL_KEYS, CHANNEL_KEYS]
    assert left == [
        {**with_bob, "state": "closed"},
        {**with_carol, "state": "closed"},
    ]
    assert assert_ok(a.get(f"/channels/{token}/{bob.address}"))["state"] == "closed"
    # Channels in other token networks, and channels between other nodes, stay open.
    assert assert_ok(a.get(f"/channels/{second_token}/{bob.address}")) == in_second
    assert assert_ok(b.get(f"/channels/{token}/{carol.address}")) == bob_carol
    assert assert_ok(a.get("/connections")) == {second_token: {"funds": "0", "sum_deposits": "10", "channels": "1"}}
    # Nothing is settled: the deposits are still in the token network.
    assert chain_env.token_balance(chain_env.token_network) == 105

    # Leaving again: the channels are listed as they are (already closed), with any body.
    again = assert_ok(send(a, "DELETE", f"/connections/{token}", raw=b"{not json"))
    assert [c["state"] for c in again] == ["closed", "closed"]
    assert assert_ok(send(a, "DELETE", f"/connections/{token}", body={"only_receiving_channels": False})) == again


def test_leave_without_channels_and_unknown_token(api, chain_env, token):
    assert assert_ok(api.delete(f"/connections/{token}")) == []
    unknown = deploy_token(chain_env.deployer, 1, 18, "Unknown", "UNK")
    registry = chain_env.raiden.token_network_registry
    assert_error(
        api.delete(f"/connections/{unknown}"), 404, f"Token {unknown} is not registered with the network {registry}."
    )
    assert_error(
        send(api, "DELETE", f"/connections/{unknown}", raw=b"null"),
        404,
        f"Token {unknown} is not registered with the network {registry}.",
    )
