"""``manage.py devnet``: a whole Raiden dev network in one command.

Starts anvil (or uses ETH_RPC_URL), deploys the Raiden contracts 0.40.0 and a test token with
its token network, creates and funds N co-hosted nodes, serves the REST API on 127.0.0.1:PORT
and runs the chain duties (a background thread when Celery is eager; a real Celery worker and
beat when REDIS_URL is set). Writes the info file once everything answers, and runs until
SIGINT/SIGTERM, then stops everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from channels_app.models import Deployment, TokenNetwork
from channels_app.services.background import ChainLoop
from channels_app.services.chain import deployment_create
from channels_app.services.ingest import chain_ingest_all
from raidennode.celery import is_eager
from raidennode.chain.anvil import ANVIL_DEFAULT_KEY, AnvilProcess
from raidennode.chain.client import ChainClient
from raidennode.chain.deploy import (
    Deployer,
    deploy_raiden,
    deploy_token,
    fund_eth,
    mint_tokens,
    register_token_network,
)
from raidennode.chain.errors import ChainError
from raidennode.nodes.models import Node
from raidennode.nodes.services import node_create
from raidennode.nodes.tokens import api_token_create

ETHER = 10**18


class Command(BaseCommand):
    help = "Run a dev network: anvil, the Raiden contracts, N funded co-hosted nodes and their REST API."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--nodes", type=int, default=2, help="co-hosted nodes to run (default 2)")
        parser.add_argument("--port", type=int, default=5001, help="REST API port on 127.0.0.1 (default 5001)")
        parser.add_argument("--info-file", default="var/devnet.json", help="where to write the network's JSON")
        parser.add_argument("--settle-timeout", type=int, default=40, help="default settle timeout (blocks)")
        parser.add_argument("--reveal-timeout", type=int, default=10, help="default reveal timeout (blocks)")
        parser.add_argument("--settle-timeout-min", type=int, default=5, help="registry minimum settle timeout")
        parser.add_argument("--settle-timeout-max", type=int, default=100000, help="registry maximum settle timeout")
        parser.add_argument("--confirmations", type=int, default=0, help="blocks before an event is applied")
        parser.add_argument(
            "--block-time", type=float, default=1.0, help="seconds between empty blocks on the started anvil (0: none)"
        )
        parser.add_argument("--eth", type=int, default=100, help="ETH given to each node")
        parser.add_argument("--tokens", type=int, default=10**21, help="test tokens given to each node (base units)")
        parser.add_argument(
            "--reset", action="store_true", help="empty a non-SQLite database that holds another chain's state"
        )
        parser.add_argument("--threads", type=int, default=32, help="HTTP server threads")

    # --- output ---------------------------------------------------------------------------------

    def say(self, line: str) -> None:
        self.stdout.write(f"[devnet] {line}")
        self.stdout.flush()

    # --- main -----------------------------------------------------------------------------------

    def handle(self, *args, **options) -> None:
        if options["nodes"] < 1:
            raise CommandError("--nodes must be at least 1")
        if options["settle_timeout"] < 2 * options["reveal_timeout"]:
            raise CommandError("--settle-timeout must be at least twice --reveal-timeout")
        self._port_free_check(options["port"])
        self.stop_event = threading.Event()
        self.children: list[subprocess.Popen] = []
        self.anvil: AnvilProcess | None = None
        self.loop: ChainLoop | None = None
        self.server = None
        info_path = Path(options["info_file"])
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop_event.set())
        try:
            self._run(options, info_path)
        finally:
            self._shutdown(info_path)

    def _run(self, options: dict, info_path: Path) -> None:
        rpc_url = os.environ.get("ETH_RPC_URL")
        if rpc_url:
            self.say(f"using the Ethereum node at {rpc_url}")
        else:
            block_time = options["block_time"] or None
            self.anvil = AnvilProcess(block_time=block_time, log_path=str(Path(settings.VAR_DIR) / "anvil.log"))
            self.say(
                f"starting anvil on 127.0.0.1:{self.anvil.port}"
                + (f" (a block every {block_time}s)" if block_time else "")
            )
            rpc_url = self.anvil.start()
        settings.ETH_RPC_URL = rpc_url
        settings.RAIDEN_CONFIRMATIONS = options["confirmations"]
        settings.RAIDEN_DEFAULT_SETTLE_TIMEOUT = options["settle_timeout"]
        settings.RAIDEN_DEFAULT_REVEAL_TIMEOUT = options["reveal_timeout"]
        client = ChainClient(rpc_url)
        try:
            chain_id = client.chain_id
        except ChainError as exc:
            raise CommandError(f"the Ethereum node at {rpc_url} does not answer: {exc}") from exc

        self._database_prepare(options["reset"])
        deployer_key = bytes.fromhex(os.environ.get("RAIDEN_DEPLOYER_KEY", ANVIL_DEFAULT_KEY.hex()).removeprefix("0x"))
        deployer = Deployer(client, deployer_key)
        self.say(f"deploying the Raiden contracts 0.40.0 from {deployer.address} on chain {chain_id}")
        raiden = deploy_raiden(
            deployer,
            settlement_timeout_min=options["settle_timeout_min"],
            settlement_timeout_max=options["settle_timeout_max"],
            max_token_networks=1000,
            progress=lambda line: self.say("  " + line),
        )
        token = deploy_token(deployer, 10**27, 18, "TestToken", "TTT")
        self.say(f"deployed test token TTT at {token}")
        token_network = register_token_network(deployer, raiden.token_network_registry, token)
        self.say(f"registered TTT: token network {token_network}")
        deployment_create(raiden, client.block(0)["hash"])

        nodes = list(Node.objects.order_by("id")[: options["nodes"]])
        while len(nodes) < options["nodes"]:
            nodes.append(node_create(name=f"devnet node {len(nodes)}"))
        for index, node in enumerate(nodes):
            fund_eth(deployer, node.address, options["eth"] * ETHER)
            mint_tokens(deployer, token, node.address, options["tokens"])
            self.say(f"node {index}: {node.address} funded with {options['eth']} ETH and {options['tokens']} TTT")
        chain_ingest_all()

        self._duties_start(options, rpc_url)
        self._serve(options)
        info = self._info(rpc_url, chain_id, raiden, nodes, options)
        self._wait_ready(options["port"], nodes[0].address, info["nodes"][0]["api_token"])
        info_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = info_path.with_suffix(info_path.suffix + ".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        os.chmod(tmp, 0o600)  # it may hold API tokens
        tmp.replace(info_path)
        self._summary(info, info_path)
        while not self.stop_event.wait(0.5):
            for child in self.children:
                if child.poll() is not None:
                    self.say(f"a child process ({' '.join(child.args[3:6])}) exited with {child.returncode}; stopping")
                    self.stop_event.set()

    # --- pieces ---------------------------------------------------------------------------------

    def _port_free_check(self, port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As waitress binds: connections of the last run in TIME_WAIT do not make the port
            # busy (only a listening socket does), so a restart right after a stop works.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                raise CommandError(f"port {port} on 127.0.0.1 is in use; choose another with --port") from exc

    def _database_prepare(self, reset: bool) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if Deployment.objects.exists() or TokenNetwork.objects.exists():
            if connection.vendor == "sqlite" or reset:
                self.say(f"a new chain: emptying the database {connection.settings_dict['NAME']} of the last run")
                call_command("flush", interactive=False, verbosity=0)
            else:
                raise CommandError(
                    "the database holds the state of another chain; run with --reset to empty it "
                    "(every node, channel and key in it is deleted)"
                )

    def _duties_start(self, options: dict, rpc_url: str) -> None:
        if is_eager():
            self.loop = ChainLoop()
            self.loop.start()
            self.say("chain ingestion and duties run in a background thread (Celery eager: no REDIS_URL)")
            return
        queue = f"devnet-{options['port']}-{uuid.uuid4().hex[:6]}"
        env = {
            **os.environ,
            "ETH_RPC_URL": rpc_url,
            "RAIDEN_CONFIRMATIONS": str(options["confirmations"]),
            "RAIDEN_DEFAULT_SETTLE_TIMEOUT": str(options["settle_timeout"]),
            "RAIDEN_DEFAULT_REVEAL_TIMEOUT": str(options["reveal_timeout"]),
            "RAIDEN_CELERY_QUEUE": queue,
        }
        from raidennode.celery import app

        app.conf.task_default_queue = queue
        log_dir = Path(settings.VAR_DIR)
        celery = [sys.executable, "-m", "celery", "-A", "raidennode"]
        worker = subprocess.Popen(
            celery
            + [
                "worker",
                "--loglevel",
                "WARNING",
                "--concurrency",
                "4",
                "--queues",
                queue,
                "--hostname",
                f"{queue}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=open(log_dir / "devnet-worker.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        self.children.append(worker)
        beat = subprocess.Popen(
            celery + ["beat", "--loglevel", "WARNING", "--schedule", str(log_dir / f"celerybeat-{queue}")],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=open(log_dir / "devnet-beat.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        self.children.append(beat)
        self.say(f"started a Celery worker (pid {worker.pid}) and beat (pid {beat.pid}) on queue {queue}")
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[f"{queue}@{socket.gethostname()}"], timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise CommandError("the Celery worker did not start; see var/devnet-worker.log")

    def _serve(self, options: dict) -> None:
        from waitress.server import create_server

        from raidennode.wsgi import application

        self.server = create_server(
            application, host="127.0.0.1", port=options["port"], threads=options["threads"], channel_timeout=900
        )
        threading.Thread(target=self.server.run, name="http", daemon=True).start()
        self.say(f"serving the REST API on http://127.0.0.1:{options['port']}")

    def _wait_ready(self, port: int, address: str, api_token: str | None) -> None:
        import requests

        url = f"http://127.0.0.1:{port}/nodes/{address}/api/v1/status"
        headers = {"Authorization": f"Token {api_token}"} if api_token else {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(url, headers=headers, timeout=5).json().get("status") == "ready":
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        raise CommandError("the REST API did not become ready")

    def _info(self, rpc_url: str, chain_id: int, raiden, nodes: list[Node], options: dict) -> dict:
        base = f"http://127.0.0.1:{options['port']}"
        return {
            "rpc_url": rpc_url,
            "chain_id": chain_id,
            "contracts": {
                "token_network_registry": raiden.token_network_registry,
                "secret_registry": raiden.secret_registry,
                "user_deposit": raiden.user_deposit,
                "service_registry": raiden.service_registry,
                "monitoring_service": raiden.monitoring_service,
                "one_to_n": raiden.one_to_n,
            },
            "tokens": [
                {"address": tn.token_address, "token_network": tn.address} for tn in TokenNetwork.objects.order_by("id")
            ],
            "settle_timeout": options["settle_timeout"],
            "reveal_timeout": options["reveal_timeout"],
            "auth": settings.RAIDEN_AUTH,
            "nodes": [
                {"address": n.address, "api_url": f"{base}/nodes/{n.address}", "api_token": self._api_token(n)}
                for n in nodes
            ],
        }

    @staticmethod
    def _api_token(node: Node) -> str | None:
        """With RAIDEN_AUTH on, a new full token for each node (the info file is its only copy)."""
        if not settings.RAIDEN_AUTH:
            return None
        _token, key = api_token_create(node, name="devnet")
        return key

    def _summary(self, info: dict, info_path: Path) -> None:
        self.say("ready")
        self.say(f"  chain {info['chain_id']} at {info['rpc_url']}")
        self.say(f"  TokenNetworkRegistry {info['contracts']['token_network_registry']}")
        for token in info["tokens"]:
            self.say(f"  token {token['address']} (token network {token['token_network']})")
        for index, node in enumerate(info["nodes"]):
            self.say(f"  node {index}: {node['address']}  {node['api_url']}/api/v1/")
        if info["auth"]:
            self.say(f"  RAIDEN_AUTH is on: each node's API token is in {info_path} (Authorization: Token <key>)")
        port_url = info["nodes"][0]["api_url"].split("/nodes/")[0]
        self.say(f"  the default node (node 0) is also at {port_url}/api/v1/")
        self.say(f"  the Raiden WebUI is at {port_url}/ui/, the API's OpenAPI docs at {port_url}/api/v1/docs")
        self.say(f"  wrote {info_path}; stop with Ctrl-C")

    def _shutdown(self, info_path: Path) -> None:
        if self.server is not None:
            # Let the requests being served finish (at most 5 s) before the server's sockets
            # close: a worker thread still answering would otherwise fail on a closed trigger.
            self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            self.server.close()
        if self.loop is not None:
            self.loop.stop()
            self.loop.join(timeout=10)
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.anvil is not None:
            self.anvil.stop()
        self.say("stopped")
