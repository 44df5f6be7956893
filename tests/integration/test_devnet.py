"""``manage.py devnet`` as a user runs it: a subprocess, its info file, its REST API, its shutdown.

Embedded mode (no DATABASE_URL, no REDIS_URL: SQLite in a temporary RAIDEN_VAR_DIR, Celery eager,
duties in a thread), hosted mode (a PostgreSQL database of its own, Redis, a real Celery worker and
beat started by the devnet) and a port that is already taken. Nothing here uses the test
session's chain or database: each devnet starts its own anvil.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from raidennode.chain.anvil import free_port
from raidennode.chain.client import ChainClient
from raidennode.chain.proxies import TokenProxy
from raidennode.protocol.addresses import to_checksum_address
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

START_TIMEOUT = 90  # seconds until the info file must exist
STOP_TIMEOUT = 45  # seconds from SIGTERM to exit
HTTP_TIMEOUT = 120  # seconds for one blocking API call (open + deposit, close)
NODE_TOKENS = 1000

# Variables of the test run that must not leak into a devnet (it would share our chain or DB).
ISOLATED_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "ETH_RPC_URL",
    "RAIDEN_CELERY_QUEUE",
    "RAIDEN_VAR_DIR",
    "TEST_DATABASE_NAME",
    "RAIDEN_DEFAULT_NODE",
    "RAIDEN_CONFIRMATIONS",
    "RAIDEN_DEFAULT_SETTLE_TIMEOUT",
    "RAIDEN_DEFAULT_REVEAL_TIMEOUT",
)
INFO_KEYS = {
    "rpc_url",
    "chain_id",
    "contracts",
    "tokens",
    "settle_timeout",
    "reveal_timeout",
    "nodes",
    "auth",
}
CONTRACT_KEYS = {
    "token_network_registry",
    "secret_registry",
    "user_deposit",
    "service_registry",
    "monitoring_service",
    "one_to_n",
}


# --- helpers ------------------------------------------------------------------------------------


def processes() -> dict[int, list[str]]:
    """pid -> argv of every live (non-zombie) process, read from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            found[int(entry)] = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return found


def pids_matching(needle: str) -> list[int]:
    return [pid for pid, argv in processes().items() if any(needle in part for part in argv)]


def anvil_pids(rpc_url: str) -> list[int]:
    port = str(urlparse(rpc_url).port)
    return [
        pid
        for pid, argv in processes().items()
        if argv and argv[0].endswith("anvil") and "--port" in argv and argv[argv.index("--port") + 1 :][:1] == [port]
    ]


