#!/usr/bin/env python
"""Restarting a node that holds 100,000 stored payments: how long until it answers and pays again.

    .venv/bin/python benchmarks/restart.py [--payments 100000] [--real-payments 40] [--restarts 3]
                                           [--workers 2] [--threads 4] [--history-days 180]
                                           [--redis-url URL] [--auth on|off] [--json PATH]

Run it from the project root with PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and
Redis on 127.0.0.1:6379. The default run takes about 2 minutes on 2 cores (``--payments 20000``
about 1.5 minutes); copying the history takes about 20 s of it.

The target (issue 4): restarting a node with 100,000 stored payments takes at most 5 seconds
(the reference implementation replays its state-change log on start and needed minutes to hours
for far fewer payments).

The state
---------
1. anvil is started, the Raiden contracts 0.40.0 are deployed with one test token and its token
   network, two co-hosted nodes alice and bob are created, given an API token each and funded (as
   benchmarks/payments.py).
2. The hosted processes are started on a scratch PostgreSQL database ``raidennode_bench_restart``
   (created and dropped by this script): gunicorn (gthread), a Celery worker and Celery beat.
3. Through the REST API alice opens the channel alice-bob with a deposit and bob deposits too;
   then ``--real-payments`` REAL payments (default 40, half alice->bob, half bob->alice) are made
   with POST /payments: real Payment, Message and StateChange rows and real off-chain channel
   state (nonces, transferred amounts, balance proofs on both Channel rows).
4. The processes are stopped and the history is grown to ``--payments`` payments IN SQL: the
   node makes about 40 payments/s (docs/performance.md), so 100,000 real payments would take 40
   minutes; instead the real rows are REPLICATED with INSERT ... SELECT over generate_series:
   - Payment: every real payment (its two rows, alice's and bob's) is copied until there are
     ``--payments`` payments, i.e. ``--payments`` rows per node and alice's GET /payments holds
     ``--payments`` events. Each copy has its own secret hash, secret and payment identifier
     (unique per node, as the constraints require), status succeeded, and a finished_at spread
     evenly over the ``--history-days`` days before the first real payment (created_at keeps the
     original's duration). Foreign keys (node, token network, channels) are the originals'.
   - Message and StateChange: the real rows are copied in the same proportion (about 5 messages
     and 6 log entries per payment), spread over the same days; messages are processed, each
     copy with its own message_identifier and balance_hash. A copy keeps the original's channel
     and nonce (every stored message has a nonce below the channel's current one, as in a real
     history) and its signed payload unchanged; state changes keep their JSON as it is.
   The copies have higher ids than the real rows though they are older (ids are not time order
   here). Then VACUUM ANALYZE of the three tables (what autovacuum gives a live deployment).
   The real channel state is untouched: the off-chain balances are those of the real payments.

What is measured
----------------
Process restart, ``--restarts`` times: gunicorn, the Celery worker and beat are stopped
entirely (SIGTERM, waited for), then launched again (gunicorn first, the Celery processes right
after it); from launching gunicorn, the wall time until
  (a) GET /nodes/<alice>/api/v1/address answers 200,
  (b) GET /nodes/<alice>/api/v1/payments?limit=10&offset=<payments - 10> answers 200 with 10
      events (a page at the end of the history),
  (c) a NEW payment alice->bob (POST /payments, amount 1) answers 200; the checks that follow
      (not timed): both ends of the channel moved by exactly the amount,
and, in parallel, (d) the Celery worker answers a ping. The milestones are awaited in order.
For comparison the same is then done ``--restarts`` times with gunicorn alone (Celery left
running): how much of the restart is the Celery processes' start-up competing for the CPU.

Node restart, ``--restarts`` times: POST /nodes/<alice>/api/v1/shutdown (its API then answers
503), then ``manage.py startnode <alice>`` is run and timed until the command exits, alice's
/address answers 200, and a new payment alice->bob answers 200 (balances checked likewise).

Reads on the warm server: GET /payments of alice with the whole history (no limit), with
limit=100, and the deep page of (b). In-process diagnostics: EXPLAIN ANALYZE of the deep page's
SELECT, the time of a fresh process's Django start-up (``get_wsgi_application``), and the SQL
statements of one round of the payment duties that Celery beat runs every second, slowest first.

Authentication as a hosted deployment runs it: RAIDEN_AUTH on (``--auth off`` for Raiden's
unauthenticated local API); every request sends its node's ``Authorization: Token <key>`` (also
with ``--auth off``, where it is ignored).

The script prints a table, says whether the 5 s target is met (every process restart's (c) and
every node restart's payment within 5 s), and exits with 1 when a check fails. Everything
started (anvil, gunicorn, Celery, the scratch database) is stopped and removed on exit, Ctrl-C
and SIGTERM included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import requests  # noqa: E402

from benchmarks.api_reads import (  # noqa: E402
    Gunicorn,
    api_tokens_create,
    auth_argument,
    auth_headers,
    free_port,
    machine_facts,
    main_with_cleanup,
    say,
    say_table,
    scratch_database_create,
    scratch_database_drop,
)
from benchmarks.payments import (  # noqa: E402
    AMOUNT,
    DEPOSIT,
    ETH_PER_NODE,
    STOP,
    TOKENS_PER_NODE,
    Celery,
    api,
    balance,
    database_checks,
    pay_load,
)
from raidennode.chain.anvil import ANVIL_DEFAULT_KEY, AnvilProcess  # noqa: E402
from raidennode.chain.client import ChainClient  # noqa: E402
from raidennode.chain.deploy import (  # noqa: E402
    Deployer,
    deploy_raiden,
    deploy_token,
    mint_tokens,
    register_token_network,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/raidennode_bench_restart"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TARGET_SECONDS = 5.0
# Replicated payment identifiers: far above what a run's real ones are likely to hit (random
# 64-bit values) and below 2**64 with any --payments this script can build.
IDENTIFIER_BASE = 10**19


# --- arguments ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--payments",
        type=int,
        default=100_000,
        help="payments in the stored history, real ones included (default 100000)",
    )
    parser.add_argument(
        "--real-payments",
        type=int,
        default=40,
        help="real payments made through the API before the history is replicated, half each way (default 40)",
    )
    parser.add_argument("--restarts", type=int, default=3, help="process restarts and node restarts (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2, for 2 cores)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    parser.add_argument(
        "--history-days", type=float, default=180.0, help="days the replicated history is spread over (default 180)"
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help=f"Redis for Celery (default {DEFAULT_REDIS_URL})"
    )
    auth_argument(parser)
    parser.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.real_payments < 2:
        parser.error("--real-payments must be at least 2 (one each way)")
    if args.payments < max(args.real_payments, 10):
        parser.error("--payments must be at least --real-payments and at least 10")
    if args.payments > 10**8:
        parser.error("--payments above 10^8 is not supported")
    if args.restarts < 1 or args.workers < 1 or args.threads < 1 or args.history_days <= 0:
        parser.error("--restarts, --workers, --threads and --history-days must be positive")
    return args


# --- processes --------------------------------------------------------------------------------------


class RestartGunicorn(Gunicorn):
    """The web process of README's Hosting section on a fixed port, launched without waiting."""

    def __init__(self, env: dict, workers: int, threads: int, port: int) -> None:
        super().__init__(env, workers, threads)
        self.port = port

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "raidennode.wsgi",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--worker-class",
            "gthread",
            "--timeout",
            "900",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
        ]

    def launch(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class Hosted:
    """The hosted processes of the moment (gunicorn, Celery worker and beat), started and stopped
    together; a fresh Gunicorn and Celery object each time (their stop() removes logs)."""

    def __init__(self, env: dict, queue: str, workers: int, threads: int) -> None:
        self.env = env
        self.queue = queue
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.gunicorn: RestartGunicorn | None = None
        self.celery: Celery | None = None
        self.celery_thread: threading.Thread | None = None
        self.celery_ready: float | None = None
        self.celery_error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self, web_only: bool = False) -> float:
        """Launches gunicorn, then (unless ``web_only``) the Celery worker and beat, whose readiness
        is awaited in a thread; the perf_counter value just before gunicorn was launched."""
        self.gunicorn = RestartGunicorn(self.env, self.workers, self.threads, self.port)
        started = time.perf_counter()
        self.gunicorn.launch()
        if web_only:
            return started
        self.celery = celery = Celery(self.env, self.queue, beat=True)
        self.celery_ready = None
        self.celery_error = None

        def celery_start() -> None:
            try:
                celery.start(timeout=120)
                self.celery_ready = time.perf_counter() - started
            except BaseException as exc:  # reported by wait_celery
                self.celery_error = exc

        self.celery_thread = threading.Thread(target=celery_start, name="celery-start", daemon=True)
        self.celery_thread.start()
        return started

    def wait_celery(self) -> float:
        """Seconds from the launch until the Celery worker answered a ping."""
        self.celery_thread.join(timeout=150)
        if self.celery_error is not None or self.celery_ready is None:
            raise RuntimeError(f"the Celery worker did not start: {self.celery_error}")
        return self.celery_ready

    def wait_ready(self, path: str = "/api/v1/status", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.gunicorn.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.gunicorn.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.base_url + path, headers=auth_headers(path), timeout=10).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in {timeout}s:\n{self.gunicorn.log_tail()}")
            time.sleep(0.05)

    def stop(self, web_only: bool = False) -> dict[str, float]:
        """Stops gunicorn and (unless ``web_only``) Celery: SIGTERM, waited for; seconds each took."""
        took = {}
        if self.celery_thread is not None:
            self.celery_thread.join(timeout=150)
            self.celery_thread = None
        started = time.perf_counter()
        if self.gunicorn is not None:
            self.gunicorn.stop()
            self.gunicorn = None
        took["gunicorn"] = time.perf_counter() - started
        if not web_only:
            started = time.perf_counter()
            if self.celery is not None:
                self.celery.stop()
                self.celery = None
            took["celery"] = time.perf_counter() - started
        return took


