"""The hosted processes as production runs them, for tests: gunicorn, a Celery worker and Celery
beat on the test database and the test chain, each started, killed and stopped by the test.

Each instance has a Celery queue of its own (two test runs or the session's worker never swap
tasks) and a free port. Logs go to ``<tmp_path>/<name>.log``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from django.db import connection

from raidennode.chain.anvil import free_port
from tests.conftest import PROJECT_ROOT


class HostedProcesses:
    """``env`` adds to (or, with None, removes from) the processes' environment."""

    def __init__(self, chain_env, tmp_path: Path, name: str = "hosted", **env: str | None) -> None:
        db = connection.settings_dict
        self.queue = f"{name}-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.tmp = tmp_path
        environment = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}",
            "ETH_RPC_URL": chain_env.rpc_url,
            "RAIDEN_CONFIRMATIONS": "0",
            "RAIDEN_CELERY_QUEUE": self.queue,
            "RAIDEN_COOPERATIVE_SETTLE": "false",
            "RAIDEN_DUTIES_INTERVAL": "0.5",
            "RAIDEN_INGEST_INTERVAL": "0.5",
            "RAIDEN_TRANSACTION_TIMEOUT": "60",
            **env,
        }
        self.env = {key: value for key, value in environment.items() if value is not None}
        self.processes: dict[str, subprocess.Popen] = {}
        self.kills = {"web": 0, "worker": 0}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, node) -> str:
        return f"{self.url}/nodes/{node.address}/api/v1"

    def _start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_web(self, threads: int = 4) -> None:
        """gunicorn (2 gthread workers); returns once it answers HTTP."""
        self._start(
            "web",
            *("gunicorn", "raidennode.wsgi", "--workers", "2", "--threads", str(threads)),
            *("--worker-class", "gthread", "--timeout", "120", "--bind", f"127.0.0.1:{self.port}"),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{self.url}/api/v1/schema", timeout=2)  # public: answers with any setting
                return
            except requests.RequestException:
                assert self.processes["web"].poll() is None, self.log("web")
                assert time.monotonic() < deadline, self.log("web")
                time.sleep(0.1)

    def start_worker(self) -> None:
        self._start(
            "worker",
            *("celery", "-A", "raidennode", "worker", "--loglevel", "WARNING", "--concurrency", "2"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "--queues", self.queue),
            *("--hostname", f"{self.queue}-{uuid.uuid4().hex[:4]}@%h"),
        )

    def start_beat(self) -> None:
        self._start(
            "beat",
            *("celery", "-A", "raidennode", "beat", "--loglevel", "WARNING"),
            *("--schedule", str(self.tmp / "beat-schedule")),
        )

    def kill(self, name: str) -> None:
        """SIGKILL to the process group: no cleanup, no finishing of what is under way."""
        process = self.processes[name]
        os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        process.wait(timeout=10)
        self.kills[name] += 1

    def stop(self, graceful: bool = True) -> None:
        """Ends every process started here (SIGTERM first when ``graceful``, then SIGKILL)."""
        running = [process for process in self.processes.values() if process.poll() is None]
        if graceful:
            for process in running:
                os.killpg(os.getpgid(process.pid), signal.SIGTERM)
            for process in running:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
        for process in running:
            if process.poll() is None:
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)
                process.wait(timeout=10)

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""
