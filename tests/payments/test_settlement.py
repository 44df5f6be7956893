"""Off-chain books against the chain: many payments both ways, locks still pending, then close,
update, settle and unlock on chain. Every token must end where the books said."""

from __future__ import annotations

import random

import pytest

from channels_app.models import ChainEvent, ChainOperation
from tests.conftest import TEST_SETTLE_TIMEOUT
from transfers_app.models import Payment

from .conftest import channel_of, duty_rounds, pay, post_in_background, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _pending_payment(api, token: str, target, amount: int, results: list):
    """A payment whose secret nobody knows: its lock stays pending until it expires."""
    body = {"amount": str(amount), "secret_hash": "0x" + random.randbytes(32).hex()}
    return post_in_background(api, f"/payments/{token}/{target.address}", body, results)


def test_on_chain_balances_equal_the_books(pair, token, chain_env):
    alice, bob, a, b = pair
    rng = random.Random(7)
    for _ in range(12):
        assert pay(a, token, bob, rng.randint(1, 6)).status_code == 200
        assert pay(b, token, alice, rng.randint(1, 5)).status_code == 200

    results: list = []
    threads = [
        _pending_payment(a, token, bob, 3, results),
        _pending_payment(a, token, bob, 4, results),
        _pending_payment(b, token, alice, 2, results),
    ]
    wait_until(lambda: len(a.get("/pending_transfers").json_body) == 3, "the pending transfers")
    pending = a.get("/pending_transfers").json_body
    # locked_amount is the balance proof's: the second lock's proof carries both locks
    locked = sorted(int(p["locked_amount"]) for p in pending if p["role"] == "initiator")
    assert locked in ([3, 7], [4, 7]), pending
    assert sorted(p["role"] for p in pending) == ["initiator", "initiator", "target"]

    books_alice = int(channel_of(a, token, bob)["balance"])
    books_bob = int(channel_of(b, token, alice)["balance"])
    assert books_alice + books_bob == 200

    # Alice closes with Bob's latest balance proof; Bob's node answers with Alice's
    # (updateNonClosingBalanceProof), then the channel settles and the pending locks go back
    # to their senders with an on-chain unlock (their secrets were never registered).
    closed = a.patch(f"/channels/{token}/{bob.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    duty_rounds(lambda: ChainOperation.objects.filter(kind="channel_update", status="succeeded").exists(), "the update")
    chain_env.mine(TEST_SETTLE_TIMEOUT + 1)

    def done() -> bool:
        return ChainEvent.objects.filter(name="ChannelSettled").exists() and (
            ChainEvent.objects.filter(name="ChannelUnlocked").count() == 2
        )

    duty_rounds(done, "the settlement and both unlocks", rounds=600)
    update = ChainOperation.objects.get(kind="channel_update")
    assert update.status == "succeeded" and update.result.get("transaction_hash"), update.result
    assert chain_env.token_balance(alice.address) == 900 + books_alice
    assert chain_env.token_balance(bob.address) == 900 + books_bob
    assert chain_env.token_balance(chain_env.token_network) == 0

    # The blocked payments end once their locks expired: 409 "lock expired", nothing paid.
    for thread in threads:
        thread.join(timeout=30)
    assert [status for status, _ in results] == [409, 409, 409], results
    assert all("lock expired" in body["errors"] for _, body in results)
    assert not Payment.objects.filter(status=Payment.Status.PENDING, role=Payment.Role.INITIATOR).exists()
