#!/usr/bin/env python
"""Latency and throughput of the read endpoints GET /channels and GET /tokens, 1,000 channels.

    .venv/bin/python benchmarks/api_reads.py [--channels 1000] [--nodes 20] [--requests 2000]
                                             [--concurrency 4] [--database-url URL] [--auth on|off]
                                             [--profile]

The state is built the way a deployment would come to hold it, with nothing written into the
database by hand:

1. anvil is started (AnvilProcess) and the Raiden contracts 0.40.0 are deployed
   (raidennode.chain.deploy), with as many test tokens and token networks as the topology needs.
2. ``--nodes`` co-hosted nodes are created with ``node_create`` and given ETH (anvil_setBalance).
3. ``--channels`` channels are opened ON CHAIN between co-hosted nodes: real signed
   ``openChannelWithDeposit`` transactions from the nodes' own keys (each preceded by the
   sender's ``mintFor`` and ``approve``), pipelined per account with explicit nonces.
4. ``chain_ingest_all`` applies the chain events, exactly as the periodic ingestion does.

Authentication as a hosted deployment runs it: RAIDEN_AUTH on (``--auth off`` for Raiden's
unauthenticated local API), an API token per node (``api_token_create``) made right after the
nodes, and every request, over HTTP or in-process, sends its node's ``Authorization: Token <key>``
(also with ``--auth off``, where it is ignored). ``/api/v1`` without an address is node 0's: the
oldest node with auth off, the token's node with it on.

Topology: the contracts allow one open channel per pair of participants and token network, so
``--nodes 20`` cannot hold 1,000 channels in one token network. Node 0 (the oldest node, hence
the default node served at /api/v1) is a hub taking part in every channel; node 1 (the "probe")
has exactly one channel, with the hub; the other channels go from the hub to nodes 2..N-1, one
per pair and token network, over as many token networks as needed (56 for 1,000 channels and 20
nodes; 1 for ``--nodes 1001``). The hub's GET /channels therefore returns all ``--channels``.

The API is served as in production: gunicorn with gthread workers (``--workers 2 --threads 8``)
on PostgreSQL, in a subprocess, driven from here by a pool of threads with one
``requests.Session`` each: first at concurrency 1 (latency), then at ``--concurrency``
(throughput). The SQL queries per request are counted in-process (django.test.Client with
CaptureQueriesContext) for a node with 1 channel, a spoke, and the hub.

Without ``--database-url`` a scratch database raidennode_bench is created on the local
PostgreSQL and dropped at the end. Everything started (anvil, gunicorn, the scratch database) is
stopped and removed on exit, Ctrl-C and SIGTERM included. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import json
import math
import os
import platform
import pstats
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import requests  # noqa: E402

from raidennode.chain.anvil import ANVIL_DEFAULT_KEY, AnvilProcess  # noqa: E402
from raidennode.chain.client import ChainClient  # noqa: E402
from raidennode.chain.deploy import Deployer, deploy_raiden, deploy_token, register_token_network  # noqa: E402
from raidennode.chain.proxies import TokenNetworkProxy, TokenProxy  # noqa: E402
from raidennode.chain.transactions import sign_transaction  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/raidennode_bench"
SETTLE_TIMEOUT = 500
DEPOSIT = 10**18
UINT256_MAX = 2**256 - 1
# Fixed gas limits with head room (only the gas used is paid), instead of an estimate per tx.
GAS = {"mint": 200_000, "approve": 100_000, "open": 500_000}
ETH_PER_NODE = 10**21
# Unmined transactions per account at a time: anvil stalls when thousands are queued at once.
PIPELINE_DEPTH = 32


# Set on Ctrl-C / SIGTERM: the load threads stop before the server does.
STOP = threading.Event()


def say(line: str = "") -> None:
    print(line, flush=True)


# --- arguments ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=1000, help="on-chain channels (default 1000)")
    parser.add_argument("--nodes", type=int, default=20, help="co-hosted nodes, at least 3 (default 20)")
    parser.add_argument(
        "--requests", type=int, default=2000, help="measured requests per endpoint and concurrency (default 2000)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="client threads of the throughput run (default 4)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests per endpoint first (default 100)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (default 8)")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database to use and leave as built (it must hold no deployment, or pass --flush); "
        f"default: a scratch {DEFAULT_DATABASE_URL} created and dropped by this script",
    )
    parser.add_argument("--flush", action="store_true", help="empty the --database-url database first")
    auth_argument(parser)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the hub's GET /channels")
    parser.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.nodes < 3:
        parser.error("--nodes must be at least 3 (a hub, a one-channel probe node and spokes)")
    if args.channels < 2:
        parser.error("--channels must be at least 2")
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be positive")
    return args


# --- authentication: RAIDEN_AUTH and the nodes' API tokens (shared with payments.py, restart.py) ---

# The API key of each node by address, in creation order: the first is the default node's, the one
# /api/v1 without an address serves (the oldest node with RAIDEN_AUTH off, the token's node with it on).
API_KEYS: dict[str, str] = {}
NODE_IN_PATH = re.compile(r"/nodes/(0x[0-9a-fA-F]{40})(?=/|$)")


def auth_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auth",
        choices=("on", "off"),
        default="on",
        help="the node's RAIDEN_AUTH (default on, as a hosted deployment runs: every request sends its node's API "
        "token; off: Raiden's unauthenticated local API)",
    )


def api_tokens_create(nodes: list) -> None:
    """An API token (full scope) for each node, the first being the default node; says whether auth is on."""
    from django.conf import settings

    from raidennode.nodes.tokens import api_token_create

    for node in nodes:
        _, API_KEYS[node.address] = api_token_create(node, name="benchmark")
    say(
        f"RAIDEN_AUTH {'on' if settings.RAIDEN_AUTH else 'off'}: created an API token for each of the {len(nodes)} "
        "nodes; every request sends its node's 'Authorization: Token <key>'"
        + ("" if settings.RAIDEN_AUTH else " (ignored with auth off)")
    )


def auth_headers(node_or_path: str) -> dict[str, str]:
    """The Authorization header of a node, given its address or a path or URL under /nodes/<address>/
    (any other path, /api/v1/..., is the default node's); for requests and django.test.Client alike."""
    match = NODE_IN_PATH.search(node_or_path)
    if match:
        address = match.group(1)
    elif node_or_path.startswith("0x"):
        address = node_or_path
    else:
        address = next(iter(API_KEYS))  # the default node
    return {"Authorization": f"Token {API_KEYS[address]}"}


# --- topology -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topology:
    """Which channels to open: (token index, participant1 index, participant2 index); 0 is the hub."""

    nodes: int
    tokens: int
    channels: list[tuple[int, int, int]]

    @classmethod
    def hub(cls, channels: int, nodes: int) -> Topology:
        spokes = nodes - 2
        tokens = math.ceil((channels - 1) / spokes)
        pairs = [(0, 0, 1)]  # the probe node 1: exactly one channel, with the hub
        for token, spoke in itertools.product(range(tokens), range(2, nodes)):
            if len(pairs) == channels:
                break
            # Half the channels are opened by the hub, half by its partners (each from its own key).
            pairs.append((token, spoke, 0) if (token + spoke) % 2 else (token, 0, spoke))
        return cls(nodes, tokens, pairs)

    def channel_count(self, node: int) -> int:
        return sum(1 for _, a, b in self.channels if node in (a, b))


# --- resources: database, anvil, gunicorn ------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path="/" + name))


def scratch_database_create(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            say(f"dropping the scratch database {name} left over by an earlier run")
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def scratch_database_drop(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    say(f"dropped the scratch database {name}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn raidennode.wsgi`` with gthread workers, in its own process group."""

    def __init__(self, env: dict, workers: int, threads: int) -> None:
        self.port = free_port()
        self.env = env
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
            "--bind",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
        ]

    def start(self, ready_path: str, timeout: float = 60.0) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                response = requests.get(self.base_url + ready_path, headers=auth_headers(ready_path), timeout=5)
                if response.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the arbiter stops its workers gracefully
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


# --- building the chain state ---------------------------------------------------------------------


@dataclass
class Sender:
    key: bytes
    address: str
    txs: list[tuple[str, str, bytes]] = field(default_factory=list)  # (kind, to, data)
    hashes: list[str] = field(default_factory=list)


def open_channels_on_chain(
    client: ChainClient, keys: list[bytes], addresses: list[str], tokens: list[str], networks: list[str], topo
) -> float:
    """Sends every sender's mintFor/approve/openChannelWithDeposit, pipelined; seconds taken."""
    senders: dict[int, Sender] = {}
    prepared: set[tuple[int, int]] = set()
    per_sender_token: dict[tuple[int, int], int] = {}
    for token_index, p1, _ in topo.channels:
        per_sender_token[(p1, token_index)] = per_sender_token.get((p1, token_index), 0) + 1
    for token_index, p1, p2 in topo.channels:
        sender = senders.setdefault(p1, Sender(keys[p1], addresses[p1]))
        token, network = TokenProxy(client, tokens[token_index]), TokenNetworkProxy(client, networks[token_index])
        if (p1, token_index) not in prepared:
            prepared.add((p1, token_index))
            amount = DEPOSIT * per_sender_token[(p1, token_index)]
            sender.txs.append(("mint", token.address, token.mint_for_data(amount, sender.address)))
            sender.txs.append(("approve", token.address, token.approve_data(network.address, UINT256_MAX)))
        data = network.open_channel_with_deposit_data(sender.address, addresses[p2], SETTLE_TIMEOUT, DEPOSIT)
        sender.txs.append(("open", network.address, data))

    max_fee, priority = client.fees()
    max_fee *= 4  # head room: the base fee moves while a few thousand blocks are mined
    chain_id = client.chain_id

    def mined(transaction_hash: str, sender: Sender) -> dict:
        deadline = time.monotonic() + 120
        while (receipt := client.receipt(transaction_hash)) is None:
            if STOP.is_set():
                raise RuntimeError("stopped")
            if time.monotonic() > deadline:
                latest = client.nonce(sender.address, "latest")
                raise RuntimeError(f"{sender.address}: {transaction_hash} not mined (account nonce {latest})")
            time.sleep(0.01)
        return receipt

    def send_all(sender: Sender) -> list[tuple[str, dict]]:
        """Sends in nonce order, at most PIPELINE_DEPTH unmined at a time; the receipts."""
        nonce = client.nonce(sender.address)
        receipts = []
        for kind, to, data in sender.txs:
            if STOP.is_set():
                raise RuntimeError("stopped")
            if len(sender.hashes) - len(receipts) >= PIPELINE_DEPTH:
                oldest = sender.hashes[len(receipts)]
                receipts.append((oldest, mined(oldest, sender)))
            signed = sign_transaction(
                sender.key,
                chain_id=chain_id,
                nonce=nonce,
                to=to,
                data=data,
                gas=GAS[kind],
                max_fee_per_gas=max_fee,
                max_priority_fee_per_gas=priority,
            )
            client.send_raw(signed.raw)
            sender.hashes.append(signed.transaction_hash)
            nonce += 1
        receipts.extend((h, mined(h, sender)) for h in sender.hashes[len(receipts) :])
        return receipts

    total = sum(len(s.txs) for s in senders.values())
    say(f"  sending {total} transactions from {len(senders)} node accounts ({len(topo.channels)} channel opens)")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        results = [r for rs in pool.map(send_all, senders.values()) for r in rs]
    failed = [h for h, receipt in results if receipt["status"] != 1]
    if failed:
        reason = client.revert_reason(failed[0])
        raise RuntimeError(f"{len(failed)} transactions reverted, e.g. {failed[0]}: {reason}")
    return time.monotonic() - started


@dataclass
class State:
    hub: str
    probe: str
    spokes: list[str]
    counts: dict[str, int]
    tokens: list[str]


def build_state(args, client: ChainClient) -> State:
    from django.core.management import call_command
    from django.db import connection

    from channels_app.models import Channel, Deployment, NetworkChannel, TokenNetwork
    from channels_app.services.chain import deployment_create
    from channels_app.services.ingest import chain_ingest_all
    from raidennode.nodes import keys as node_keys
    from raidennode.nodes.models import Node
    from raidennode.nodes.services import node_create

    call_command("migrate", interactive=False, verbosity=0)
    if args.flush:
        call_command("flush", interactive=False, verbosity=0)
    if Deployment.objects.exists() or Node.objects.exists():
        raise SystemExit("the database already holds nodes or a deployment; use an empty one or pass --flush")

    topo = Topology.hub(args.channels, args.nodes)
    say(
        f"topology: hub node 0 (the default node) in all {len(topo.channels)} channels; probe node 1 with 1 "
        f"channel; {args.nodes - 2} spoke nodes with {topo.channel_count(args.nodes - 1)}.."
        f"{topo.channel_count(2)} channels each, over {topo.tokens} token network(s)"
    )

    started = time.monotonic()
    deployer = Deployer(client, ANVIL_DEFAULT_KEY)
    raiden = deploy_raiden(deployer, settlement_timeout_min=5, settlement_timeout_max=100000)
    tokens, networks = [], []
    for index in range(topo.tokens):
        token = deploy_token(deployer, 10**27, 18, f"BenchToken{index}", f"BT{index}")
        tokens.append(token)
        networks.append(register_token_network(deployer, raiden.token_network_registry, token))
    deployment_create(raiden, client.block(0)["hash"])
    say(f"deployed the Raiden contracts and {topo.tokens} token network(s) in {time.monotonic() - started:.1f}s")

    started = time.monotonic()
    keys = [node_keys.private_key_generate() for _ in range(args.nodes)]
    nodes = [node_create(name=f"bench node {i}", private_key=key) for i, key in enumerate(keys)]
    api_tokens_create(nodes)
    addresses = [node.address for node in nodes]
    for address in addresses:
        client.rpc("anvil_setBalance", [address, hex(ETH_PER_NODE)])
    say(f"created and funded {len(nodes)} co-hosted nodes in {time.monotonic() - started:.1f}s")

    seconds = open_channels_on_chain(client, keys, addresses, tokens, networks, topo)
    say(f"opened {len(topo.channels)} channels on chain in {seconds:.1f}s (head block {client.block_number()})")

    started = time.monotonic()
    chain_ingest_all()
    say(f"ingested the chain (chain_ingest_all) in {time.monotonic() - started:.1f}s")
    if connection.vendor == "postgresql":
        # Planner statistics as autovacuum would have them on a live deployment (right after a
        # bulk load PostgreSQL still believes the tables are nearly empty).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    counts = {address: topo.channel_count(i) for i, address in enumerate(addresses)}
    assert TokenNetwork.objects.count() == topo.tokens, "token networks missing after ingestion"
    assert NetworkChannel.objects.count() == len(topo.channels), "channels missing after ingestion"
    assert Channel.objects.count() == 2 * len(topo.channels), "node channels missing after ingestion"
    for node in nodes:
        assert Channel.objects.filter(node=node).count() == counts[node.address], f"{node.address}: wrong count"
    say(
        f"database: {TokenNetwork.objects.count()} token networks, {NetworkChannel.objects.count()} network "
        f"channels, {Channel.objects.count()} node channel rows"
    )
    return State(addresses[0], addresses[1], addresses[2:], counts, tokens)


# --- in-process checks: SQL queries and where the time goes -----------------------------------------


def query_counts(state: State) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    cases = [
        (f"/nodes/{state.probe}/api/v1/channels", "probe node"),
        (f"/nodes/{state.spokes[0]}/api/v1/channels", "spoke node"),
        (f"/nodes/{state.hub}/api/v1/channels", "hub node"),
        ("/api/v1/channels", "default node (hub)"),
        (f"/nodes/{state.probe}/api/v1/tokens", "probe node"),
        (f"/nodes/{state.hub}/api/v1/tokens", "hub node"),
    ]
    rows = []
    for path, who in cases:
        client.get(path, headers=auth_headers(path))  # warm caches (URL resolver, contracts) before counting
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(path, headers=auth_headers(path))
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, (path, response.status_code, response.content[:200])
        items = len(json.loads(response.content))
        rows.append(
            dict(
                path=path,
                who=who,
                items=items,
                queries=len(ctx),
                ms=elapsed * 1000,
                sql=ctx.captured_queries,
            )
        )
    return rows


def time_breakdown(path: str, repeat: int = 30) -> dict:
    """In-process: total time of GET ``path`` and its parts (SQL, rows to wire dicts, JSON)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from channels_app.api.wire import channel_to_wire
    from channels_app.selectors import channel_views_for
    from raidennode.api.renderers import RaidenJSONRenderer
    from raidennode.nodes.selectors import node_by_address

    client = Client(headers=auth_headers(path))
    node = node_by_address(path.split("/")[2])

    def median(fn) -> float:
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            timings.append(time.perf_counter() - started)
        timings.sort()
        return timings[len(timings) // 2] * 1000

    # The exact SELECT the selector runs, as sent to the server, to time the database alone.
    with CaptureQueriesContext(connection) as ctx:
        channels = channel_views_for(node)
    (select,) = [q["sql"] for q in ctx.captured_queries]

    def db_only():
        with connection.cursor() as cursor:
            cursor.execute(select)
            cursor.fetchall()

    wire = [channel_to_wire(c) for c in channels]
    renderer = RaidenJSONRenderer()
    return {
        "items": len(channels),
        "request_ms": median(lambda: client.get(path)),
        "sql_fetch_ms": median(db_only),
        "rows_ms": median(lambda: channel_views_for(node)),
        "to_wire_ms": median(lambda: [channel_to_wire(c) for c in channels]),
        "json_ms": median(lambda: renderer.render(wire)),
        "bytes": len(renderer.render(wire)),
        "sql": select,
    }


def profile(path: str, repeat: int = 20) -> str:
    from django.test import Client

    client = Client(headers=auth_headers(path))
    client.get(path)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        client.get(path)
    profiler.disable()
    out = []

    class Sink:
        def write(self, text):
            out.append(text)

    stats = pstats.Stats(profiler, stream=Sink())
    stats.strip_dirs().sort_stats("tottime").print_stats(25)
    return "".join(out)


# --- HTTP load ---------------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    items: str
    concurrency: int
    latencies: list[float]
    wall: float
    errors: int
    bytes: int

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall


def load(base: str, paths: list[str], total: int, concurrency: int) -> tuple[list[float], float, int, int]:
    """``total`` GETs over ``paths`` (round robin) from ``concurrency`` threads, one Session each."""
    counter = itertools.count()
    latencies: list[float] = []
    errors = [0]
    size = [0]
    headers = {path: auth_headers(path) for path in paths}

    def worker() -> None:
        with requests.Session() as session:
            while True:
                index = next(counter)
                if index >= total or STOP.is_set():
                    return
                path = paths[index % len(paths)]
                started = time.perf_counter()
                try:
                    response = session.get(base + path, headers=headers[path], timeout=120)
                except requests.RequestException:
                    if STOP.is_set():
                        return  # the server is being stopped: Ctrl-C
                    errors[0] += 1
                    continue
                body = response.content
                latencies.append(time.perf_counter() - started)
                size[0] = len(body)
                if response.status_code != 200:
                    errors[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, errors[0], size[0]


def endpoint_check(base: str, path: str, expected: int) -> None:
    response = requests.get(base + path, headers=auth_headers(path), timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
    got = len(response.json())
    if got != expected:
        raise RuntimeError(f"GET {path}: {got} items, expected {expected}")


def benchmark(args, base: str, state: State) -> list[Run]:
    spokes = [f"/nodes/{a}/api/v1/channels" for a in state.spokes]
    spoke_counts = sorted({state.counts[a] for a in state.spokes})
    endpoints = [
        ("GET /api/v1/channels (default node = hub)", ["/api/v1/channels"], str(state.counts[state.hub])),
        ("GET /nodes/<hub>/api/v1/channels", [f"/nodes/{state.hub}/api/v1/channels"], str(state.counts[state.hub])),
        (
            f"GET /nodes/<spoke>/api/v1/channels ({len(spokes)} nodes, round robin)",
            spokes,
            "..".join(map(str, spoke_counts)),
        ),
        ("GET /nodes/<probe>/api/v1/channels", [f"/nodes/{state.probe}/api/v1/channels"], "1"),
        ("GET /api/v1/tokens", ["/api/v1/tokens"], f"{len(state.tokens)} tokens"),
    ]
    for address in [state.hub, state.probe, *state.spokes]:
        endpoint_check(base, f"/nodes/{address}/api/v1/channels", state.counts[address])
    endpoint_check(base, "/api/v1/channels", state.counts[state.hub])
    endpoint_check(base, "/api/v1/tokens", len(state.tokens))

    runs = []
    levels = [1] if args.concurrency == 1 else [1, args.concurrency]
    for label, paths, items in endpoints:
        load(base, paths, args.warmup, args.concurrency)
        for concurrency in levels:
            latencies, wall, errors, size = load(base, paths, args.requests, concurrency)
            run = Run(label, items, concurrency, latencies, wall, errors, size)
            runs.append(run)
            say(
                f"  {label}: concurrency {concurrency}: p50 {run.percentile(50):.2f} ms, "
                f"p99 {run.percentile(99):.2f} ms, {run.rate:.0f} req/s"
            )
            if errors:
                raise RuntimeError(f"{errors} requests to {label} failed")
    return runs


# --- report ----------------------------------------------------------------------------------------


def machine_facts() -> dict:
    from django.db import connection

    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    pg_version = connection.vendor
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
    import django
    import gunicorn

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "postgresql": pg_version,
    }


def print_table(runs: list[Run]) -> None:
    headers = ("endpoint", "channels", "conc.", "p50 ms", "p99 ms", "req/s", "KB")
    rows = [
        (
            r.label,
            r.items,
            str(r.concurrency),
            f"{r.percentile(50):.2f}",
            f"{r.percentile(99):.2f}",
            f"{r.rate:.0f}",
            f"{r.bytes / 1024:.1f}",
        )
        for r in runs
    ]
    say_table(headers, rows, left_columns=2)


def say_table(headers, rows, left_columns: int = 1) -> None:
    """Prints an aligned text table: the first ``left_columns`` left-aligned, numbers right."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def cells(values) -> str:
        return "  ".join(v.ljust(w) if i < left_columns else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    line = cells(headers)
    say(line)
    say("-" * len(line))
    for row in rows:
        say(cells(row))


# --- main ------------------------------------------------------------------------------------------


def main_with_cleanup(run, args, stop: threading.Event) -> int:
    """Runs ``run(args, stack)`` so that Ctrl-C and SIGTERM both end it through the clean-up of
    ``stack`` (SIGINT is set explicitly: Python leaves it ignored when the script was started in
    the background); ``stop`` tells background threads at once."""

    def interrupt(signum, frame) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    stack = contextlib.ExitStack()
    try:
        return run(args, stack)
    except KeyboardInterrupt:
        say("\ninterrupted; cleaning up")
        return 130
    finally:
        stop.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()


def main(argv: list[str] | None = None) -> int:
    return main_with_cleanup(run, parse_args(argv), STOP)


def run(args, stack: contextlib.ExitStack) -> int:
    anvil = AnvilProcess()
    stack.callback(anvil.stop)
    anvil.start()
    say(f"anvil on {anvil.rpc_url}")

    database_url = args.database_url or DEFAULT_DATABASE_URL
    if not args.database_url:
        scratch_database_create(database_url)
        stack.callback(scratch_database_drop, database_url)

    # Settings are read once, at django.setup(): the environment must be complete before it.
    os.environ["DJANGO_SETTINGS_MODULE"] = "raidennode.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["ETH_RPC_URL"] = anvil.rpc_url
    os.environ["RAIDEN_CONFIRMATIONS"] = "0"
    os.environ["RAIDEN_AUTH"] = args.auth  # gunicorn gets it through env
    os.environ.setdefault("RAIDEN_LOG_LEVEL", "WARNING")
    for name in ("REDIS_URL", "RAIDEN_DEFAULT_NODE", "DEBUG"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.db import connections

    stack.callback(connections.close_all)

    client = ChainClient(anvil.rpc_url, timeout=60)
    state = build_state(args, client)

    say("\nSQL queries per request (in-process, django.test.Client + CaptureQueriesContext):")
    counts = query_counts(state)
    for row in counts:
        say(
            f"  GET {row['path'].replace(state.hub, '<hub>').replace(state.probe, '<probe>').replace(state.spokes[0], '<spoke>')}"
            f" [{row['who']}]: {row['items']} items, {row['queries']} queries "
            f"(one request in-process: {row['ms']:.2f} ms)"
        )
    channel_query_counts = {row["queries"] for row in counts if "/channels" in row["path"]}
    say(
        "  constant: "
        + ("yes" if len(channel_query_counts) == 1 else f"NO ({sorted(channel_query_counts)})")
        + " (no N+1 over channels)"
    )
    for row in counts:
        if row["path"] == f"/nodes/{state.hub}/api/v1/channels":
            for index, query in enumerate(row["sql"], 1):
                say(f"    {index}. {query['sql'][:160]}{'...' if len(query['sql']) > 160 else ''}")

    hub_path = f"/nodes/{state.hub}/api/v1/channels"
    breakdown = time_breakdown(hub_path)
    say(f"\nWhere the time of the hub's GET /channels goes (in-process, median of 30, {breakdown['items']} channels):")
    say(f"  whole request through Django (test client, no HTTP)   {breakdown['request_ms']:7.2f} ms")
    say(f"  the SELECT alone (cursor.execute + fetchall)          {breakdown['sql_fetch_ms']:7.2f} ms")
    say(f"  channel_views_for (SELECT + rows to ChannelViews)     {breakdown['rows_ms']:7.2f} ms")
    say(f"  channel_to_wire over the list                         {breakdown['to_wire_ms']:7.2f} ms")
    say(
        f"  {'JSON rendering (' + format(breakdown['bytes'] / 1024, '.0f') + ' KB)':<52}  {breakdown['json_ms']:7.2f} ms"
    )
    if args.profile:
        say(f"\ncProfile of 20 in-process GET {hub_path.replace(state.hub, '<hub>')} (top 25 by own time):")
        say(profile(hub_path))

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = Gunicorn(env, args.workers, args.threads)
    stack.callback(server.stop)
    server.start("/api/v1/status")
    say(f"\nserving with: {' '.join(server.command[2:])} (pid {server.process.pid})")
    say(
        f"load: {args.warmup} warm-up requests, then {args.requests} measured requests per endpoint at "
        f"concurrency 1" + (f" and {args.concurrency}" if args.concurrency > 1 else "")
    )
    load_before = os.getloadavg()
    runs = benchmark(args, server.base_url, state)
    load_after = os.getloadavg()

    facts = machine_facts()
    say("\nResults")
    say(
        f"machine: {facts['cpus']} CPUs ({facts['cpu_model']}), Python {facts['python']}, Django {facts['django']}, "
        f"gunicorn {facts['gunicorn']} ({args.workers} workers x {args.threads} threads, gthread), "
        f"PostgreSQL {facts['postgresql']}, {facts['platform']}"
    )
    say(
        f"load average (1/5/15 min) before the HTTP load: {'/'.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {'/'.join(f'{x:.2f}' for x in load_after)} (other processes on the machine count too)"
    )
    say(
        f"state: {args.channels} channels on chain between {args.nodes} co-hosted nodes, "
        f"{len(state.tokens)} token network(s); client and server on the same machine"
    )
    print_table(runs)
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "machine": {**facts, "loadavg_before": load_before, "loadavg_after": load_after},
                    "query_counts": [{k: v for k, v in row.items() if k != "sql"} for row in counts],
                    "breakdown": {k: v for k, v in breakdown.items() if k != "sql"},
                    "runs": [
                        {
                            "endpoint": r.label,
                            "items": r.items,
                            "concurrency": r.concurrency,
                            "p50_ms": r.percentile(50),
                            "p99_ms": r.percentile(99),
                            "requests_per_second": r.rate,
                            "bytes": r.bytes,
                        }
                        for r in runs
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
