"""A cheating co-hosted partner closes directly on chain with a stale balance proof of ours,
hoping we do not answer with its own latest one. Our node's update duty answers, and settlement
pays us what our books say (or more: the cheater loses what its stale proof left out)."""

from __future__ import annotations

import time

import pytest

from channels_app.models import ChainEvent, ChainOperation
from raidennode.chain.proxies import TokenNetworkProxy
from raidennode.nodes.services import node_account, node_stop
from raidennode.protocol.addresses import address_to_bytes
from raidennode.protocol.constants import MessageTypeId
from raidennode.protocol.messages import message_from_dict
from raidennode.protocol.packing import pack_signed_balance_proof
from tests.conftest import TEST_SETTLE_TIMEOUT
from transfers_app.models import Message

from .conftest import channel_of, duty_rounds, pay

pytestmark = pytest.mark.django_db(transaction=True)


def close_on_chain_as(cheater, partner_proof_message, chain_env, token_network: str, identifier: int) -> None:
    """What a cheating node does outside the protocol: close with a balance proof of its choice."""
    client = chain_env.client
    network = TokenNetworkProxy(client, token_network)
    proof = partner_proof_message.balance_proof
    additional_hash = partner_proof_message.message_hash()
    account = node_account(cheater)
    closing_signature = account.sign_message(
        pack_signed_balance_proof(
            address_to_bytes(token_network),
            client.chain_id,
            identifier,
            proof.balance_hash,
            proof.nonce,
            additional_hash,
            partner_proof_message.signature,
            MessageTypeId.BALANCE_PROOF,
        )
    )
    data = network.close_channel_data(
        identifier,
        partner_proof_message.sender(),
        cheater.address,
        proof.balance_hash,
        proof.nonce,
        additional_hash,
        partner_proof_message.signature,
        closing_signature,
    )
    max_fee, tip = client.fees()
    signed = account.sign_transaction(
        chain_id=client.chain_id,
        nonce=client.nonce(cheater.address),
        to=network.address,
        data=data,
        gas=500_000,
        max_fee_per_gas=max_fee,
        max_priority_fee_per_gas=tip,
    )
    transaction_hash = client.send_raw(signed.raw)
    for _ in range(200):
        receipt = client.receipt(transaction_hash)
        if receipt is not None:
            assert receipt["status"] == 1, receipt
            return
        time.sleep(0.05)
    raise AssertionError("the cheater's close was not mined")


def test_a_stale_close_never_gains(pair, token, chain_env):
    alice, bob, a, b = pair
    assert pay(a, token, bob, 10).status_code == 200  # alice's first balance proof: transferred 10
    for _ in range(3):
        assert pay(b, token, alice, 20).status_code == 200  # bob pays alice 60 in all
    assert pay(a, token, bob, 5).status_code == 200
    books_alice = int(channel_of(a, token, bob)["balance"])  # 100 - 15 + 60 = 145
    assert books_alice == 145

    # Bob stops his node and closes with alice's oldest balance proof (an Unlock of the first
    # payment), hoping alice's node never submits his transfers of 60 to her.
    node_stop(bob)
    oldest = (
        Message.objects.filter(sender=alice.address, kind="Unlock").order_by("nonce").values_list("payload", flat=True)
    )[0]
    channel = channel_of(a, token, bob)
    close_on_chain_as(
        bob, message_from_dict(oldest), chain_env, channel["token_network_address"], int(channel["channel_identifier"])
    )

    # Alice's node sees the close and answers with bob's latest balance proof, then settles.
    duty_rounds(lambda: ChainOperation.objects.filter(kind="channel_update", status="succeeded").exists(), "the update")
    chain_env.mine(TEST_SETTLE_TIMEOUT + 1)
    duty_rounds(lambda: ChainEvent.objects.filter(name="ChannelSettled").exists(), "the settlement")
    # Alice gets at least her books (145); bob's stale proof only cost him alice's last 5.
    assert chain_env.token_balance(alice.address) == 900 + 150
    assert chain_env.token_balance(alice.address) >= 900 + books_alice
    assert chain_env.token_balance(bob.address) == 900 + 50


def test_a_failed_update_is_retried_until_it_succeeds(pair, token, chain_env):
    """Bob closes (with no balance proof of alice's: she never paid him) while alice has no ETH
    for gas: her update of bob's transfers to her fails, and succeeds on a later round."""
    alice, bob, a, b = pair
    assert pay(b, token, alice, 40).status_code == 200
    chain_env.set_eth(alice.address, 0)
    closed = b.patch(f"/channels/{token}/{alice.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    node_stop(bob)  # bob does nothing more: alice's node alone must get her money

    duty_rounds(
        lambda: ChainOperation.objects.filter(kind="channel_update", status="failed").exists(), "a failed update"
    )
    notes = a.get("/notifications").json_body  # nobody was waiting on that operation: alice is told
    assert [note["id"] for note in notes] == ["missing_gas_reserve"], notes
    chain_env.set_eth(alice.address, 10**20)
    duty_rounds(lambda: ChainOperation.objects.filter(kind="channel_update", status="succeeded").exists(), "the retry")
    chain_env.mine(TEST_SETTLE_TIMEOUT + 1)
    duty_rounds(lambda: ChainEvent.objects.filter(name="ChannelSettled").exists(), "the settlement")
    assert chain_env.token_balance(alice.address) == 900 + 140
    assert chain_env.token_balance(bob.address) == 900 + 60
