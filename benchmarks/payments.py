#!/usr/bin/env python
"""Throughput, latency and CPU cost of POST /payments between co-hosted nodes, direct and mediated.

    .venv/bin/python benchmarks/payments.py [--payments 2000] [--mediated-payments 1000]
                                            [--concurrency 8] [--workers 2] [--threads 4]
                                            [--warmup 50] [--timeout 900] [--redis-url URL]
                                            [--no-beat] [--auth on|off] [--profile] [--json PATH]

Run it from the project root with PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and
Redis on 127.0.0.1:6379. The run time is set by the node's speed: at the defaults about 2 minutes
on 2 cores today (about 40 direct and 27 mediated payments/s, see docs/performance.md);
``--payments 200 --mediated-payments 100`` takes about 30 s.

The state is built the way a hosted deployment comes to hold it, nothing written by hand:

1. anvil is started (AnvilProcess), the Raiden contracts 0.40.0 are deployed with one test token
   and its token network, and the deployment is recorded (``deployment_create``).
2. Three co-hosted nodes alice, bob and carol are created (``node_create``) and given ETH
   (anvil_setBalance) and test tokens (``mintFor``), and an API token each (``api_token_create``).
3. The hosted processes are started, all on a scratch PostgreSQL database
   ``raidennode_bench_payments`` (created and dropped by this script) and on Redis (a Celery queue
   of this run's own): ``gunicorn raidennode.wsgi`` with gthread workers, a Celery worker (it
   runs the chain operations of the channel opens and deposits) and Celery beat (ingestion and
   the duties every second or two, as in production).
4. Through the REST API: alice opens alice-bob and bob opens bob-carol (PUT /channels, with a
   large deposit), and bob and carol deposit on their side too (PATCH /channels/<t>/<p>).
5. In-process (django.test.Client, no HTTP): one direct and one mediated payment under
   CaptureQueriesContext to count the SQL statements per payment, then 20 of each timed for wall
   time, CPU time of the request thread and time inside cursor.execute. ``--profile`` also
   prints a cProfile of 50 in-process payments of each kind, with the thread's CPU time as clock.
6. The scenarios, each after ``--warmup`` unmeasured payments: ``--payments`` payments
   alice -> bob (direct: one channel), then ``--mediated-payments`` payments alice -> carol
   (mediated by bob over two channels), each ``POST /nodes/<alice>/api/v1/payments/<token>/
   <target>`` with ``{"amount": "1"}`` from ``--concurrency`` client threads with one
   ``requests.Session`` (keep-alive) each. Latency is from sending the request to having read
   the whole answer.

Authentication as a hosted deployment runs it: RAIDEN_AUTH on (``--auth off`` for Raiden's
unauthenticated local API), so each request looks its API token up (with its node, in place of
the node looked up by address); every request, over HTTP and in-process, sends its node's
``Authorization: Token <key>`` (also with ``--auth off``, where it is ignored). Each POST writes
an audit entry either way.

For each scenario: payments/s, p50/p99/max latency, and the CPU time spent per payment by
gunicorn (master and workers), the PostgreSQL backends of the scratch database (those of the
Celery processes included), Celery (worker and beat, background work) and this process (the HTTP
clients): utime + stime from /proc/<pid>/stat, sampled every 0.25 s during the scenario
(CpuMeter), and getrusage for this process. Also how many protocol messages arrived before their
predecessor on the channel (a nonce gap: the receiving thread processes the stored predecessor
first; a message is parked only when its predecessor is not stored yet). Then it checks
that every payment answered 200 and that the channel balances (GET /channels/<token>/<partner>,
from both ends of each channel) moved by exactly payments x amount; it exits with 1 when a
payment failed or a balance is off.

Everything started (anvil, gunicorn, Celery, the scratch database) is stopped and removed on
exit, Ctrl-C and SIGTERM included. Helpers are shared with benchmarks/api_reads.py.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import json
import math
import os
import pstats
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
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
    machine_facts,
    main_with_cleanup,
    say,
    say_table,
    scratch_database_create,
    scratch_database_drop,
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

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/raidennode_bench_payments"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
AMOUNT = 1
DEPOSIT = 10**24  # per side and channel: far more than any run pays
TOKENS_PER_NODE = 10**25
ETH_PER_NODE = 10**21
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Set on Ctrl-C / SIGTERM: the load threads stop before the server does.
STOP = threading.Event()


# --- arguments ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=2000, help="measured direct payments alice->bob (default 2000)")
    parser.add_argument(
        "--mediated-payments",
        type=int,
        default=1000,
        help="measured mediated payments alice->bob->carol (default 1000; 0 skips the scenario)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured payments before each scenario (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2, for 2 cores)")
    parser.add_argument(
        "--threads", type=int, default=4, help="gunicorn threads per worker (default 4: 2 x 4 = 8 requests in flight)"
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help=f"Redis for Celery (default {DEFAULT_REDIS_URL})"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds a client waits for one payment's answer (default 900: longer than the whole default run, "
        "see 'parked' in the output)",
    )
    parser.add_argument("--no-beat", action="store_true", help="do not run Celery beat (no periodic background work)")
    auth_argument(parser)
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of in-process direct and mediated payments"
    )
    parser.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.payments < 1 or args.mediated_payments < 0 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--payments and --concurrency must be positive, --mediated-payments and --warmup not negative")
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be positive")
    return args


# --- processes: gunicorn, Celery, CPU accounting -------------------------------------------------


class PaymentsGunicorn(Gunicorn):
    """api_reads' gunicorn, with a request timeout long enough for the blocking channel opens."""

    @property
    def command(self) -> list[str]:
        return [*super().command, "--timeout", "300"]


