"""Token swaps of the older API (seeds/002: PUT /api/1/token_swaps/<partner>/<identifier>).

The maker pays 42 of token A to the taker, the taker 76 of token B to the maker, both locked on
one secret hash: both payments complete, or neither (every lock expires, each side has its
tokens back).
"""

from __future__ import annotations

import pytest

from channels_app.services.ingest import chain_ingest_all
from raidennode.chain.deploy import deploy_token, mint_tokens, register_token_network
from transfers_app.models import Payment, TokenSwap

from .conftest import channel_of, duty_rounds, open_channel

pytestmark = pytest.mark.django_db(transaction=True)

IDENTIFIER = 1337


@pytest.fixture
def swap_setup(chain_env, make_node, api_for, token):
    """(maker, taker, api of maker, api of taker, token A, token B): the maker has 100 of A in a
    channel with the taker, the taker 100 of B in a channel with the maker (older API's prefix)."""
    token_b = deploy_token(chain_env.deployer, 10**18, 18, "Bee", "BEE")
    register_token_network(chain_env.deployer, chain_env.raiden.token_network_registry, token_b)
    maker, taker = make_node(tokens=1000), make_node(tokens=1000)
    mint_tokens(chain_env.deployer, token_b, taker.address, 1000)
    chain_ingest_all()
    m, t = api_for(maker, version="1"), api_for(taker, version="1")
    open_channel(m, token, taker, 100)
    open_channel(t, token_b, maker, 100)
    return maker, taker, m, t, token, token_b


def maker_body(token_a: str, token_b: str, **changes) -> dict:
    # JSON numbers, as the older document writes them
    return {
        "role": "maker",
        "sending_amount": 42,
        "sending_token": token_a,
        "receiving_amount": 76,
        "receiving_token": token_b,
        **changes,
    }


def taker_body(token_a: str, token_b: str, **changes) -> dict:
    return {
        "role": "taker",
        "sending_amount": 76,
        "sending_token": token_b,
        "receiving_amount": 42,
        "receiving_token": token_a,
        **changes,
    }


def swap_of(node) -> TokenSwap:
    return TokenSwap.objects.get(node=node, identifier=IDENTIFIER)


def balances(m, t, maker, taker, token_a, token_b) -> tuple[int, int, int, int]:
    """(maker's A, taker's A, maker's B, taker's B) in their two channels."""
    return (
        int(channel_of(m, token_a, taker)["balance"]),
        int(channel_of(t, token_a, maker)["balance"]),
        int(channel_of(m, token_b, taker)["balance"]),
        int(channel_of(t, token_b, maker)["balance"]),
    )


@pytest.mark.parametrize("taker_first", [False, True], ids=["maker-first", "taker-first"])
def test_a_swap_completes_on_both_sides(swap_setup, taker_first):
    maker, taker, m, t, token_a, token_b = swap_setup
    registrations = [
        (t, f"/token_swaps/{maker.address}/{IDENTIFIER}", taker_body(token_a, token_b)),
        (m, f"/token_swaps/{taker.address}/{IDENTIFIER}", maker_body(token_a, token_b)),
    ]
    if not taker_first:
        registrations.reverse()
    for api, path, body in registrations:
        response = api.put(path, body)
        assert response.status_code == 201, response.json_body
    duty_rounds(
        lambda: swap_of(maker).status == swap_of(taker).status == "completed", "both sides of the swap to complete"
    )
    assert balances(m, t, maker, taker, token_a, token_b) == (100 - 42, 42, 76, 100 - 76)
    # one secret hash for both payments, each node with its two parts succeeded
    secrethash = swap_of(maker).secrethash
    assert swap_of(taker).secrethash == secrethash
    for node in (maker, taker):
        parts = Payment.objects.filter(node=node, secrethash=secrethash)
        assert sorted(parts.values_list("role", "status")) == [("initiator", "succeeded"), ("target", "succeeded")]
    # the swap as GET shows it, and the payments as the payment history shows them
    shown = m.get(f"/token_swaps/{taker.address}/{IDENTIFIER}").json_body
    assert shown["status"] == "completed" and shown["secret_hash"] == secrethash and "secret" not in shown
    events = sorted((e["event"], e["amount"]) for e in m.get("/payments").json_body)
    assert events == [("EventPaymentReceivedSuccess", "76"), ("EventPaymentSentSuccess", "42")]
    # registering the same swap again changes nothing
    again = m.put(f"/token_swaps/{taker.address}/{IDENTIFIER}", maker_body(token_a, token_b))
    assert again.status_code == 200 and again.json_body["status"] == "completed"


def expire_every_lock(chain_env, maker, taker) -> None:
    chain_env.mine(30)  # past the maker's lock timeout (min(settle_timeout, 4 * reveal_timeout) = 20)
    duty_rounds(
        lambda: not Payment.objects.filter(node__in=[maker, taker], status="pending").exists(),
        "every lock of the swap to expire",
    )


def test_a_taker_who_never_shows_up_leaves_the_maker_whole(swap_setup, chain_env):
    maker, taker, m, t, token_a, token_b = swap_setup
    assert m.put(f"/token_swaps/{taker.address}/{IDENTIFIER}", maker_body(token_a, token_b)).status_code == 201
    # the maker's lock is out, and the taker's node does not get the secret by asking for it
    pending = m.get("/pending_transfers").json_body
    assert [(p["role"], p["locked_amount"]) for p in pending] == [("initiator", "42")]
    target_part = Payment.objects.get(node=taker, role="target")
    assert target_part.secret == "" and target_part.status == "pending"
    expire_every_lock(chain_env, maker, taker)
    duty_rounds(lambda: swap_of(maker).status == "failed", "the maker's swap to end")
    assert swap_of(maker).failure_reason == "lock expired"
    assert balances(m, t, maker, taker, token_a, token_b) == (100, 0, 0, 100)
    assert m.get("/pending_transfers").json_body == []