# --- building the state -----------------------------------------------------------------------------


@dataclass
class Pair:
    alice: str
    bob: str
    token: str


def build_chain_and_nodes(client: ChainClient) -> Pair:
    from django.core.management import call_command

    from channels_app.services.chain import deployment_create
    from channels_app.services.ingest import chain_ingest_all
    from raidennode.nodes.services import node_create

    call_command("migrate", interactive=False, verbosity=0)
    started = time.monotonic()
    deployer = Deployer(client, ANVIL_DEFAULT_KEY)
    raiden = deploy_raiden(deployer, settlement_timeout_min=5, settlement_timeout_max=100000)
    token = deploy_token(deployer, 10**27, 18, "BenchToken", "BT")
    register_token_network(deployer, raiden.token_network_registry, token)
    deployment_create(raiden, client.block(0)["hash"])
    nodes = [node_create(name=f"bench {name}") for name in ("alice", "bob")]
    api_tokens_create(nodes)  # alice's first: the default node
    addresses = [node.address for node in nodes]
    for address in addresses:
        client.rpc("anvil_setBalance", [address, hex(ETH_PER_NODE)])
        mint_tokens(deployer, token, address, TOKENS_PER_NODE)
    chain_ingest_all()
    say(
        f"deployed the Raiden contracts and a token network, created alice {addresses[0]} and bob "
        f"{addresses[1]} in {time.monotonic() - started:.1f}s"
    )
    return Pair(addresses[0], addresses[1], token)


