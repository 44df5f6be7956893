"""A target whose payer stays silent registers the secret on chain in time and is paid on chain."""

from __future__ import annotations

import random

import pytest
from django.db import transaction

from channels_app.models import ChainEvent
from raidennode.nodes.services import node_account, node_start, node_stop
from raidennode.protocol.hashing import sha256
from raidennode.protocol.messages import RevealSecret
from tests.conftest import TEST_SETTLE_TIMEOUT
from transfers_app.models import Payment
from transfers_app.services.duties import transfer_duties_run
from transfers_app.services.messaging import message_identifier_new, message_record, messages_send_after_commit

from .conftest import channel_of, duty_rounds, post_in_background, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_silent_payer_cannot_keep_what_it_owes(pair, token, chain_env):
    alice, bob, a, b = pair
    secret = random.randbytes(32)
    results: list = []

    thread = post_in_background(
        a, f"/payments/{token}/{bob.address}", {"amount": "30", "secret_hash": "0x" + sha256(secret).hex()}, results
    )
    wait_until(lambda: Payment.objects.filter(node=bob, secret_requested=True).exists(), "bob to ask for the secret")

    # Alice reveals the secret to Bob and then goes silent: Bob's RevealSecret to her is refused,
    # so she never sends the Unlock that would pay him off-chain.
    node_stop(alice)
    with transaction.atomic():
        reveal = RevealSecret(message_identifier=message_identifier_new(), secret=secret).signed(
            node_account(alice).signer
        )
        messages_send_after_commit([message_record(alice, bob.address, reveal)])
    owed = Payment.objects.get(node=bob)
    assert owed.secret == "0x" + secret.hex() and owed.status == "pending"
    assert channel_of(b, token, alice)["balance"] == "100"  # not paid off-chain

    # Within the reveal timeout of the expiration, Bob registers the secret (mined before the
    # expiration block), then closes with Alice's balance proof holding the lock.
    assert transfer_duties_run() == 0  # too early: there is still time for an Unlock
    head = chain_env.client.block_number()
    chain_env.mine(owed.expiration - owed.payer_channel.reveal_timeout - head)
    duty_rounds(lambda: ChainEvent.objects.filter(name="SecretRevealed").exists(), "the secret registration")
    revealed = ChainEvent.objects.get(name="SecretRevealed")
    assert revealed.block_number < owed.expiration
    closed = b.patch(f"/channels/{token}/{alice.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    chain_env.mine(TEST_SETTLE_TIMEOUT + 1)
    duty_rounds(lambda: ChainEvent.objects.filter(name="ChannelUnlocked").exists(), "the on-chain unlock")

    assert chain_env.token_balance(bob.address) == 900 + 100 + 30
    assert chain_env.token_balance(alice.address) == 900 + 70
    duty_rounds(lambda: Payment.objects.get(node=bob).status == "succeeded", "bob's payment to end")
    received = b.get("/payments").json_body
    assert [(e["event"], e["amount"]) for e in received] == [("EventPaymentReceivedSuccess", "30")]

    # Alice's request ends too: the payment was made, on chain.
    node_start(alice)
    duty_rounds(lambda: bool(results), "alice's answer")
    thread.join(timeout=10)
    assert results[0][0] == 200, results
    assert results[0][1]["secret"] == "0x" + secret.hex()


def test_a_mediator_whose_payer_stays_silent_is_paid_on_chain(line, token, chain_env):
    (alice, bob, carol), (a, b, c) = line
    secret = random.randbytes(32)
    results: list = []

    thread = post_in_background(
        a, f"/payments/{token}/{carol.address}", {"amount": "20", "secret_hash": "0x" + sha256(secret).hex()}, results
    )
    wait_until(
        lambda: Payment.objects.filter(node=carol, secret_requested=True).exists(), "carol to ask for the secret"
    )

    # Alice reveals the secret to Carol and goes silent. Carol reveals it to Bob, who pays her
    # with Unlock and asks Alice for his money in vain.
    node_stop(alice)
    with transaction.atomic():
        reveal = RevealSecret(message_identifier=message_identifier_new(), secret=secret).signed(
            node_account(alice).signer
        )
        messages_send_after_commit([message_record(alice, carol.address, reveal)])
    assert Payment.objects.get(node=carol).status == "succeeded"
    mediated = Payment.objects.get(node=bob)
    assert mediated.status == "pending" and mediated.unlocked
    bob_owed = mediated.amount

    head = chain_env.client.block_number()
    chain_env.mine(mediated.expiration - mediated.payer_channel.reveal_timeout - head)
    duty_rounds(lambda: ChainEvent.objects.filter(name="SecretRevealed").exists(), "the mediator's secret registration")
    assert ChainEvent.objects.get(name="SecretRevealed").block_number < mediated.expiration
    closed = b.patch(f"/channels/{token}/{alice.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    chain_env.mine(TEST_SETTLE_TIMEOUT + 1)
    duty_rounds(lambda: ChainEvent.objects.filter(name="ChannelUnlocked").exists(), "the on-chain unlock")
    duty_rounds(lambda: Payment.objects.get(node=bob).status == "succeeded", "the mediator's payment to end")

    # Bob paid Carol 20 off-chain and got what Alice locked for him on chain: he lost nothing.
    assert chain_env.token_balance(bob.address) == 1000 - 100 + bob_owed
    assert channel_of(b, token, carol)["balance"] == str(100 - 20)
    node_start(alice)
    duty_rounds(lambda: bool(results), "alice's answer")
    thread.join(timeout=10)
    assert results[0][0] == 200, results