def port_is_free(port: int) -> bool:
    """Whether a new server could listen on the port (connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def rpc_answers(rpc_url: str) -> bool:
    try:
        requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}, timeout=2)
    except requests.RequestException:
        return False
    return True


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(interval)


def devnet_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ISOLATED_VARIABLES}
    env.update(RAIDEN_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", **extra)
    return env


class Devnet:
    """One ``manage.py devnet`` subprocess, its output file and its info file."""

    def __init__(self, tmp_path: Path, env: dict[str, str], port: int | None = None, args: tuple = ()) -> None:
        self.port = port or free_port()
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.tmp_path = tmp_path
        self.info_path = tmp_path / "devnet.json"
        self.runs = 0
        self.env = env
        self.args = args
        self.process: subprocess.Popen | None = None
        self.info: dict = {}

    @property
    def output_path(self) -> Path:
        return self.tmp_path / f"devnet-{self.runs}.out"

    def start(self, nodes: int = 2) -> Devnet:
        self.runs += 1
        self.info_path.unlink(missing_ok=True)
        self.info = {}
        command = [sys.executable, "manage.py", "devnet", "--nodes", str(nodes), "--port", str(self.port)]
        command += ["--info-file", str(self.info_path), "--tokens", str(NODE_TOKENS), *self.args]
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = START_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while not self.info_path.exists():
            if self.process.poll() is not None:
                pytest.fail(f"devnet exited with {self.process.returncode} before it was ready:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"devnet did not write {self.info_path} within {timeout} s:\n{self.output}")
            time.sleep(0.2)
        self.info = json.loads(self.info_path.read_text())
        return self.info

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Sends ``sig``; the exit code (fails the test when it does not exit in time)."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"devnet did not exit within {timeout} s of SIGTERM:\n{self.output}")

    def kill_leftovers(self, *needles: str) -> None:
        """Teardown safety net: stops this devnet (SIGTERM, then SIGKILL) and ends what it
        started, found again now: the anvils its runs announced, and any process whose command
        line holds one of ``needles``."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        outputs = "".join(
            (self.tmp_path / f"devnet-{run}.out").read_text(errors="replace")
            for run in range(1, self.runs + 1)
            if (self.tmp_path / f"devnet-{run}.out").exists()
        )
        ports = re.findall(r"starting anvil on 127\.0\.0\.1:(\d+)", outputs)
        pids = [pid for port in ports for pid in anvil_pids(f"http://127.0.0.1:{port}")]
        pids += [pid for needle in needles for pid in pids_matching(needle)]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def check_info(info: dict, port: int, settle_timeout: int, reveal_timeout: int, nodes: int = 2) -> None:
    """The info file's exact shape, as the issue describes it."""
    assert set(info) == INFO_KEYS
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", info["rpc_url"]), info["rpc_url"]
    assert isinstance(info["chain_id"], int) and not isinstance(info["chain_id"], bool)
    assert set(info["contracts"]) == CONTRACT_KEYS
    for address in info["contracts"].values():
        assert address == to_checksum_address(address)
    assert isinstance(info["tokens"], list) and len(info["tokens"]) == 1
    for token in info["tokens"]:
        assert set(token) == {"address", "token_network"}
        assert token["address"] == to_checksum_address(token["address"])
        assert token["token_network"] == to_checksum_address(token["token_network"])
    assert info["settle_timeout"] == settle_timeout
    assert info["reveal_timeout"] == reveal_timeout
    assert len(info["nodes"]) == nodes
    for node in info["nodes"]:
        assert set(node) == {"address", "api_url", "api_token"}
        assert node["address"] == to_checksum_address(node["address"])
        assert node["api_url"] == f"http://127.0.0.1:{port}/nodes/{node['address']}"
        if info["auth"]:
            assert node["api_token"].startswith("rn_"), "with RAIDEN_AUTH on, each node has a token"
        else:
            assert node["api_token"] is None
    assert len({node["address"] for node in info["nodes"]}) == nodes


def auth(node: dict) -> dict:
    """The request headers for a node of the info file: its token when RAIDEN_AUTH is on."""
    return {"Authorization": f"Token {node['api_token']}"} if node["api_token"] else {}