def open_channel(base: str, pair: Pair) -> None:
    started = time.monotonic()
    steps = [
        ("PUT", pair.alice, "/channels", {"token_address": pair.token, "partner_address": pair.bob}, 201),
        ("PATCH", pair.bob, f"/channels/{pair.token}/{pair.alice}", {}, 200),
    ]
    for method, node, path, body, expected in steps:
        response = requests.request(
            method,
            api(base, node) + path,
            json={**body, "total_deposit": str(DEPOSIT)},
            headers=auth_headers(node),
            timeout=300,
        )
        if response.status_code != expected:
            raise RuntimeError(f"{method} {path} by {node}: {response.status_code} {response.text[:300]}")
    say(
        f"opened alice-bob through the API (PUT /channels by alice, PATCH by bob), {DEPOSIT} deposited on each side, "
        f"in {time.monotonic() - started:.1f}s"
    )


def real_payments(base: str, pair: Pair, total: int) -> None:
    started = time.monotonic()
    each = {"alice->bob": (pair.alice, pair.bob, total - total // 2), "bob->alice": (pair.bob, pair.alice, total // 2)}
    for label, (payer, payee, count) in each.items():
        url = f"{api(base, payer)}/payments/{pair.token}/{payee}"
        _, _, statuses, errors = pay_load(url, count, 4, 120)
        if statuses.get(200, 0) != count:
            raise RuntimeError(f"real payments {label} failed: {dict(statuses)} {errors}")
    say(
        f"made {total} real payments through POST /payments ({each['alice->bob'][2]} alice->bob, "
        f"{each['bob->alice'][2]} bob->alice) in {time.monotonic() - started:.1f}s"
    )


def _columns(model) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if not f.primary_key]


def _insert_copies(cursor, model, source: str, overrides: dict[str, str], params: list) -> int:
    """INSERT INTO <model's table> (every column but the id) SELECT the source's columns, some of
    them replaced by ``overrides`` (SQL over the source row ``s``); the rows inserted."""
    from django.db import connection

    quote = connection.ops.quote_name
    columns = _columns(model)
    unknown = set(overrides) - set(columns)
    if unknown:
        raise RuntimeError(f"{model.__name__} has no columns {sorted(unknown)}")
    expressions = [overrides.get(c, f"s.{quote(c)}") for c in columns]
    cursor.execute(
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"SELECT {', '.join(expressions)} FROM ({source}) s ORDER BY s.copy_number",
        params,
    )
    return cursor.rowcount


def _unique_hash(label: str, number: str) -> str:
    """A 0x-prefixed 64-hex-digit value of its own for each copy number (two md5s of it)."""
    return f"'0x' || md5('{label}-' || {number}) || md5('{label}+' || {number})"


@dataclass
class History:
    real_payments: int
    real_payment_rows: int
    real_messages: int
    real_state_changes: int
    payment_rows: int = 0
    message_rows: int = 0
    state_change_rows: int = 0
    insert_seconds: dict[str, float] = field(default_factory=dict)
    last_real_id: dict[str, int] = field(default_factory=dict)  # the copies have higher ids
    vacuum_seconds: float = 0.0
    sizes: dict[str, str] = field(default_factory=dict)


def history_replicate(total: int, days: float) -> History:
    """Grows the stored history to ``total`` payments by copying the real rows (see the module
    docstring); every copy is dated before the first real payment."""
    from django.db import connection, transaction

    from transfers_app.models import Message, Payment, StateChange

    tables = {m: m._meta.db_table for m in (Payment, Message, StateChange)}
    payment, message, state_change = tables[Payment], tables[Message], tables[StateChange]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(DISTINCT secrethash), count(*), min(created_at) FROM {payment}")
        real, payment_rows, first = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {message}")
        (messages,) = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {state_change}")
        (state_changes,) = cursor.fetchone()
    history = History(real, payment_rows, messages, state_changes)
    with connection.cursor() as cursor:
        for model, table in tables.items():
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
            history.last_real_id[model.__name__] = cursor.fetchone()[0]
    span = days * 86400.0
    # The copies in order: payment copy g (real <= g < total) of real payment r is copy round
    # g // real; messages and state changes likewise, in the proportion of the real rows.
    plans = [
        (
            Payment,
            real,
            total,
            f"""SELECT p.*, n.c * {real} + r.r AS copy_number
                FROM {payment} p
                JOIN (SELECT secrethash, row_number() OVER (ORDER BY min(id)) - 1 AS r
                      FROM {payment} GROUP BY secrethash) r USING (secrethash)
                CROSS JOIN generate_series(1, {math.ceil(total / real)}) n(c)
                WHERE n.c * {real} + r.r < {total}""",
            {
                "secrethash": _unique_hash("secrethash", "s.copy_number"),
                "secret": f"CASE WHEN s.secret = '' THEN '' ELSE {_unique_hash('secret', 's.copy_number')} END",
                "payment_identifier": f"{IDENTIFIER_BASE} + s.copy_number",
                "status": "'succeeded'",
                "failure_reason": "''",
                "finished_at": "{at}",
                "created_at": "{at} - (s.finished_at - s.created_at)",
            },
        ),
    ]
    for model, table, real_rows in ((Message, message, messages), (StateChange, state_change, state_changes)):
        wanted = round(real_rows * total / real)
        overrides = {"created_at": "{at}"}
        if model is Message:
            overrides.update(
                {
                    "message_identifier": f"{IDENTIFIER_BASE} + s.copy_number",
                    "balance_hash": (
                        f"CASE WHEN s.balance_hash = '' THEN '' ELSE {_unique_hash('balance', 's.copy_number')} END"
                    ),
                    "status": "'processed'",
                    "error": "''",
                    "attempts": "0",
                    "processed_at": "{at} + (s.processed_at - s.created_at)",
                    "next_attempt_at": "{at} + (s.next_attempt_at - s.created_at)",
                }
            )
        plans.append(
            (
                model,
                real_rows,
                wanted,
                f"""SELECT t.*, n.c * {real_rows} + r.r AS copy_number
                    FROM {table} t
                    JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS r FROM {table}) r USING (id)
                    CROSS JOIN generate_series(1, {max(1, math.ceil(wanted / real_rows))}) n(c)
                    WHERE n.c * {real_rows} + r.r < {wanted}""",
                overrides,
            )
        )
    with transaction.atomic(), connection.cursor() as cursor:
        for model, _, wanted, source, overrides in plans:
            # Copy number k of ``wanted`` is dated (wanted - k) / wanted of the span before the first
            # real payment: evenly spread, the newest copies just before the real rows.
            at = f"(%s::timestamptz - make_interval(secs => ({wanted} - s.copy_number) * {span / wanted!r}))"
            resolved = {column: sql.replace("{at}", at) for column, sql in overrides.items()}
            params = [first] * sum(sql.count("%s") for sql in resolved.values())
            started = time.perf_counter()
            inserted = _insert_copies(cursor, model, source, resolved, params)
            history.insert_seconds[model.__name__] = time.perf_counter() - started
            if model is Payment:
                history.payment_rows = inserted
            elif model is Message:
                history.message_rows = inserted
            else:
                history.state_change_rows = inserted
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in tables.values():
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")
        for table in tables.values():
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size(%s))", [table])
            history.sizes[table] = cursor.fetchone()[0]
    history.vacuum_seconds = time.perf_counter() - started
    return history


