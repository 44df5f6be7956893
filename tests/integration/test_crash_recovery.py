"""kill -9 of the web process and of the Celery worker during payments, then recovery.

The hosted processes run as in production (gunicorn, a Celery worker, Celery beat) on the test
database and the test chain. Client threads make payments in both directions over HTTP while a
killer thread kills the web process or the worker with SIGKILL at random moments and starts it
again. Afterwards every payment has ended (succeeded or failed, none lost in between), every
message was processed, every chain operation succeeded, and after a close and settlement the chain pays each node what its
books say.
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
import requests

from channels_app.models import ChainOperation, NetworkChannel
from tests.hosted import HostedProcesses
from transfers_app.models import Message, Payment

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the hosted processes need Redis"),
]

PAYMENTS = 120
CLIENTS = 4
DEPOSIT = 1000
TOKENS = 3000
TOP_UPS = 6


def _until(predicate, what: str, seconds: float, chain_env=None) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if chain_env is not None:
            chain_env.mine(1)  # blocks pass, so locks can expire and windows can end
        time.sleep(0.2)


def _diagnostics(hosted: HostedProcesses) -> str:
    """What a failure needs to be understood: the chain operations, their transactions, the logs."""
    from channels_app.models import ChainTransaction

    ops = ChainOperation.objects.order_by("id").values_list(
        "id", "kind", "status", "error_code", "error_message", "attempts", "claimed_until", "serial_key", "subject_key"
    )
    txs = ChainTransaction.objects.order_by("id").values_list("id", "operation_id", "step", "nonce", "status")
    logs = "\n".join(
        f"--- {name}.log\n" + (hosted.tmp / f"{name}.log").read_text(errors="replace")[-3000:]
        for name in ("worker", "beat", "web")
        if (hosted.tmp / f"{name}.log").exists()
    )
    return "\n".join(["operations:", *map(str, ops), "transactions:", *map(str, txs), logs])


def test_kill_9_during_payments_loses_nothing(chain_env, make_node, tmp_path):
    alice, bob = make_node(tokens=TOKENS), make_node(tokens=TOKENS)
    token = chain_env.token
    hosted = HostedProcesses(chain_env, tmp_path, name="crash")
    try:
        hosted.start_worker()
        hosted.start_beat()
        hosted.start_web()
        opened = requests.put(
            f"{hosted.api(alice)}/channels",
            json={"token_address": token, "partner_address": bob.address, "total_deposit": str(DEPOSIT)},
            timeout=120,
        )
        assert opened.status_code == 201, opened.text
        deposited = requests.patch(
            f"{hosted.api(bob)}/channels/{token}/{alice.address}", json={"total_deposit": str(DEPOSIT)}, timeout=120
        )
        assert deposited.status_code == 200, deposited.text

        answers: list[int | str] = []
        done = threading.Event()

        def client(index: int) -> None:
            rng = random.Random(index)
            session = requests.Session()
            payer, payee = (alice, bob) if index % 2 == 0 else (bob, alice)
            for _ in range(PAYMENTS // CLIENTS):
                try:
                    response = session.post(
                        f"{hosted.api(payer)}/payments/{token}/{payee.address}",
                        json={"amount": str(rng.randint(1, 3))},
                        timeout=60,
                    )
                    answers.append(response.status_code)
                except requests.RequestException:
                    answers.append("connection lost")  # killed mid-request: the payment may have gone through
                    time.sleep(0.3)

        def killer() -> None:
            rng = random.Random(99)
            while not done.is_set():
                time.sleep(rng.uniform(0.8, 2.0))
                if done.is_set():
                    return
                name = "web" if hosted.kills["web"] <= hosted.kills["worker"] else "worker"
                hosted.kill(name)
                (hosted.start_web if name == "web" else hosted.start_worker)()

        deposits: list[int | str] = []

        def top_ups() -> None:
            """Chain operations while processes die: each node raises its deposit by 1, in turns."""
            session = requests.Session()
            totals = {alice.address: DEPOSIT, bob.address: DEPOSIT}
            for index in range(TOP_UPS):
                node, partner = (alice, bob) if index % 2 == 0 else (bob, alice)
                totals[node.address] += 1
                # A request cut off by a kill may or may not have been accepted: retry it, as a
                # client would (a total is idempotent; 409 means it was applied already). Bounded,
                # so that a top-up that never lands fails the test instead of hanging it.
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    try:
                        response = session.patch(
                            f"{hosted.api(node)}/channels/{token}/{partner.address}",
                            json={"total_deposit": str(totals[node.address])},
                            timeout=120,
                        )
                    except requests.RequestException:
                        deposits.append("connection lost")
                        time.sleep(0.5)
                        continue
                    deposits.append(response.status_code)
                    if response.status_code in (200, 409):
                        break
                    deposits.append(response.text[:300])
                    time.sleep(0.5)

        # daemon threads: a thread still looping when the test fails must not keep pytest from exiting
        clients = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(CLIENTS)]
        topping = threading.Thread(target=top_ups, daemon=True)
        killing = threading.Thread(target=killer, daemon=True)
        for thread in [*clients, topping, killing]:
            thread.start()
        for thread in clients:
            thread.join(timeout=600)
        done.set()  # the kills stop with the payments; cut-off top-ups are retried and land
        killing.join(timeout=60)
        topping.join(timeout=300)
        assert hosted.kills["web"] >= 2 and hosted.kills["worker"] >= 1, hosted.kills
        assert len(answers) == PAYMENTS and deposits.count(200) + deposits.count(409) == TOP_UPS, (
            f"{deposits}\n{_diagnostics(hosted)}"
        )
        assert answers.count(200) > PAYMENTS // 3, answers

        # Recovery by the node alone (beat's duties): messages are redelivered, in-flight
        # payments finish or their locks expire.
        _until(
            lambda: (
                not Message.objects.filter(status="pending").exists()
                and not Payment.objects.filter(status="pending").exists()
            ),
            "every message processed and every payment ended",
            120,
            chain_env,
        )
        assert not Message.objects.filter(status="rejected").exists()
        statuses = set(Payment.objects.values_list("status", flat=True))
        assert statuses <= {"succeeded", "failed"}
        assert Payment.objects.filter(role="initiator").count() >= answers.count(200)

        # The books: what each node's succeeded payments say, and what its API says.
        def sent(node) -> int:
            rows = Payment.objects.filter(node=node, role="initiator", status="succeeded")
            return sum(rows.values_list("amount", flat=True))

        _until(
            lambda: not ChainOperation.objects.filter(status__in=["pending", "running"]).exists(),
            "every chain operation to end",
            120,
        )
        failed = list(ChainOperation.objects.filter(status="failed").values_list("kind", "error_message"))
        assert not failed, _diagnostics(hosted)
        nc = NetworkChannel.objects.get()
        alice_deposit, bob_deposit = (
            (nc.participant1_deposit, nc.participant2_deposit)
            if nc.participant1 == alice.address
            else (nc.participant2_deposit, nc.participant1_deposit)
        )
        # every top-up is on chain, those whose request was cut off included (nothing lost)
        assert (alice_deposit, bob_deposit) == (DEPOSIT + TOP_UPS // 2, DEPOSIT + TOP_UPS // 2), deposits
        alice_books = alice_deposit - sent(alice) + sent(bob)
        bob_books = bob_deposit - sent(bob) + sent(alice)
        a = requests.get(f"{hosted.api(alice)}/channels/{token}/{bob.address}", timeout=10).json()
        b = requests.get(f"{hosted.api(bob)}/channels/{token}/{alice.address}", timeout=10).json()
        assert (int(a["balance"]), int(b["balance"])) == (alice_books, bob_books)

        closed = requests.patch(
            f"{hosted.api(alice)}/channels/{token}/{bob.address}", json={"state": "closed"}, timeout=120
        )
        assert closed.status_code == 200, closed.text
        _until(
            lambda: NetworkChannel.objects.get().state == "settled", "the settlement by beat's duties", 120, chain_env
        )
        assert not ChainOperation.objects.filter(status__in=["pending", "running"]).exists()
        assert chain_env.token_balance(alice.address) == TOKENS - alice_deposit + alice_books
        assert chain_env.token_balance(bob.address) == TOKENS - bob_deposit + bob_books
        assert chain_env.token_balance(chain_env.token_network) == 0
    finally:
        hosted.stop(graceful=False)
