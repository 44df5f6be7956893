"""Off-chain books against the chain: many payments both ways, locks still pending, then close,
update, settle and unlock on chain. Every token must end where the books said."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection
from django.test import Client

from channels_app.models import ChainEvent, ChainOperation
from channels_app.services.duties import chain_duties_run
from channels_app.services.ingest import chain_ingest_all
from tests.conftest import TEST_SETTLE_TIMEOUT, Api
from transfers_app.models import Payment
from transfers_app.services.duties import transfer_duties_run

from .conftest import channel_of, pay

pytestmark = pytest.mark.django_db(transaction=True)


def _pending_payment(api_prefix: str, token: str, target, amount: int, results: list) -> None:
    """A payment whose secret nobody knows: its lock stays pending until it expires."""
    try:
        response = Api(Client(), api_prefix).post(
            f"/payments/{token}/{target.address}",
            {"amount": str(amount), "secret_hash": "0x" + random.randbytes(32).hex()},
        )
        results.append((response.status_code, response.json_body))
    finally:
        connection.close()


def _wait_for(predicate, what: str, rounds: int = 400) -> None:
    import time

    for _ in range(rounds):
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _settle(chain_env, until) -> None:
    for _ in range(600):
        chain_ingest_all()
        chain_duties_run()
        transfer_duties_run()
        if until():
            return
        import time

        time.sleep(0.05)
    operations = list(ChainOperation.objects.values_list("kind", "status", "error_message"))
    events = list(ChainEvent.objects.values_list("name", flat=True))
    raise AssertionError(f"the channel did not settle and unlock: {operations} {events}")


def test_on_chain_balances_equal_the_books(pair, token, chain_env):
    alice, bob, a, b = pair
    rng = random.Random(7)
    for _ in range(12):
        assert pay(a, token, bob, rng.randint(1, 6)).status_code == 200
        assert pay(b, token, alice, rng.randint(1, 5)).status_code == 200

    results: list = []
    threads = [
        threading.Thread(target=_pending_payment, args=(a.prefix, token, bob, 3, results)),
        threading.Thread(target=_pending_payment, args=(a.prefix, token, bob, 4, results)),
        threading.Thread(target=_pending_payment, args=(b.prefix, token, alice, 2, results)),
    ]
    for thread in threads:
        thread.start()
    _wait_for(lambda: len(a.get("/pending_transfers").json_body) == 3, "the pending transfers")
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
    _settle(chain_env, lambda: ChainOperation.objects.filter(kind="channel_update", status="succeeded").exists())
    chain_env.mine(TEST_SETTLE_TIMEOUT + 1)

    def done() -> bool:
        return ChainEvent.objects.filter(name="ChannelSettled").exists() and (
            ChainEvent.objects.filter(name="ChannelUnlocked").count() == 2
        )

    _settle(chain_env, done)
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