def history_problems(history: History) -> dict[str, int]:
    """What would make the copies unlike a real history, counted in SQL (all should be 0)."""
    from django.db import connection

    from transfers_app.models import Message, Payment, StateChange

    payment, message, state_change = (m._meta.db_table for m in (Payment, Message, StateChange))
    last = history.last_real_id
    queries = {
        "payment identifiers used twice by a node for one target": f"""
            SELECT count(*) FROM (SELECT 1 FROM {payment} GROUP BY node_id, target, payment_identifier
                                  HAVING count(*) > 1) d""",
        "payment copies without their counterpart at the other node": f"""
            SELECT count(*) FROM (SELECT 1 FROM {payment} GROUP BY secrethash HAVING count(*) <> 2) d""",
        "message identifiers used twice by a sender": f"""
            SELECT count(*) FROM (SELECT 1 FROM {message} GROUP BY sender, message_identifier
                                  HAVING count(*) > 1) d""",
        "balance hashes stored twice on a channel": f"""
            SELECT count(*) FROM (SELECT 1 FROM {message} WHERE balance_hash <> ''
                                  GROUP BY sender, token_network_id, channel_identifier, balance_hash
                                  HAVING count(*) > 1) d""",
        "payment copies dated after the first real payment": f"""
            SELECT count(*) FROM {payment} WHERE id > {last["Payment"]}
              AND finished_at >= (SELECT min(created_at) FROM {payment} WHERE id <= {last["Payment"]})""",
        "message copies dated after the first real message": f"""
            SELECT count(*) FROM {message} WHERE id > {last["Message"]}
              AND created_at >= (SELECT min(created_at) FROM {message} WHERE id <= {last["Message"]})""",
        "state-change copies dated after the first real one": f"""
            SELECT count(*) FROM {state_change} WHERE id > {last["StateChange"]}
              AND created_at >= (SELECT min(created_at) FROM {state_change} WHERE id <= {last["StateChange"]})""",
    }
    found = {}
    with connection.cursor() as cursor:
        for what, sql in queries.items():
            cursor.execute(sql)
            found[what] = cursor.fetchone()[0]
    return found


