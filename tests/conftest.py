"""Test fixtures: a real anvil chain with the real Raiden contracts, PostgreSQL, Redis, Celery.

* ``devchain`` (session): anvil started once, contracts deployed once (SecretRegistry,
  TokenNetworkRegistry, service contracts, a CustomToken with its token network), then an EVM
  snapshot. Every test that uses ``chain_env`` starts from that snapshot again.
* ``chain_env`` (per test): reverts the chain, points the settings at it, records the deployment
  in the (transactional) test database and ingests it. Confirmations are 0 unless a test sets them.
* ``celery_worker_process`` (session): with REDIS_URL set, one real Celery worker on the test
  database and a queue of its own; chain operations of every test then run in it. Without
  REDIS_URL, Celery runs eagerly in the test process.
* ``make_node``: a co-hosted node with ETH and test tokens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test import Client
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase

from raidennode.celery import app as celery_app
from raidennode.chain.anvil import ANVIL_DEFAULT_KEY, AnvilProcess
from raidennode.chain.client import ChainClient
from raidennode.chain.deploy import Deployer, RaidenDeployment, deploy_raiden, deploy_token, register_token_network
from raidennode.chain.proxies import TokenProxy
from raidennode.protocol.constants import UINT256_MAX

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Hypothesis keeps its example database under var/ (git-ignored), not in ./.hypothesis.
hypothesis_settings.register_profile(
    "raidennode", database=DirectoryBasedExampleDatabase(PROJECT_ROOT / "var" / "hypothesis")
)
hypothesis_settings.load_profile("raidennode")
REDIS_URL = os.environ.get("REDIS_URL")
SETTLE_TIMEOUT_MIN = 5
SETTLE_TIMEOUT_MAX = 100000
TEST_SETTLE_TIMEOUT = 20
TEST_REVEAL_TIMEOUT = 5


@dataclass
class DevChain:
    anvil: AnvilProcess
    client: ChainClient
    deployer: Deployer
    raiden: RaidenDeployment
    token: str
    token_network: str
    snapshot: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    def mine(self, blocks: int = 1) -> None:
        self.client.rpc("anvil_mine", [hex(blocks)])

    def token_balance(self, address: str, token: str | None = None) -> int:
        return TokenProxy(self.client, token or self.token).balance_of(address)

    def set_eth(self, address: str, wei: int) -> None:
        self.client.rpc("anvil_setBalance", [address, hex(wei)])


# Most tests drive Raiden's unauthenticated local API; tests/auth switch RAIDEN_AUTH on per test
# (settings fixture). The environment variable reaches the hosted processes tests start.
os.environ["RAIDEN_AUTH"] = "off"


@pytest.fixture(scope="session", autouse=True)
def raiden_auth_off() -> None:
    from django.conf import settings as django_settings

    django_settings.RAIDEN_AUTH = False


@pytest.fixture(scope="session")
def devchain() -> DevChain:
    anvil = AnvilProcess()
    anvil.start()
    client = ChainClient(anvil.rpc_url)
    deployer = Deployer(client, ANVIL_DEFAULT_KEY)
    raiden = deploy_raiden(
        deployer, settlement_timeout_min=SETTLE_TIMEOUT_MIN, settlement_timeout_max=SETTLE_TIMEOUT_MAX
    )
    token = deploy_token(deployer, 10**26, 18, "TestToken", "TTT")
    token_network = register_token_network(deployer, raiden.token_network_registry, token)
    chain = DevChain(anvil, client, deployer, raiden, token, token_network)
    chain.snapshot = client.rpc("evm_snapshot")
    yield chain
    anvil.stop()


@pytest.fixture(scope="session")
def celery_worker_process(devchain, django_db_setup, django_db_blocker):
    """A real Celery worker on the test database, or None when REDIS_URL is not set."""
    if not REDIS_URL:
        celery_app.conf.task_always_eager = True
        yield None
        return
    from django.db import connection

    queue = f"raidennode-test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "ETH_RPC_URL": devchain.rpc_url,
        "RAIDEN_CONFIRMATIONS": "0",
        "RAIDEN_CELERY_QUEUE": queue,
        "RAIDEN_TRANSACTION_TIMEOUT": "60",
    }
    log = open(PROJECT_ROOT / "var" / "test-worker.log", "ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "raidennode",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "4",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"{queue}@%h",
            "--queues",
            queue,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    celery_app.conf.update(task_always_eager=False, task_default_queue=queue)
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Celery worker of the test session did not start; see var/test-worker.log")
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def eager_celery():
    """Runs chain operations in the test process for one test (settings overrides apply)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def chain_env(devchain, transactional_db, settings, celery_worker_process):
    """A clean chain (the post-deployment snapshot) and a database attached to it."""
    from channels_app.services.chain import deployment_create
    from channels_app.services.ingest import chain_ingest_all

    devchain.client.rpc("evm_revert", [devchain.snapshot])
    devchain.snapshot = devchain.client.rpc("evm_snapshot")
    settings.ETH_RPC_URL = devchain.rpc_url
    settings.RAIDEN_CONFIRMATIONS = 0
    settings.RAIDEN_DEFAULT_SETTLE_TIMEOUT = TEST_SETTLE_TIMEOUT
    settings.RAIDEN_DEFAULT_REVEAL_TIMEOUT = TEST_REVEAL_TIMEOUT
    settings.RAIDEN_CONFIRMATION_TIMEOUT = 60
    # Tests that close expect a "closed" channel; the cooperative settle has tests of its own.
    settings.RAIDEN_COOPERATIVE_SETTLE = False
    deployment_create(devchain.raiden, devchain.client.block(0)["hash"])
    chain_ingest_all()
    return devchain


@pytest.fixture
def make_node(chain_env):
    """make_node(eth=..., tokens=...) -> Node with that much ETH and test tokens."""
    from raidennode.chain.deploy import mint_tokens
    from raidennode.nodes.services import node_create

    def factory(eth: int = 10**20, tokens: int = 1000, name: str = ""):
        node = node_create(name=name)
        chain_env.set_eth(node.address, eth)
        if tokens:
            mint_tokens(chain_env.deployer, chain_env.token, node.address, tokens)
        return node

    return factory


class Api:
    """Calls one node's REST API through Django's test client (JSON in, parsed JSON out)."""

    def __init__(self, client: Client, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def request(
        self, method: str, path: str, body=None, raw: bytes | None = None, content_type="application/json", **extra
    ):
        kwargs = dict(extra)
        if raw is not None:
            kwargs.update(data=raw, content_type=content_type)
        elif body is not None:
            kwargs.update(data=json.dumps(body), content_type=content_type)
        response = getattr(self.client, method.lower())(self.prefix + path, **kwargs)
        response.json_body = json.loads(response.content) if response.content else None
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)


@pytest.fixture
def api_for():
    """api_for(node) -> Api at /nodes/<address>/api/v1; api_for(None) -> the default node."""
    client = Client()

    def factory(node=None, version: str = "v1") -> Api:
        if node is None:
            return Api(client, f"/api/{version}")
        return Api(client, f"/nodes/{node.address}/api/{version}")

    return factory


@pytest.fixture
def token(chain_env) -> str:
    return chain_env.token


@pytest.fixture
def uint256_max() -> int:
    return UINT256_MAX
