"""Lock expiry, redelivery, withdraws, cooperative settle and concurrent payments, end to end."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from channels_app.services.ingest import chain_ingest_all
from raidennode.nodes.services import node_start, node_stop
from transfers_app.models import Message, Payment
from transfers_app.services.duties import transfer_duties_run
from transfers_app.services.messaging import messages_redeliver

from .conftest import channel_of, pay, post_in_background, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unrevealed_lock_expires_and_the_amount_comes_back(pair, token, chain_env):
    alice, bob, a, b = pair
    results: list = []
    secrethash = "0x" + random.randbytes(32).hex()
    thread = post_in_background(
        a, f"/payments/{token}/{bob.address}", {"amount": "30", "secret_hash": secrethash}, results
    )
    wait_until(lambda: len(b.get("/pending_transfers").json_body) == 1, "the target's pending transfer")
    assert channel_of(a, token, bob)["balance"] == "100"  # locked, not transferred
    payment = Payment.objects.get(node=alice)

    # Not before the expiration block: nothing happens.
    assert transfer_duties_run() == 0
    chain_env.mine(payment.expiration - chain_env.client.block_number() + 1)
    chain_ingest_all()
    assert transfer_duties_run() >= 1
    thread.join(timeout=20)
    assert results and results[0][0] == 409, results
    assert results[0][1]["errors"] == "Payment couldn't be completed because: lock expired"
    assert Payment.objects.get(node=bob).status == "failed"
    assert Message.objects.get(kind="LockExpired").status == "processed"
    assert a.get("/pending_transfers").json_body == [] and b.get("/pending_transfers").json_body == []
    failed = a.get("/payments").json_body
    assert [(e["event"], e["reason"]) for e in failed] == [("EventPaymentSentFailed", "lock expired")]
    # the whole deposit can be paid again
    assert pay(a, token, bob, 100).status_code == 200
    assert channel_of(b, token, alice)["balance"] == "200"


def test_a_failed_delivery_is_retried_and_the_payment_completes(pair, token):
    alice, bob, a, b = pair
    node_stop(bob)
    results: list = []
    thread = post_in_background(a, f"/payments/{token}/{bob.address}", {"amount": "12"}, results)
    wait_until(lambda: Message.objects.filter(kind="LockedTransfer", attempts__gte=1).exists(), "a refused delivery")
    transfer = Message.objects.get(kind="LockedTransfer")
    assert transfer.status == "pending" and "stopped" in transfer.error
    assert not results  # the payment waits

    node_start(bob)
    assert messages_redeliver(now=transfer.next_attempt_at) == 1
    thread.join(timeout=20)
    assert results == [(200, results[0][1])] and results[0][1]["amount"] == "12"
    assert channel_of(b, token, alice)["balance"] == "112"
    # Delivered once: a second redelivery finds nothing pending.
    assert set(Message.objects.values_list("status", flat=True)) == {"processed"}
    assert messages_redeliver(now=transfer.next_attempt_at) == 0


def test_withdraw_goes_on_chain(pair, token, chain_env):
    alice, bob, a, b = pair
    assert pay(b, token, alice, 20).status_code == 200
    before = chain_env.token_balance(alice.address)
    response = a.patch(f"/channels/{token}/{bob.address}", {"total_withdraw": "50"})
    assert response.status_code == 200, response.json_body
    assert response.json_body["total_withdraw"] == "50"
    assert response.json_body["balance"] == "70"  # 100 - 50 + 20
    assert chain_env.token_balance(alice.address) == before + 50
    assert channel_of(b, token, alice)["balance"] == "80"
    # the partner can still be paid what is left
    assert pay(a, token, bob, 70).status_code == 200
    assert pay(a, token, bob, 1).status_code == 402

    same = a.patch(f"/channels/{token}/{bob.address}", {"total_withdraw": "50"})
    assert same.status_code == 409 and same.json_body["errors"] == "Total withdraw 50 did not increase"
    too_much = a.patch(f"/channels/{token}/{bob.address}", {"total_withdraw": "51"})
    assert too_much.status_code == 409
    assert too_much.json_body["errors"] == "The withdraw of 1 is bigger than the current balance of 0"


def test_withdraw_needs_a_running_partner(pair, token):
    alice, bob, a, b = pair
    node_stop(bob)
    response = a.patch(f"/channels/{token}/{bob.address}", {"total_withdraw": "10"})
    assert response.status_code == 409 and "not reachable" in response.json_body["errors"]
    node_start(bob)
    assert channel_of(a, token, bob)["total_withdraw"] == "0"


def test_close_settles_cooperatively_when_the_partner_agrees(pair, token, chain_env, settings):
    settings.RAIDEN_COOPERATIVE_SETTLE = True
    alice, bob, a, b = pair
    assert pay(a, token, bob, 35).status_code == 200
    assert pay(b, token, alice, 5).status_code == 200
    closed = a.patch(f"/channels/{token}/{bob.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    assert closed.content == b"null"
    assert a.get(f"/channels/{token}/{bob.address}").status_code == 404
    assert chain_env.token_balance(alice.address) == 900 + 70
    assert chain_env.token_balance(bob.address) == 900 + 130
    assert chain_env.token_balance(chain_env.token_network) == 0


def test_close_with_a_stopped_partner_closes_on_chain(pair, token, settings):
    settings.RAIDEN_COOPERATIVE_SETTLE = True
    alice, bob, a, b = pair
    node_stop(bob)
    closed = a.patch(f"/channels/{token}/{bob.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    assert closed.json_body["state"] == "closed"


def test_concurrent_payments_on_one_channel(pair, token):
    """Both nodes pay each other from many threads at once: no double spend, nonces in order."""
    alice, bob, a, b = pair
    results: list = []
    threads = []
    for index in range(24):
        sender, target = (a, bob) if index % 2 == 0 else (b, alice)
        threads.append(post_in_background(sender, f"/payments/{token}/{target.address}", {"amount": "3"}, results))
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(status for status, _ in results) == [200] * 24, results
    assert channel_of(a, token, bob)["balance"] == "100"
    assert channel_of(b, token, alice)["balance"] == "100"

    # Every balance proof either node signed has the next nonce of its channel end.
    nonces = defaultdict(list)
    for sender, nonce in Message.objects.exclude(nonce=None).order_by("id").values_list("sender", "nonce"):
        nonces[sender].append(nonce)
    for sender, seen in nonces.items():
        assert sorted(seen) == list(range(1, len(seen) + 1)), (sender, seen)
    assert len(nonces[alice.address]) == 12 * 2 and len(nonces[bob.address]) == 12 * 2


def test_concurrent_payments_cannot_overspend(pair, token):
    alice, bob, a, b = pair
    results: list = []
    threads = [post_in_background(a, f"/payments/{token}/{bob.address}", {"amount": "30"}, results) for _ in range(6)]
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 3, results  # 3 x 30 fit in 100, a fourth does not
    assert set(statuses) <= {200, 402, 409}
    assert channel_of(a, token, bob)["balance"] == "10"
    assert channel_of(b, token, alice)["balance"] == "190"