def alice_events(alice: str) -> int:
    """How many payment events alice's GET /payments would list (counted in SQL)."""
    from transfers_app.models import Payment

    return (
        Payment.objects.filter(node__address=alice, finished_at__isnull=False)
        .filter(role__in=(Payment.Role.INITIATOR, Payment.Role.TARGET))
        .exclude(role=Payment.Role.TARGET, status__in=(Payment.Status.PENDING, Payment.Status.FAILED))
        .count()
    )


# --- measuring -------------------------------------------------------------------------------------


@dataclass
class Check:
    what: str
    ok: bool


class Checks(list):
    def add(self, what: str, ok: bool) -> bool:
        self.append(Check(what, ok))
        if not ok:
            say(f"    CHECK FAILED: {what}")
        return ok


def balances(base: str, pair: Pair) -> tuple[int, int]:
    return balance(base, pair.alice, pair.token, pair.bob), balance(base, pair.bob, pair.token, pair.alice)


def pay_once(session: requests.Session, base: str, pair: Pair) -> requests.Response:
    return session.post(
        f"{api(base, pair.alice)}/payments/{pair.token}/{pair.bob}", json={"amount": str(AMOUNT)}, timeout=120
    )


def wait_for_200(session: requests.Session, url: str, timeout: float = 60.0) -> requests.Response:
    """GETs ``url`` until it answers 200 (connection refused and 503 are retried)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline and not STOP.is_set():
        try:
            response = session.get(url, timeout=timeout)
            if response.status_code == 200:
                return response
            last = f"{response.status_code} {response.text[:200]}"
        except requests.ConnectionError as exc:
            last = f"{type(exc).__name__}"
        time.sleep(0.01)
    raise RuntimeError(f"GET {url} did not answer 200 in {timeout}s: {last}")


def balance_checks(checks: Checks, label: str, before: tuple[int, int], after: tuple[int, int]) -> None:
    moved = (after[0] - before[0], after[1] - before[1])
    checks.add(
        f"{label}: alice's balance moved by {moved[0]:+d} (expected {-AMOUNT:+d}), bob's by {moved[1]:+d} "
        f"(expected {AMOUNT:+d})",
        moved == (-AMOUNT, AMOUNT),
    )


def process_restart(
    hosted: Hosted, pair: Pair, deep_offset: int, checks: Checks, number: int, web_only: bool = False
) -> dict:
    """Stops and launches the processes (only gunicorn with ``web_only``), times the milestones."""
    label = f"{'web-only ' if web_only else ''}restart {number}"
    before = balances(hosted.base_url, pair)
    stopped = hosted.stop(web_only)
    result = {f"stop_{name}_s": seconds for name, seconds in stopped.items()}
    session = requests.Session()
    session.headers.update(auth_headers(pair.alice))
    started = hosted.launch(web_only)
    base = hosted.base_url
    wait_for_200(session, f"{api(base, pair.alice)}/address")
    result["address_s"] = time.perf_counter() - started
    deep = session.get(f"{api(base, pair.alice)}/payments", params={"limit": 10, "offset": deep_offset}, timeout=120)
    result["deep_page_s"] = time.perf_counter() - started
    events = deep.json() if deep.status_code == 200 else []
    checks.add(
        f"{label}: GET /payments?limit=10&offset={deep_offset} answered {deep.status_code} with {len(events)} events",
        deep.status_code == 200 and len(events) == 10,
    )
    paid = pay_once(session, base, pair)
    result["payment_s"] = time.perf_counter() - started
    checks.add(f"{label}: POST /payments answered {paid.status_code}", paid.status_code == 200)
    if not web_only:
        result["celery_s"] = hosted.wait_celery()
    session.close()
    balance_checks(checks, label, before, balances(base, pair))
    say(
        f"  {label}: stopped in {' + '.join(f'{s:.2f}s ({n})' for n, s in stopped.items())}; after launching "
        f"gunicorn: /address 200 at {result['address_s']:.2f}s, deep page at {result['deep_page_s']:.2f}s, "
        f"payment 200 at {result['payment_s']:.2f}s"
        + ("" if web_only else f"; Celery worker answered a ping at {result['celery_s']:.2f}s")
    )
    return result


def node_restart(hosted: Hosted, pair: Pair, checks: Checks, number: int) -> dict:
    base = hosted.base_url
    before = balances(base, pair)
    session = requests.Session()
    session.headers.update(auth_headers(pair.alice))
    shutdown = session.post(f"{api(base, pair.alice)}/shutdown", timeout=60)
    checks.add(f"node restart {number}: POST /shutdown answered {shutdown.status_code}", shutdown.status_code == 200)
    stopped = session.get(f"{api(base, pair.alice)}/address", timeout=60)
    checks.add(
        f"node restart {number}: alice's /address answered {stopped.status_code} while stopped (503 expected)",
        stopped.status_code == 503,
    )
    started = time.perf_counter()
    command = subprocess.run(
        [sys.executable, "manage.py", "startnode", pair.alice],
        cwd=PROJECT_ROOT,
        env=hosted.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = {"command_s": time.perf_counter() - started}
    checks.add(
        f"node restart {number}: manage.py startnode exited with {command.returncode} {command.stderr.strip()[-300:]}",
        command.returncode == 0,
    )
    wait_for_200(session, f"{api(base, pair.alice)}/address")
    result["address_s"] = time.perf_counter() - started
    paid = pay_once(session, base, pair)
    result["payment_s"] = time.perf_counter() - started
    checks.add(f"node restart {number}: POST /payments answered {paid.status_code}", paid.status_code == 200)
    session.close()
    balance_checks(checks, f"node restart {number}", before, balances(base, pair))
    say(
        f"  node restart {number}: manage.py startnode took {result['command_s']:.2f}s; /address 200 at "
        f"{result['address_s']:.2f}s, payment 200 at {result['payment_s']:.2f}s"
    )
    return result


def timed_get(url: str, params: dict, repeat: int) -> dict:
    timings, size, count = [], 0, 0
    with requests.Session() as session:
        session.headers.update(auth_headers(url))
        for _ in range(repeat):
            started = time.perf_counter()
            response = session.get(url, params=params, timeout=600)
            body = response.content
            timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} {params}: {response.status_code} {body[:300]!r}")
            size, count = len(body), len(json.loads(body))
    return {"median_s": statistics.median(timings), "max_s": max(timings), "bytes": size, "events": count}


# --- in-process diagnostics ---------------------------------------------------------------------------


def explain_deep_page(alice: str, offset: int) -> dict:
    """EXPLAIN ANALYZE of the SELECT behind GET /payments?limit=10&offset=<offset>."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from raidennode.nodes.selectors import node_by_address
    from transfers_app.selectors import payment_events_for

    node = node_by_address(alice)
    with CaptureQueriesContext(connection) as ctx:
        payment_events_for(node, limit=10, offset=offset)
    (select,) = [q["sql"] for q in ctx.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + select)
        plan = [row[0] for row in cursor.fetchall()]
    execution = next((float(line.split()[2]) for line in plan if line.startswith("Execution Time")), float("nan"))
    return {"sql": select, "plan": plan, "execution_ms": execution}