class Celery:
    """A Celery worker (and beat) on this run's own queue, each in its own process group."""

    def __init__(self, env: dict, queue: str, beat: bool) -> None:
        self.env = env
        self.queue = queue
        self.beat = beat
        self.processes: list[subprocess.Popen] = []
        self.dir = tempfile.mkdtemp(prefix="bench-celery-")

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(Path(self.dir) / f"{name}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "raidennode", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def start(self, timeout: float = 60.0) -> None:
        from raidennode.celery import app

        worker = self._spawn(
            [
                "worker",
                "--loglevel",
                "WARNING",
                "--concurrency",
                "2",
                "--queues",
                self.queue,
                "--hostname",
                f"{self.queue}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            "worker",
        )
        if self.beat:
            self._spawn(["beat", "--loglevel", "WARNING", "--schedule", str(Path(self.dir) / "celerybeat")], "beat")
        deadline = time.monotonic() + timeout
        while not app.control.ping(destination=[f"{self.queue}@{socket.gethostname()}"], timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{self.log_tail('worker')}")

    def log_tail(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (Path(self.dir) / f"{name}.log").read_text(errors="replace")[-4000:]
        return ""

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.poll() is None]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = []
        shutil.rmtree(self.dir, ignore_errors=True)  # logs and beat's schedule (celerybeat.dat/.dir/.bak)


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime + stime in seconds) of a live process, from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(roots: list[int]) -> list[int]:
    """The roots and all their descendants (gunicorn workers, Celery pool processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _proc_stat(int(entry))) is not None:
            children.setdefault(stat[0], []).append(int(entry))
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_of(pids: list[int]) -> dict[int, float]:
    return {pid: stat[1] for pid in pids if (stat := _proc_stat(pid)) is not None}


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU time of each group of processes over a scenario, sampled every ``interval`` seconds.

    Sampling, not just a snapshot before and after: PostgreSQL backends come and go during a run
    (Django closes a connection older than CONN_MAX_AGE, 60 s, and opens a new one), and the CPU
    of a backend that ended would be lost. A process first seen during the run started during it
    and counts from zero; what a process spends between its last sample and its end is lost (at
    most ``interval`` seconds of it).
    """

    def __init__(self, gunicorn: Gunicorn, celery: Celery, database_url: str, interval: float = 0.25) -> None:
        self.gunicorn = gunicorn
        self.celery = celery
        self.database_url = database_url
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _groups(self, cursor, trees: bool) -> dict[str, list[int]]:
        """The pids of each group; the process trees are walked (all of /proc) only when ``trees``,
        in between the pids known are read again (gunicorn and Celery keep their processes)."""
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        backends = [row[0] for row in cursor.fetchall()]
        if trees:
            return {
                "gunicorn": process_tree([self.gunicorn.process.pid]),
                "postgres": backends,
                "celery": process_tree(self.celery.pids),
            }
        return {"gunicorn": list(self._last["gunicorn"]), "postgres": backends, "celery": list(self._last["celery"])}

    def _sample(self, cursor, first: bool, trees: bool = False) -> None:
        for group, pids in self._groups(cursor, trees or first).items():
            for pid, seconds in cpu_of(pids).items():
                self._first[group].setdefault(pid, seconds if first else 0.0)
                self._last[group][pid] = seconds

    def start(self) -> None:
        import psycopg

        self._first: dict[str, dict[int, float]] = {g: {} for g in ("gunicorn", "postgres", "celery")}
        self._last: dict[str, dict[int, float]] = {g: {} for g in ("gunicorn", "postgres", "celery")}
        self._conn = psycopg.connect(self.database_url, autocommit=True)
        self._cursor = self._conn.cursor()
        self._sample(self._cursor, first=True)
        self._client = self_cpu()
        self._own = 0.0  # CPU of the sampling itself, not counted as the clients'
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.interval):
                started = time.thread_time()
                self._sample(self._cursor, first=False)
                self._own += time.thread_time() - started

        self._thread = threading.Thread(target=loop, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since ``start``: gunicorn, postgres, celery, client (this process)."""
        self._stop.set()
        self._thread.join()
        client = self_cpu() - self._client - self._own
        self._sample(self._cursor, first=False, trees=True)
        self._conn.close()
        spent = {
            group: sum(self._last[group][pid] - self._first[group][pid] for pid in self._last[group])
            for group in self._last
        }
        return {**spent, "client": client}


# --- building the state -----------------------------------------------------------------------------


@dataclass
class Nodes:
    alice: str
    bob: str
    carol: str
    token: str


def build_chain_and_nodes(client: ChainClient) -> Nodes:
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
    say(f"deployed the Raiden contracts and a token network in {time.monotonic() - started:.1f}s")

    nodes = [node_create(name=f"bench {name}") for name in ("alice", "bob", "carol")]
    api_tokens_create(nodes)  # alice's first: the default node
    addresses = [node.address for node in nodes]
    for address in addresses:
        client.rpc("anvil_setBalance", [address, hex(ETH_PER_NODE)])
        mint_tokens(deployer, token, address, TOKENS_PER_NODE)
    chain_ingest_all()
    say(f"created 3 co-hosted nodes: alice {addresses[0]}, bob {addresses[1]}, carol {addresses[2]}")
    return Nodes(*addresses, token)


def api(base: str, node: str) -> str:
    return f"{base}/nodes/{node}/api/v1"


def open_channels(base: str, nodes: Nodes) -> None:
    """alice-bob and bob-carol, opened with a deposit and topped up by the partner, over HTTP."""
    started = time.monotonic()
    steps = [
        ("PUT", nodes.alice, "/channels", {"token_address": nodes.token, "partner_address": nodes.bob}, 201),
        ("PUT", nodes.bob, "/channels", {"token_address": nodes.token, "partner_address": nodes.carol}, 201),
        ("PATCH", nodes.bob, f"/channels/{nodes.token}/{nodes.alice}", {}, 200),
        ("PATCH", nodes.carol, f"/channels/{nodes.token}/{nodes.bob}", {}, 200),
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
        f"opened alice-bob and bob-carol through the API, {DEPOSIT} deposited on each side "
        f"(PUT /channels, PATCH /channels/<t>/<p>) in {time.monotonic() - started:.1f}s"
    )


def balance(base: str, node: str, token: str, partner: str) -> int:
    response = requests.get(f"{api(base, node)}/channels/{token}/{partner}", headers=auth_headers(node), timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"GET /channels/{token}/{partner} of {node}: {response.status_code} {response.text[:300]}")
    return int(response.json()["balance"])


# --- in-process: SQL statements per payment and a profile -------------------------------------------


_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"([a-z_]+)"', re.IGNORECASE)


def _statement_kind(sql: str) -> str:
    head = sql.lstrip().split(None, 1)[0].upper()
    if head == "SELECT" and "FOR UPDATE" in sql.upper():
        return "SELECT FOR UPDATE"
    return head


def query_counts(nodes: Nodes) -> list[dict]:
    """One direct and one mediated payment in-process: the SQL statements they issue, then (medians
    of 20 payments, without capturing) wall time, CPU time of the request thread and the time spent
    inside cursor.execute (statements sent and answered; COMMITs are not included)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    executing = [0.0]

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            executing[0] += time.perf_counter() - started

    def median_ms(values: list[float]) -> float:
        return sorted(values)[len(values) // 2] * 1000

    client = Client(headers=auth_headers(nodes.alice))
    rows = []
    for label, target in (("direct alice->bob", nodes.bob), ("mediated alice->bob->carol", nodes.carol)):
        path = f"/nodes/{nodes.alice}/api/v1/payments/{nodes.token}/{target}"
        body = json.dumps({"amount": str(AMOUNT)})
        warm = client.post(path, body, content_type="application/json")  # warm caches first
        assert warm.status_code == 200, (path, warm.status_code, warm.content[:300])
        with CaptureQueriesContext(connection) as ctx:
            response = client.post(path, body, content_type="application/json")
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        statements = [q["sql"] for q in ctx.captured_queries]
        walls, cpus, executes = [], [], []
        for _ in range(20):
            executing[0] = 0.0
            with connection.execute_wrapper(timed):
                wall, cpu = time.perf_counter(), time.thread_time()
                response = client.post(path, body, content_type="application/json")
                walls.append(time.perf_counter() - wall)
                cpus.append(time.thread_time() - cpu)
            executes.append(executing[0])
            assert response.status_code == 200, (path, response.status_code, response.content[:300])
        rows.append(
            dict(
                label=label,
                queries=len(statements),
                kinds=dict(Counter(_statement_kind(sql) for sql in statements)),
                tables=dict(Counter(m.group(1) for sql in statements if (m := _TABLE.search(sql)))),
                wall_ms=median_ms(walls),
                cpu_ms=median_ms(cpus),
                execute_ms=median_ms(executes),
            )
        )
    return rows


def profile(nodes: Nodes, target: str, repeat: int = 50) -> str:
    from django.test import Client

    client = Client(headers=auth_headers(nodes.alice))
    path = f"/nodes/{nodes.alice}/api/v1/payments/{nodes.token}/{target}"
    body = json.dumps({"amount": str(AMOUNT)})
    client.post(path, body, content_type="application/json")
    # CPU time of this thread as the clock: where the request's own CPU goes, waits left out
    # (a wall-clock profile puts most of the time in psycopg's wait for PostgreSQL).
    profiler = cProfile.Profile(time.thread_time)
    started = time.perf_counter()
    profiler.enable()
    for _ in range(repeat):
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
    profiler.disable()
    elapsed = time.perf_counter() - started
    out = [
        f"{repeat} payments in {elapsed:.2f}s under the profiler ({elapsed / repeat * 1000:.1f} ms each; the "
        "profiler inflates the times, compare the parts with each other)\n"
    ]

    class Sink:
        def write(self, text):
            out.append(text)

    stats = pstats.Stats(profiler, stream=Sink())
    stats.strip_dirs().sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(30)
    return "".join(out)


# --- HTTP load ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    label: str
    target: str
    payments: int
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    balance_checks: list[tuple[str, int, int]] = field(default_factory=list)  # (what, expected, got)
    messages: dict[str, int] = field(default_factory=dict)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000 if ordered else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0

    @property
    def failed(self) -> int:
        return self.payments - self.statuses.get(200, 0)

    @property
    def balances_ok(self) -> bool:
        return all(expected == got for _, expected, got in self.balance_checks)


def pay_load(url: str, total: int, concurrency: int, timeout: float) -> tuple[list[float], float, Counter, list[str]]:
    """``total`` POSTs of {"amount": "1"} to ``url`` from ``concurrency`` threads, one Session each."""
    counter = itertools.count()
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: list[str] = []
    body = json.dumps({"amount": str(AMOUNT)})
    headers = {"Content-Type": "application/json", **auth_headers(url)}

    def worker() -> None:
        with requests.Session() as session:
            while True:
                if next(counter) >= total or STOP.is_set():
                    return
                started = time.perf_counter()
                try:
                    response = session.post(url, data=body, headers=headers, timeout=timeout)
                    text = response.text
                except requests.RequestException as exc:
                    if STOP.is_set():
                        return
                    statuses["exception"] += 1
                    if len(errors) < 5:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1
                if response.status_code != 200 and len(errors) < 5:
                    errors.append(f"{response.status_code}: {text[:300]}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(concurrency, total))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, statuses, errors


def run_scenario(args, base: str, nodes: Nodes, scenario: Scenario, meter: CpuMeter) -> Scenario:
    url = f"{api(base, nodes.alice)}/payments/{nodes.token}/{scenario.target}"
    if args.warmup:
        _, _, statuses, errors = pay_load(url, args.warmup, args.concurrency, args.timeout)
        if statuses.get(200, 0) != args.warmup:
            raise RuntimeError(f"{scenario.label}: warm-up payments failed: {dict(statuses)} {errors}")
    ends = [(nodes.alice, nodes.bob, -1), (nodes.bob, nodes.alice, +1)]
    if scenario.target == nodes.carol:
        ends += [(nodes.bob, nodes.carol, -1), (nodes.carol, nodes.bob, +1)]
    before = [balance(base, node, nodes.token, partner) for node, partner, _ in ends]

    last_message = message_last_id()
    meter.start()
    scenario.latencies, scenario.wall, scenario.statuses, scenario.errors = pay_load(
        url, scenario.payments, args.concurrency, args.timeout
    )
    scenario.cpu = meter.stop()
    scenario.messages = message_stats(last_message)

    # Every payment sent must have moved the balances, whatever its HTTP answer (a client that gave
    # up waiting counts as a failed payment above, but the node may still have made it).
    names = {nodes.alice: "alice", nodes.bob: "bob", nodes.carol: "carol"}
    for (node, partner, sign), start in zip(ends, before):
        got = balance(base, node, nodes.token, partner) - start
        scenario.balance_checks.append(
            (f"{names[node]}'s balance with {names[partner]}", sign * scenario.payments * AMOUNT, got)
        )
    return scenario


def message_last_id() -> int:
    from transfers_app.models import Message

    return Message.objects.order_by("-id").values_list("id", flat=True).first() or 0


def message_stats(after_id: int) -> dict[str, int]:
    """The protocol messages of a scenario, and how many of them were not processed on arrival.

    A message is recorded with its next attempt 5 s ahead (the redelivery net). One that arrives
    before its predecessor on the channel was stored (a nonce gap) is parked: its next attempt is
    set 1 s ahead and the redelivery duty processes it. So a message
    whose next attempt is less than 4.9 s after its creation was parked; one with attempts > 0
    had a failed delivery.
    """
    from datetime import timedelta

    from django.db.models import F

    from transfers_app.models import Message

    rows = Message.objects.filter(pk__gt=after_id)
    return {
        "messages": rows.count(),
        "parked": rows.filter(next_attempt_at__lt=F("created_at") + timedelta(seconds=4.9)).count(),
        "failed_deliveries": rows.filter(attempts__gt=0).count(),
    }


def database_checks() -> list[str]:
    """Every payment ended and every message was processed (or is it stuck somewhere?)."""
    from django.db.models import Count

    from transfers_app.models import Message, Payment

    problems = []
    by_status = dict(Payment.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    if set(by_status) - {"succeeded"}:
        problems.append(f"payment rows by status: {by_status}")
    messages = dict(Message.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    if set(messages) - {"processed"}:
        problems.append(f"message rows by status: {messages}")
    return problems


# --- report ---------------------------------------------------------------------------------------


def report(scenario: Scenario) -> None:
    cpu = scenario.cpu
    n = max(1, len(scenario.latencies))
    total = sum(cpu.values())
    server = cpu["gunicorn"] + cpu["postgres"]
    say(
        f"  {scenario.label}: {len(scenario.latencies)} payments in {scenario.wall:.2f}s: "
        f"{scenario.rate:.0f} payments/s, p50 {scenario.percentile(50):.1f} ms, p99 {scenario.percentile(99):.1f} ms, "
        f"max {scenario.percentile(100):.1f} ms; {sum(1 for x in scenario.latencies if x > 1)} took over 1 s, "
        f"{sum(1 for x in scenario.latencies if x > 10)} over 10 s"
    )
    say(
        f"    CPU per payment: {(server + cpu['client']) / n * 1000:.2f} ms = gunicorn {cpu['gunicorn'] / n * 1000:.2f} "
        f"+ PostgreSQL backends {cpu['postgres'] / n * 1000:.2f} + this process (clients) "
        f"{cpu['client'] / n * 1000:.2f}; Celery worker+beat in the background {cpu['celery'] / n * 1000:.2f} ms; "
        f"all of it {total / scenario.wall:.2f} of {os.cpu_count()} cores (at this CPU cost, {os.cpu_count()} busy "
        f"cores would make at most {os.cpu_count() / max(total / n, 1e-9):.0f} payments/s)"
    )
    say(
        f"    answers: {dict(scenario.statuses)}"
        + ("" if not scenario.errors else f"; first errors: {scenario.errors}")
    )
    m = scenario.messages
    say(
        f"    protocol messages: {m['messages']} ({m['messages'] / n:.1f} per payment); {m['parked']} arrived before "
        f"their predecessor on the channel and were parked (their predecessor was not stored yet); "
        f"{m['failed_deliveries']} failed deliveries"
    )
    for what, expected, got in scenario.balance_checks:
        say(f"    {what} moved by {got:+d} (expected {expected:+d}) {'ok' if got == expected else 'WRONG'}")


def print_table(scenarios: list[Scenario], concurrency: int) -> None:
    headers = (
        "scenario",
        "payments",
        "conc.",
        "payments/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/payment",
        "gunicorn",
        "postgres",
        "client",
    )
    rows = []
    for s in scenarios:
        n = max(1, len(s.latencies))
        rows.append(
            (
                s.label,
                str(len(s.latencies)),
                str(concurrency),
                f"{s.rate:.0f}",
                f"{s.percentile(50):.1f}",
                f"{s.percentile(99):.1f}",
                f"{(s.cpu['gunicorn'] + s.cpu['postgres'] + s.cpu['client']) / n * 1000:.2f}",
                f"{s.cpu['gunicorn'] / n * 1000:.2f}",
                f"{s.cpu['postgres'] / n * 1000:.2f}",
                f"{s.cpu['client'] / n * 1000:.2f}",
            )
        )
    say_table(headers, rows)


# --- main ------------------------------------------------------------------------------------------


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
    queue = f"bench-payments-{uuid.uuid4().hex[:8]}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "raidennode.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["ETH_RPC_URL"] = anvil.rpc_url
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["RAIDEN_CELERY_QUEUE"] = queue
    os.environ["RAIDEN_CONFIRMATIONS"] = "0"
    os.environ["RAIDEN_AUTH"] = args.auth  # gunicorn and Celery get it through env
    os.environ.setdefault("RAIDEN_LOG_LEVEL", "WARNING")
    for name in ("RAIDEN_DEFAULT_NODE", "DEBUG"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.db import connections

    stack.callback(connections.close_all)

    client = ChainClient(anvil.rpc_url, timeout=60)
    nodes = build_chain_and_nodes(client)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    celery = Celery(env, queue, beat=not args.no_beat)
    stack.callback(celery.stop)
    celery.start()
    say(f"Celery worker{'' if args.no_beat else ' and beat'} on queue {queue} of {args.redis_url}")

    server = PaymentsGunicorn(env, args.workers, args.threads)
    stack.callback(server.stop)
    server.start("/api/v1/status")
    say(f"serving with: {' '.join(server.command[2:])} (pid {server.process.pid})")

    open_channels(server.base_url, nodes)

    say("\nSQL statements per payment (in-process, django.test.Client + CaptureQueriesContext, after one warm-up):")
    counts = query_counts(nodes)
    for row in counts:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(row["kinds"].items(), key=lambda kv: -kv[1]))
        tables = ", ".join(f"{k} {v}" for k, v in sorted(row["tables"].items(), key=lambda kv: -kv[1]))
        say(f"  {row['label']}: {row['queries']} statements ({kinds})")
        say(
            f"    one payment in-process (median of 20): {row['wall_ms']:.1f} ms wall, {row['cpu_ms']:.1f} ms CPU "
            f"of the request thread, {row['execute_ms']:.1f} ms inside cursor.execute (COMMITs not included)"
        )
        say(f"    by table: {tables}")
    if args.profile:
        for label, target in (("direct", nodes.bob), ("mediated", nodes.carol)):
            say(f"\ncProfile of in-process {label} payments (top by own time, then by cumulative time):")
            say(profile(nodes, target))

    meter = CpuMeter(server, celery, database_url)
    say(
        f"\nload: {args.concurrency} client threads (requests.Session each), {args.warmup} warm-up payments per "
        f"scenario, amount {AMOUNT}"
    )
    load_before = os.getloadavg()
    scenarios = [Scenario("direct alice->bob", nodes.bob, args.payments)]
    if args.mediated_payments:
        scenarios.append(Scenario("mediated alice->bob->carol", nodes.carol, args.mediated_payments))
    for scenario in scenarios:
        run_scenario(args, server.base_url, nodes, scenario, meter)
        report(scenario)
    load_after = os.getloadavg()
    problems = database_checks()

    facts = machine_facts()
    say("\nResults")
    say(
        f"machine: {facts['cpus']} CPUs ({facts['cpu_model']}), Python {facts['python']}, Django {facts['django']}, "
        f"gunicorn {facts['gunicorn']} ({args.workers} workers x {args.threads} threads, gthread), "
        f"PostgreSQL {facts['postgresql']}; client, server, PostgreSQL and Redis on the same machine"
    )
    say(
        f"load average (1/5/15 min) before the payments: {'/'.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {'/'.join(f'{x:.2f}' for x in load_after)} (other processes on the machine count too)"
    )
    print_table(scenarios, args.concurrency)
    failed = sum(s.failed for s in scenarios)
    balances_ok = all(s.balances_ok for s in scenarios)
    say(
        f"checks: {sum(s.statuses.get(200, 0) for s in scenarios)} of {sum(s.payments for s in scenarios)} payments "
        f"answered 200; channel balances {'moved by exactly payments x amount' if balances_ok else 'WRONG'}; "
        + ("every Payment succeeded and every Message was processed" if not problems else "; ".join(problems))
    )
    say(f"total run time {time.monotonic() - started_run:.0f}s")
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "machine": {**facts, "loadavg_before": load_before, "loadavg_after": load_after},
                    "query_counts": counts,
                    "scenarios": [
                        {
                            "label": s.label,
                            "payments": len(s.latencies),
                            "payments_per_second": s.rate,
                            "p50_ms": s.percentile(50),
                            "p99_ms": s.percentile(99),
                            "cpu_ms_per_payment": {k: v / max(1, len(s.latencies)) * 1000 for k, v in s.cpu.items()},
                            "statuses": {str(k): v for k, v in s.statuses.items()},
                            "balance_checks": s.balance_checks,
                            "messages": s.messages,
                        }
                        for s in scenarios
                    ],
                    "problems": problems,
                },
                indent=2,
            )
        )
    return 0 if failed == 0 and balances_ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