def check_api(devnet: Devnet) -> dict:
    """Addresses at every base URL; node 0 opens a channel to node 1 with a deposit. The channel.

    With RAIDEN_AUTH on, every call carries the node's token from the info file (the default
    base URL then serves the token's node), and a call without it or with another node's is refused.
    """
    info = devnet.info
    node0, node1 = info["nodes"][0], info["nodes"][1]
    token = info["tokens"][0]["address"]
    if info["auth"]:
        assert requests.get(f"{devnet.base_url}/api/v1/address", timeout=10).status_code == 401
        foreign = requests.get(node1["api_url"] + "/api/v1/address", headers=auth(node0), timeout=10)
        assert foreign.status_code == 404, foreign.text

    default = requests.get(f"{devnet.base_url}/api/v1/address", headers=auth(node0), timeout=10)
    assert default.status_code == 200
    assert default.json() == {"our_address": node0["address"]}
    for node in info["nodes"]:
        answer = requests.get(node["api_url"] + "/api/v1/address", headers=auth(node), timeout=10)
        assert answer.status_code == 200
        assert answer.json() == {"our_address": node["address"]}
    contracts = requests.get(f"{devnet.base_url}/api/v1/contracts", headers=auth(node0), timeout=10).json()
    assert contracts["token_network_registry_address"] == info["contracts"]["token_network_registry"]
    assert contracts["secret_registry_address"] == info["contracts"]["secret_registry"]
    assert requests.get(f"{devnet.base_url}/api/v1/tokens", headers=auth(node0), timeout=10).json() == [token]

    opened = requests.put(
        f"{devnet.base_url}/api/v1/channels",
        json={"token_address": token, "partner_address": node1["address"], "total_deposit": "100"},
        headers=auth(node0),
        timeout=HTTP_TIMEOUT,
    )
    assert opened.status_code == 201, opened.text
    channel = opened.json()
    assert channel["state"] == "opened"
    assert channel["partner_address"] == node1["address"]
    assert channel["token_network_address"] == info["tokens"][0]["token_network"]
    assert channel["settle_timeout"] == str(info["settle_timeout"])
    assert channel["total_deposit"] == "100" and channel["balance"] == "100"

    seen = requests.get(
        f"{node1['api_url']}/api/v1/channels/{token}/{node0['address']}", headers=auth(node1), timeout=10
    )
    assert seen.status_code == 200, seen.text
    assert seen.json()["channel_identifier"] == channel["channel_identifier"]
    assert seen.json()["state"] == "opened"
    assert seen.json()["total_deposit"] == "0"

    client = ChainClient(info["rpc_url"])
    assert TokenProxy(client, token).balance_of(node0["address"]) == NODE_TOKENS - 100
    assert TokenProxy(client, token).balance_of(info["tokens"][0]["token_network"]) == 100

    # A payment over that channel, as the README shows it.
    paid = requests.post(
        f"{devnet.base_url}/api/v1/payments/{token}/{node1['address']}",
        json={"amount": "10"},
        headers=auth(node0),
        timeout=HTTP_TIMEOUT,
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["amount"] == "10" and paid.json()["target_address"] == node1["address"]
    seen = requests.get(
        f"{node1['api_url']}/api/v1/channels/{token}/{node0['address']}", headers=auth(node1), timeout=10
    )
    assert seen.json()["balance"] == "10"
    received = requests.get(f"{node1['api_url']}/api/v1/payments", headers=auth(node1), timeout=10).json()
    assert [(event["event"], event["amount"]) for event in received] == [("EventPaymentReceivedSuccess", "10")]
    return channel


def check_progress_lines(devnet: Devnet) -> None:
    output, info = devnet.output, devnet.info
    lines = [line for line in output.splitlines() if line.startswith("[devnet] ")]
    text = "\n".join(lines)
    assert "starting anvil" in text
    assert "deploying the Raiden contracts 0.40.0" in text
    assert f"TokenNetworkRegistry at {info['contracts']['token_network_registry']}" in text
    for index, node in enumerate(info["nodes"]):
        assert f"node {index}: {node['address']} funded" in text
    # The summary: ready, then the URLs and addresses.
    summary = text[text.index("[devnet] ready") :]
    assert info["rpc_url"] in summary
    for node in info["nodes"]:
        assert f"{node['api_url']}/api/v1/" in summary
    assert f"default node (node 0) is also at {devnet.base_url}/api/v1/" in summary
    assert str(devnet.info_path) in summary


def check_stopped(devnet: Devnet, code: int) -> None:
    assert code == 0, devnet.output
    # A clean stop: no traceback (e.g. from a request still being answered), "stopped" last.
    assert "Traceback" not in devnet.output, devnet.output
    assert devnet.output.rstrip().endswith("[devnet] stopped"), devnet.output[-2000:]
    assert wait_until(lambda: port_is_free(devnet.port), 10, f"port {devnet.port} being free")
    assert not rpc_answers(devnet.info["rpc_url"]), "anvil still answers after the devnet stopped"
    assert anvil_pids(devnet.info["rpc_url"]) == []


# --- embedded -----------------------------------------------------------------------------------


@pytest.fixture
def embedded_devnet(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    devnet = Devnet(tmp_path, devnet_env(var_dir), args=("--block-time", "0.5"))
    devnet.var_dir = var_dir
    yield devnet
    devnet.kill_leftovers()


def test_embedded_devnet(embedded_devnet, tmp_path):
    devnet = embedded_devnet.start()
    info = devnet.wait_ready()

    check_info(info, devnet.port, settle_timeout=40, reveal_timeout=10)
    assert "background thread (Celery eager: no REDIS_URL)" in devnet.output
    assert "Celery worker" not in devnet.output
    check_api(devnet)
    check_progress_lines(devnet)
    assert anvil_pids(info["rpc_url"]), "anvil is not a process of its own"

    # The database is SQLite in RAIDEN_VAR_DIR, and the keys in it are encrypted.
    db_path = devnet.var_dir / "db.sqlite3"
    assert db_path.exists()
    check_keys_encrypted(db_path, [node["address"] for node in info["nodes"]])

    # A second devnet on the same port fails fast, and leaves the first one alone.
    second_var = tmp_path / "second"
    second_var.mkdir()
    started = time.monotonic()
    second = subprocess.run(
        [sys.executable, "manage.py", "devnet", "--port", str(devnet.port), "--info-file", str(second_var / "x.json")],
        cwd=PROJECT_ROOT,
        env=devnet_env(second_var),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert f"port {devnet.port} on 127.0.0.1 is in use" in second.stderr + second.stdout
    assert time.monotonic() - started < 30
    assert not (second_var / "x.json").exists()
    assert requests.get(f"{devnet.base_url}/api/v1/address", timeout=10).status_code == 200

    # A client holding a keep-alive connection while the devnet stops (as a browser does).
    keep_alive = requests.Session()
    assert keep_alive.get(f"{devnet.base_url}/api/v1/address", timeout=10).status_code == 200
    check_stopped(devnet, devnet.stop())
    keep_alive.close()

    # Started again right away on the same port and var dir: a new chain in the same (SQLite)
    # database, which it empties; stopped with SIGINT (Ctrl-C) this time.
    first_rpc_url = info["rpc_url"]
    info = devnet.start(nodes=1).wait_ready()
    assert info["rpc_url"] != first_rpc_url
    assert "emptying the database" in devnet.output
    assert requests.get(f"{devnet.base_url}/api/v1/address", timeout=10).json() == {
        "our_address": info["nodes"][0]["address"]
    }
    check_stopped(devnet, devnet.stop(signal.SIGINT))


def check_keys_encrypted(db_path: Path, addresses: list[str]) -> None:
    """Node keys are Fernet tokens that decrypt to the node's key; the key is nowhere in plaintext."""
    from raidennode.nodes.keys import address_of, private_key_decrypt

    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT address, encrypted_key FROM nodes_node ORDER BY id").fetchall()
    finally:
        db.close()
    assert [address for address, _ in rows] == addresses
    stored = b"".join(path.read_bytes() for path in db_path.parent.glob(db_path.name + "*"))
    for address, token in rows:
        assert token.startswith("gAAAAA"), "not a Fernet token"
        assert not re.search(r"(?i)(0x)?[0-9a-f]{64}", token)
        # The devnet inherits this process's RAIDEN_KEY_ENCRYPTION_KEYS (or the development
        # default when neither has one), so this process can decrypt what it stored.
        key = private_key_decrypt(token)
        assert to_checksum_address(address_of(key)) == address
        for plain in (key, key.hex().encode(), key.hex().upper().encode()):
            assert plain not in stored, f"the private key of {address} is stored in plaintext"


# --- hosted -------------------------------------------------------------------------------------


def postgres_server_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    parsed = urlparse(url)
    return parsed._replace(path="/postgres", query="").geturl()


@pytest.fixture
def hosted_database():
    """A PostgreSQL database of its own (created and dropped here): the devnet's DATABASE_URL."""
    server = postgres_server_url()
    if server is None or not os.environ.get("REDIS_URL"):
        pytest.skip("hosted devnet needs DATABASE_URL (PostgreSQL) and REDIS_URL (make test sets both)")
    import psycopg

    name = f"raidennode_devnet_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlparse(server)._replace(path=f"/{name}").geturl()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_hosted_devnet(tmp_path, hosted_database):
    import psycopg

    var_dir = tmp_path / "var"
    var_dir.mkdir()
    # A plain close (no cooperative settle), so that beat's settle duty is what ends the channel.
    # RAIDEN_AUTH on, as a hosted deployment runs: the API tokens come from the info file.
    env = devnet_env(
        var_dir,
        DATABASE_URL=hosted_database,
        REDIS_URL=os.environ["REDIS_URL"],
        RAIDEN_COOPERATIVE_SETTLE="false",
        RAIDEN_AUTH="on",
    )
    devnet = Devnet(
        tmp_path, env, args=("--settle-timeout", "10", "--reveal-timeout", "2", "--block-time", "0.2")
    ).start()
    queue = "devnet-queue-not-known-yet"
    started_devnets = [devnet]
    try:
        info = devnet.wait_ready()
        check_info(info, devnet.port, settle_timeout=10, reveal_timeout=2)
        started = re.search(
            r"started a Celery worker \(pid (\d+)\) and beat \(pid (\d+)\) on queue (\S+)", devnet.output
        )
        assert started, devnet.output
        worker_pid, beat_pid, queue = int(started[1]), int(started[2]), started[3]
        celery_pids = pids_matching(queue)
        assert worker_pid in celery_pids and beat_pid in celery_pids, celery_pids
        assert "background thread" not in devnet.output
        assert not (var_dir / "db.sqlite3").exists(), "the hosted devnet used SQLite"

        channel = check_api(devnet)
        check_progress_lines(devnet)
        node0, node1 = info["nodes"][0], info["nodes"][1]
        token = info["tokens"][0]["address"]

        closed = requests.patch(
            f"{node0['api_url']}/api/v1/channels/{token}/{node1['address']}",
            json={"state": "closed"},
            headers=auth(node0),
            timeout=HTTP_TIMEOUT,
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["state"] == "closed"

        # Nobody asks for the settlement: beat's duties start it once the window has passed
        # (10 blocks of 0.2 s), the worker sends it, ingestion applies ChannelSettled.
        url = f"{node0['api_url']}/api/v1/channels/{token}/{node1['address']}"
        wait_until(
            lambda: requests.get(url, headers=auth(node0), timeout=10).status_code == 404,
            60,
            "the automatic settlement",
        )
        assert requests.get(f"{node0['api_url']}/api/v1/channels", headers=auth(node0), timeout=10).json() == []
        client = ChainClient(info["rpc_url"])
        assert TokenProxy(client, token).balance_of(node0["address"]) == NODE_TOKENS - 10
        assert TokenProxy(client, token).balance_of(node1["address"]) == NODE_TOKENS + 10
        assert TokenProxy(client, token).balance_of(info["tokens"][0]["token_network"]) == 0
        with psycopg.connect(hosted_database) as conn:
            settles = conn.execute(
                "SELECT status FROM channels_app_chainoperation WHERE kind = 'channel_settle'"
            ).fetchall()
            nodes = conn.execute("SELECT address FROM nodes_node ORDER BY id").fetchall()
        assert settles == [("succeeded",)]
        assert [row[0] for row in nodes] == [node0["address"], node1["address"]]
        assert channel["channel_identifier"] == "1"

        check_stopped(devnet, devnet.stop())
        # Every Celery process of that devnet (worker, its pool, beat) is gone.
        wait_until(lambda: not pids_matching(queue), 15, "the end of the devnet's Celery processes")
        for log in ("devnet-worker.log", "devnet-beat.log"):
            assert "Traceback" not in (var_dir / log).read_text(errors="replace"), log

        # The PostgreSQL database now holds that chain's nodes and keys: a new devnet on it
        # refuses to empty it without --reset, and stops the chain it had started.
        again = Devnet(tmp_path / "again", env)
        started_devnets.append(again.start())
        assert again.process.wait(timeout=60) != 0
        assert "the database holds the state of another chain; run with --reset" in again.output
        ports = re.findall(r"starting anvil on 127\.0\.0\.1:(\d+)", again.output)
        assert ports and not anvil_pids(f"http://127.0.0.1:{ports[0]}")
        with psycopg.connect(hosted_database) as conn:
            assert conn.execute("SELECT count(*) FROM nodes_node").fetchone() == (2,)
    finally:
        for started in started_devnets:
            started.kill_leftovers(queue)


# --- a port in use ------------------------------------------------------------------------------


def test_devnet_on_a_port_in_use_fails_fast(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "manage.py", "devnet", "--port", str(port), "--info-file", str(tmp_path / "info.json")],
            cwd=PROJECT_ROOT,
            env=devnet_env(var_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is in use; choose another with --port" in result.stderr
    assert time.monotonic() - started < 30
    assert "starting anvil" not in result.stdout, "it started a chain before checking the port"
    assert not (tmp_path / "info.json").exists()
    assert not (var_dir / "db.sqlite3").exists()