@pytest.mark.parametrize(
    ("taker_changes", "maker_reason", "taker_reason"),
    [
        # the taker expects 43 of A: it never locks its 76 of B
        ({"receiving_amount": 43}, "lock expired", "the maker locked 42, not the agreed 43"),
        # the taker offers 75 of B: the maker never reveals the secret
        ({"sending_amount": 75}, "the taker locked 75, not the agreed 76", "lock expired"),
    ],
    ids=["taker-expects-more", "taker-offers-less"],
)
def test_mismatched_amounts_give_everyone_their_tokens_back(
    swap_setup, chain_env, taker_changes, maker_reason, taker_reason
):
    maker, taker, m, t, token_a, token_b = swap_setup
    assert m.put(f"/token_swaps/{taker.address}/{IDENTIFIER}", maker_body(token_a, token_b)).status_code == 201
    assert (
        t.put(f"/token_swaps/{maker.address}/{IDENTIFIER}", taker_body(token_a, token_b, **taker_changes)).status_code
        == 201
    )
    expire_every_lock(chain_env, maker, taker)
    duty_rounds(lambda: swap_of(maker).status == swap_of(taker).status == "failed", "both sides to fail")
    assert swap_of(maker).failure_reason == maker_reason
    assert swap_of(taker).failure_reason == taker_reason
    assert balances(m, t, maker, taker, token_a, token_b) == (100, 0, 0, 100)
    assert not Payment.objects.filter(node__in=[maker, taker], status="succeeded").exists()


def test_token_swap_errors(swap_setup, make_node):
    maker, taker, m, _t, token_a, token_b = swap_setup
    path = f"/token_swaps/{taker.address}/{IDENTIFIER}"
    for body in (
        maker_body(token_a, token_b, role="broker"),
        {k: v for k, v in maker_body(token_a, token_b).items() if k != "receiving_token"},
        maker_body(token_a, token_b, sending_amount="x"),
        maker_body(token_a, token_b, sending_token="0x123"),
    ):
        response = m.put(path, body)
        assert response.status_code == 400, (body, response.json_body)
    same = m.put(path, maker_body(token_a, token_a))
    assert same.status_code == 400 and same.json_body["errors"] == "A token swap exchanges two different tokens"
    assert m.put(path, maker_body(token_a, token_b, sending_amount=0)).status_code == 400
    unknown = m.put(path, maker_body("0x" + "12" * 20, token_b))  # a token with no token network
    assert unknown.status_code == 409 and unknown.json_body["errors"] == "Token address is not known."
    # more than the maker's channel holds: 402, and no swap is registered
    too_much = m.put(path, maker_body(token_a, token_b, sending_amount=101))
    assert too_much.status_code == 402, too_much.json_body
    # no route to a node without channels: 409
    stranger = make_node()
    assert m.put(f"/token_swaps/{stranger.address}/{IDENTIFIER}", maker_body(token_a, token_b)).status_code == 409
    assert not TokenSwap.objects.exists()
    # an identifier used for another swap with the same partner: 409
    assert m.put(path, maker_body(token_a, token_b)).status_code == 201
    other = m.put(path, maker_body(token_a, token_b, sending_amount=41))
    assert other.status_code == 409 and "exists already" in other.json_body["errors"]
    assert m.put(f"/token_swaps/{taker.address}/not-a-number", maker_body(token_a, token_b)).status_code == 404
    assert m.get(f"/token_swaps/{taker.address}/999").status_code == 404


def test_a_taker_takes_the_secret_from_the_chain(swap_setup, chain_env):
    """The maker's node does not reveal off-chain (here: it is stopped when the taker's lock would
    reach it) and the secret is registered on chain: the taker takes it from there, asks the
    maker for its Unlock, and once the maker is back both payments complete."""
    from channels_app.services.ingest import chain_ingest_all
    from raidennode.chain.proxies import SecretRegistryProxy
    from raidennode.nodes.services import node_start, node_stop
    from transfers_app.models import Message
    from transfers_app.services.messaging import chain_context
    from transfers_app.services.swaps import swaps_advance

    maker, taker, m, t, token_a, token_b = swap_setup
    assert m.put(f"/token_swaps/{taker.address}/{IDENTIFIER}", maker_body(token_a, token_b)).status_code == 201
    node_stop(maker)
    assert t.put(f"/token_swaps/{maker.address}/{IDENTIFIER}", taker_body(token_a, token_b)).status_code == 201
    assert swap_of(taker).counter_sent and not swap_of(maker).revealed  # the taker's lock did not arrive

    secret = bytes.fromhex(swap_of(maker).secret[2:])
    registry = SecretRegistryProxy(chain_env.client, chain_env.raiden.secret_registry)
    chain_env.deployer.send(registry.address, registry.register_secret_data(secret))
    chain_ingest_all()
    swaps_advance(chain_context())
    taker_part = Payment.objects.get(node=taker, role="target")
    assert taker_part.secret == "0x" + secret.hex()
    reveal = Message.objects.filter(sender=taker.address, recipient=maker.address, kind="RevealSecret")
    assert reveal.filter(status="pending").exists()

    node_start(maker)
    duty_rounds(lambda: swap_of(maker).status == swap_of(taker).status == "completed", "the swap to complete")
    assert balances(m, t, maker, taker, token_a, token_b) == (100 - 42, 42, 76, 100 - 76)