def django_startup(env: dict) -> float:
    """Seconds a fresh Python process takes to import and set up the WSGI application and exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import raidennode.wsgi"], cwd=PROJECT_ROOT, env=env, check=True, timeout=120)
    return time.perf_counter() - started


def duties_statements() -> dict:
    """One round of the payment duties (what beat runs every second), in-process: each SQL
    statement with its time, slowest first."""
    from django.db import connection

    from transfers_app.services.duties import transfer_duties_run

    timings: list[tuple[float, str]] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started, sql))

    transfer_duties_run()  # warm
    timings.clear()
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        transfer_duties_run()
    total = time.perf_counter() - started
    timings.sort(key=lambda t: -t[0])
    return {
        "total_ms": total * 1000,
        "statements": len(timings),
        "slowest": [{"ms": seconds * 1000, "sql": sql} for seconds, sql in timings[:5]],
    }


# --- report ---------------------------------------------------------------------------------------------


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), max(values)


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    headers = ("measurement", "median", "max", "runs")
    say_table(headers, rows)


# --- main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    return main_with_cleanup(run, parse_args(argv), STOP)


def run(args, stack: contextlib.ExitStack) -> int:
    started_run = time.monotonic()
    anvil = AnvilProcess()
    stack.callback(anvil.stop)
    anvil.start()
    say(f"anvil on {anvil.rpc_url}")

    database_url = DEFAULT_DATABASE_URL
    scratch_database_create(database_url)
    stack.callback(scratch_database_drop, database_url)

    # Settings are read once, at django.setup(): the environment must be complete before it.
    queue = f"bench-restart-{uuid.uuid4().hex[:8]}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "raidennode.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["ETH_RPC_URL"] = anvil.rpc_url
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["RAIDEN_CELERY_QUEUE"] = queue
    os.environ["RAIDEN_CONFIRMATIONS"] = "0"
    os.environ["RAIDEN_AUTH"] = args.auth  # gunicorn, Celery and manage.py startnode get it through env
    os.environ.setdefault("RAIDEN_LOG_LEVEL", "WARNING")
    for name in ("RAIDEN_DEFAULT_NODE", "DEBUG"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.db import connections

    stack.callback(connections.close_all)

    client = ChainClient(anvil.rpc_url, timeout=60)
    pair = build_chain_and_nodes(client)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    hosted = Hosted(env, queue, args.workers, args.threads)
    stack.callback(hosted.stop)
    hosted.launch()
    hosted.wait_ready()
    hosted.wait_celery()
    say(f"serving with: gunicorn {' '.join(hosted.gunicorn.command[3:])}; Celery worker and beat on queue {queue}")

    open_channel(hosted.base_url, pair)
    real_payments(hosted.base_url, pair, args.real_payments)
    checks = Checks()
    problems = database_checks()
    checks.add(
        "the real payments: " + ("every Payment succeeded, every Message processed" if not problems else str(problems)),
        not problems,
    )

    # Nothing may write while the history is copied: the processes are stopped first.
    hosted.stop()
    say(
        f"\nreplicating the history in SQL to {args.payments} payments (the real ones are {args.real_payments}; "
        f"real payments run at ~40/s, {args.payments} would take ~{args.payments / 40 / 60:.0f} min):"
    )
    history = history_replicate(args.payments, args.history_days)
    say(
        f"  from {history.real_payments} real payments, {history.real_messages} messages and "
        f"{history.real_state_changes} state changes: inserted {history.payment_rows} Payment rows "
        f"({history.insert_seconds['Payment']:.1f}s), {history.message_rows} Message rows "
        f"({history.insert_seconds['Message']:.1f}s), {history.state_change_rows} StateChange rows "
        f"({history.insert_seconds['StateChange']:.1f}s); VACUUM ANALYZE {history.vacuum_seconds:.1f}s"
    )
    say(f"  table sizes with indexes: {', '.join(f'{t} {s}' for t, s in history.sizes.items())}")
    events = alice_events(pair.alice)
    checks.add(f"alice's history holds {events} payment events (expected {args.payments})", events == args.payments)
    for what, problem_count in history_problems(history).items():
        checks.add(f"replicated history: {what}: {problem_count} (expected 0)", problem_count == 0)
    deep_offset = args.payments - 10

    say("\nin-process diagnostics:")
    explain = explain_deep_page(pair.alice, deep_offset)
    say(f"  deep page SELECT (offset {deep_offset}): EXPLAIN ANALYZE execution {explain['execution_ms']:.1f} ms")
    for line in explain["plan"]:
        say(f"    {line}")
    startup = [django_startup(env) for _ in range(3)]
    say(
        f"  a fresh process importing raidennode.wsgi (Python + Django set-up): median {statistics.median(startup):.2f}s"
    )
    duties = duties_statements()
    say(
        f"  one round of the payment duties (beat, every second): {duties['total_ms']:.1f} ms, "
        f"{duties['statements']} statements; slowest:"
    )
    for row in duties["slowest"][:3]:
        say(f"    {row['ms']:.2f} ms  {' '.join(row['sql'].split())[:200]}")
    connections.close_all()

    say(
        f"\nprocess restarts (gunicorn {args.workers} workers x {args.threads} threads, Celery worker and beat; "
        "times from launching gunicorn):"
    )
    hosted.launch()
    hosted.wait_ready()
    hosted.wait_celery()
    load_before = os.getloadavg()
    restarts = [process_restart(hosted, pair, deep_offset, checks, n + 1) for n in range(args.restarts)]
    say("\nweb-only restarts for comparison (gunicorn alone stopped and launched, Celery left running):")
    web_restarts = [
        process_restart(hosted, pair, deep_offset, checks, n + 1, web_only=True) for n in range(args.restarts)
    ]

    say("\nnode restarts (POST /shutdown of alice, then manage.py startnode <alice>; times from launching it):")
    node_restarts = [node_restart(hosted, pair, checks, n + 1) for n in range(args.restarts)]

    say("\nreads on the warm server (alice):")
    url = f"{api(hosted.base_url, pair.alice)}/payments"
    reads = {
        "whole history": timed_get(url, {}, 3),
        "limit=100": timed_get(url, {"limit": 100}, 10),
        f"limit=10&offset={deep_offset}": timed_get(url, {"limit": 10, "offset": deep_offset}, 10),
    }
    for label, read in reads.items():
        say(
            f"  GET /payments {label}: {read['events']} events, {read['bytes'] / 1e6:.2f} MB, "
            f"median {read['median_s'] * 1000:.0f} ms, max {read['max_s'] * 1000:.0f} ms"
        )
    checks.add(
        f"GET /payments (whole history) listed {reads['whole history']['events']} events "
        f"(expected {args.payments + 3 * args.restarts})",
        reads["whole history"]["events"] == args.payments + 3 * args.restarts,
    )
    load_after = os.getloadavg()
    hosted.stop()
    problems = database_checks()
    checks.add(
        "at the end: " + ("every Payment succeeded, every Message processed" if not problems else str(problems)),
        not problems,
    )

    facts = machine_facts()
    say("\nResults")
    say(
        f"machine: {facts['cpus']} CPUs ({facts['cpu_model']}), Python {facts['python']}, Django {facts['django']}, "
        f"gunicorn {facts['gunicorn']}, PostgreSQL {facts['postgresql']}; everything on the same machine"
    )
    say(
        f"load average (1/5/15 min) before the restarts: {'/'.join(f'{x:.2f}' for x in load_before)}, after the "
        f"reads: {'/'.join(f'{x:.2f}' for x in load_after)} (other processes on the machine count too)"
    )
    say(
        f"state: {args.payments} stored payments ({args.real_payments} real ones through the API, the rest "
        f"replicated in SQL): {history.payment_rows + history.real_payment_rows} Payment "
        f"rows, {history.message_rows + history.real_messages} Message rows, "
        f"{history.state_change_rows + history.real_state_changes} StateChange rows"
    )
    n = str(args.restarts)
    rows = []
    for runs, key, label in (
        (restarts, "address_s", "process restart: (a) GET /address 200"),
        (restarts, "deep_page_s", f"process restart: (b) GET /payments?limit=10&offset={deep_offset} 200"),
        (restarts, "payment_s", "process restart: (c) POST /payments 200"),
        (restarts, "celery_s", "process restart: (d) Celery worker answers a ping"),
        (restarts, "stop_gunicorn_s", "before each: stopping gunicorn (SIGTERM, waited for)"),
        (restarts, "stop_celery_s", "before each: stopping Celery worker + beat"),
        (web_restarts, "address_s", "web-only restart: (a) GET /address 200"),
        (web_restarts, "payment_s", "web-only restart: (c) POST /payments 200"),
    ):
        median, worst = summary([r[key] for r in runs])
        rows.append((label, f"{median:.2f} s", f"{worst:.2f} s", n))
    for key, label in (
        ("command_s", "node restart: manage.py startnode exits"),
        ("address_s", "node restart: GET /address 200"),
        ("payment_s", "node restart: POST /payments 200"),
    ):
        median, worst = summary([r[key] for r in node_restarts])
        rows.append((label, f"{median:.2f} s", f"{worst:.2f} s", n))
    for label, read in reads.items():
        rows.append(
            (
                f"warm GET /payments {label} ({read['events']} events)",
                f"{read['median_s'] * 1000:.0f} ms",
                f"{read['max_s'] * 1000:.0f} ms",
                str(3 if label == "whole history" else 10),
            )
        )
    print_table(rows)
    worst_restart = max(r["payment_s"] for r in restarts)
    worst_node = max(r["payment_s"] for r in node_restarts)
    met = worst_restart <= TARGET_SECONDS and worst_node <= TARGET_SECONDS
    failed = [c for c in checks if not c.ok]
    say(
        f"target (restart with {args.payments} stored payments in at most {TARGET_SECONDS:.0f} s, i.e. until a new "
        f"payment succeeds): {'MET' if met else 'NOT MET'} (worst process restart {worst_restart:.2f} s, worst node "
        f"restart {worst_node:.2f} s)"
    )
    say(
        f"checks: {len(checks) - len(failed)} of {len(checks)} passed"
        + ("" if not failed else "; failed: " + "; ".join(c.what for c in failed))
    )
    say(f"total run time {time.monotonic() - started_run:.0f}s")
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "machine": facts,
                    "history": vars(history),
                    "process_restarts": restarts,
                    "web_only_restarts": web_restarts,
                    "loadavg_before": load_before,
                    "loadavg_after": load_after,
                    "node_restarts": node_restarts,
                    "reads": reads,
                    "deep_page_explain": explain,
                    "django_startup_s": startup,
                    "duties": duties,
                    "target_met": met,
                    "checks": [vars(c) for c in checks],
                },
                indent=2,
                default=str,
            )
        )
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
