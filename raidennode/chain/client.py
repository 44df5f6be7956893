"""A thin JSON-RPC client over web3.py that maps failures to raidennode.chain.errors."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property

import requests
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError

from .errors import (
    InsufficientEth,
    NonceTooLow,
    RpcError,
    RpcUnavailable,
    TransactionReverted,
    TransactionUnderpriced,
)

# How Ethereum nodes say that they have this very transaction already (geth, anvil, others).
ALREADY_KNOWN = ("already known", "known transaction", "already imported", "already in the mempool")

# Addresses per eth_getLogs request; nodes limit request sizes.
LOGS_ADDRESS_CHUNK = 500


def _rpc_message(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    if isinstance(arg, dict):
        return str(arg.get("message", arg))
    return str(getattr(exc, "message", None) or arg)


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, ContractLogicError):
        message = _rpc_message(exc)
        return TransactionReverted(message.removeprefix("execution reverted: ").removeprefix("execution reverted"))
    message = _rpc_message(exc)
    lowered = message.lower()
    if "insufficient funds" in lowered:
        return InsufficientEth(message)
    if "nonce too low" in lowered or "nonce has already been used" in lowered:
        return NonceTooLow(message)
    if "underpriced" in lowered or "fee too low" in lowered:
        return TransactionUnderpriced(message)
    if "execution reverted" in lowered or "revert" in lowered:
        return TransactionReverted(message.removeprefix("execution reverted: "))
    return RpcError(message)


@contextmanager
def _rpc_errors() -> Iterator[None]:
    try:
        yield
    except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError, TimeExhausted) as exc:
        raise RpcUnavailable(f"the Ethereum node did not answer: {exc.__class__.__name__}") from exc
    except (ContractLogicError, Web3RPCError, ValueError) as exc:
        raise _classify(exc) from exc


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class ChainClient:
    """One Ethereum JSON-RPC endpoint. Thread-safe; cheap to share within a process."""

    def __init__(self, rpc_url: str, timeout: float = 15.0) -> None:
        self.rpc_url = rpc_url
        self._timeout = timeout
        self._local = threading.local()

    @property
    def w3(self) -> Web3:
        # A Web3 (and its HTTP session) per thread: requests sessions are not thread-safe.
        w3 = getattr(self._local, "w3", None)
        if w3 is None:
            w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": self._timeout}))
            self._local.w3 = w3
        return w3

    def rpc(self, method: str, params: list | None = None):
        """A raw JSON-RPC call (anvil_mine, evm_snapshot, ...); raises on an error answer."""
        with _rpc_errors():
            response = self.w3.provider.make_request(method, params or [])
        if "error" in response:
            raise _classify(Web3RPCError(response["error"]))
        return response.get("result")

    @cached_property
    def chain_id(self) -> int:
        with _rpc_errors():
            return self.w3.eth.chain_id

    def block_number(self) -> int:
        with _rpc_errors():
            return self.w3.eth.block_number

    def block(self, number: int | str = "latest") -> dict:
        """{number, hash, timestamp} of a block."""
        with _rpc_errors():
            block = self.w3.eth.get_block(number)
        return {"number": block["number"], "hash": _hex(block["hash"]), "timestamp": block["timestamp"]}

    def block_hash(self, number: int) -> str | None:
        try:
            return self.block(number)["hash"]
        except (RpcError, TransactionReverted):
            return None

    def syncing(self) -> dict | None:
        """{current_block, highest_block} while the Ethereum node syncs, None when it does not."""
        with _rpc_errors():
            status = self.w3.eth.syncing
        if not status:
            return None
        return {"current_block": int(status["currentBlock"]), "highest_block": int(status["highestBlock"])}

    def code(self, address: str) -> bytes:
        with _rpc_errors():
            return bytes(self.w3.eth.get_code(to_checksum_address(address)))

    def balance(self, address: str) -> int:
        with _rpc_errors():
            return self.w3.eth.get_balance(to_checksum_address(address))

    def nonce(self, address: str, block: str = "pending") -> int:
        with _rpc_errors():
            return self.w3.eth.get_transaction_count(to_checksum_address(address), block)

    def call(self, to: str, data: bytes, block: int | str = "latest", sender: str | None = None) -> bytes:
        tx = {"to": to_checksum_address(to), "data": _hex(data)}
        if sender:
            tx["from"] = to_checksum_address(sender)
        with _rpc_errors():
            return bytes(self.w3.eth.call(tx, block))

    def estimate_gas(self, sender: str, to: str | None, data: bytes, value: int = 0) -> int:
        tx = {"from": to_checksum_address(sender), "data": _hex(data), "value": value}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        with _rpc_errors():
            return self.w3.eth.estimate_gas(tx)

    def fees(self) -> tuple[int, int]:
        """(max_fee_per_gas, max_priority_fee_per_gas) for an EIP-1559 transaction now."""
        with _rpc_errors():
            block = self.w3.eth.get_block("latest")
            base_fee = int(block.get("baseFeePerGas") or 0)
            try:
                priority = int(self.w3.eth.max_priority_fee)
            except (Web3RPCError, ValueError):
                priority = 10**9
        return 2 * base_fee + priority, priority

    def send_raw(self, raw: bytes) -> str:
        """Broadcast a signed transaction; an 'already known' answer counts as sent."""
        try:
            with _rpc_errors():
                return _hex(bytes(self.w3.eth.send_raw_transaction(raw)))
        except RpcError as exc:
            message = str(exc).lower()
            if any(known in message for known in ALREADY_KNOWN):
                return _hex(Web3.keccak(raw))
            raise

    def receipt(self, transaction_hash: str) -> dict | None:
        """{status, block_number, gas_used, contract_address, logs} or None while not mined."""
        try:
            with _rpc_errors():
                receipt = self.w3.eth.get_transaction_receipt(transaction_hash)
        except TransactionNotFound:
            return None
        except RpcError as exc:
            if "not found" in str(exc).lower():
                return None
            raise
        if receipt is None or receipt.get("blockNumber") is None:
            return None
        return {
            "status": int(receipt["status"]),
            "block_number": int(receipt["blockNumber"]),
            "gas_used": int(receipt["gasUsed"]),
            "contract_address": receipt.get("contractAddress"),
            "logs": receipt["logs"],
        }

    def transaction_known(self, transaction_hash: str) -> bool:
        try:
            with _rpc_errors():
                return self.w3.eth.get_transaction(transaction_hash) is not None
        except TransactionNotFound:
            return False
        except RpcError:
            return False

    def logs(self, addresses: Iterable[str], from_block: int, to_block: int) -> list[dict]:
        """Raw logs of the given contracts in [from_block, to_block], in chain order."""
        addresses = [to_checksum_address(a) for a in addresses]
        found: list[dict] = []
        for start in range(0, len(addresses), LOGS_ADDRESS_CHUNK):
            chunk = addresses[start : start + LOGS_ADDRESS_CHUNK]
            with _rpc_errors():
                found.extend(self.w3.eth.get_logs({"address": chunk, "fromBlock": from_block, "toBlock": to_block}))
        found.sort(key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
        return found

    def revert_reason(self, transaction_hash: str) -> str:
        """Replays a reverted transaction as a call at its block to read the revert string."""
        try:
            with _rpc_errors():
                tx = self.w3.eth.get_transaction(transaction_hash)
        except Exception:  # best effort only: the receipt already says it reverted
            return "transaction reverted"
        call = {"from": tx["from"], "to": tx["to"], "data": _hex(bytes(tx["input"])), "value": tx["value"]}
        try:
            with _rpc_errors():
                self.w3.eth.call(call, tx["blockNumber"] - 1)
        except TransactionReverted as exc:
            return exc.reason or "transaction reverted"
        except Exception:
            return "transaction reverted"
        return "transaction reverted"


_clients: dict[str, ChainClient] = {}
_clients_lock = threading.Lock()


def chain_client(rpc_url: str) -> ChainClient:
    """The process-wide client of an RPC URL."""
    with _clients_lock:
        client = _clients.get(rpc_url)
        if client is None:
            client = _clients[rpc_url] = ChainClient(rpc_url)
        return client
