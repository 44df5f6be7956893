"""Running anvil (from the npm package @foundry-rs/anvil installed in the project) as a dev chain."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .client import ChainClient
from .errors import ChainError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Anvil's first default account (mnemonic "test test ... junk"): the dev chain's deployer.
ANVIL_DEFAULT_KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")


def anvil_binary() -> str:
    """The anvil executable: $ANVIL_BIN, the project's node_modules, or anvil on PATH."""
    explicit = os.environ.get("ANVIL_BIN")
    if explicit:
        return explicit
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = platform.system().lower()
    candidate = PROJECT_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if candidate.exists():
        return str(candidate)
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    raise FileNotFoundError(
        "anvil not found: run `make setup` (it installs the npm package @foundry-rs/anvil into "
        "node_modules) or set ANVIL_BIN"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AnvilProcess:
    """An anvil child process on 127.0.0.1; ``stop()`` (or the context manager) ends it."""

    def __init__(
        self,
        port: int | None = None,
        block_time: float | None = None,
        chain_id: int | None = None,
        log_path: str | None = None,
    ) -> None:
        self.port = port or free_port()
        self.block_time = block_time
        self.chain_id = chain_id
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        args = [anvil_binary(), "--host", "127.0.0.1", "--port", str(self.port), "--silent"]
        if self.block_time:
            # Transactions are mined at once, and empty blocks keep coming so that block
            # numbers (settlement windows, confirmations) advance on an idle chain.
            args += ["--block-time", str(self.block_time), "--mixed-mining"]
        if self.chain_id:
            args += ["--chain-id", str(self.chain_id)]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = ChainClient(self.rpc_url, timeout=2)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ChainError(f"anvil exited with code {self.process.returncode}")
            try:
                client.block_number()
                return self.rpc_url
            except ChainError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> AnvilProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
