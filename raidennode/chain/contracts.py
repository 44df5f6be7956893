"""The Raiden contracts 0.40.0: ABIs and bytecode from raiden-contracts==0.40.2's data file.

Only the data file is read (raiden_contracts/data_0.40.0/contracts.json); the package is
installed with --no-deps because its own pins conflict with web3 7+.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass
from functools import cache

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from raidennode.protocol.hashing import keccak256

CONTRACTS_VERSION = "0.40.0"

TOKEN_NETWORK_REGISTRY = "TokenNetworkRegistry"
TOKEN_NETWORK = "TokenNetwork"
SECRET_REGISTRY = "SecretRegistry"
CUSTOM_TOKEN = "CustomToken"
USER_DEPOSIT = "UserDeposit"
SERVICE_REGISTRY = "ServiceRegistry"
MONITORING_SERVICE = "MonitoringService"
ONE_TO_N = "OneToN"


@cache
def contracts_data() -> dict:
    path = importlib.resources.files("raiden_contracts") / f"data_{CONTRACTS_VERSION}" / "contracts.json"
    data = json.loads(path.read_text())
    if data["contracts_version"] != CONTRACTS_VERSION:
        raise RuntimeError(f"expected contracts {CONTRACTS_VERSION}, found {data['contracts_version']}")
    return data["contracts"]


def _type_of(param: dict) -> str:
    """The canonical ABI type of a parameter (tuples expanded)."""
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_of(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


@dataclass(frozen=True)
class Function:
    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def encode(self, *args) -> bytes:
        return self.selector + abi_encode(list(self.inputs), list(args))

    def decode_output(self, data: bytes) -> tuple:
        return tuple(abi_decode(list(self.outputs), data))


@dataclass(frozen=True)
class Event:
    name: str
    topic0: bytes
    # (name, type, indexed) in declaration order
    params: tuple[tuple[str, str, bool], ...]

    def decode(self, topics: list[bytes], data: bytes) -> dict:
        indexed = [p for p in self.params if p[2]]
        plain = [p for p in self.params if not p[2]]
        values: dict = {}
        for (name, typ, _), topic in zip(indexed, topics[1:]):
            values[name] = abi_decode([typ], topic)[0]
        for (name, _, _), value in zip(plain, abi_decode([p[1] for p in plain], data)):
            values[name] = value
        return {name: values[name] for name, _, _ in self.params}


class Contract:
    """The ABI of one contract: functions by name, events by topic0, and its bytecode."""

    def __init__(self, name: str) -> None:
        raw = contracts_data()[name]
        self.name = name
        self.bytecode = bytes.fromhex(raw["bin"].removeprefix("0x"))
        self.functions: dict[str, Function] = {}
        self.events: dict[bytes, Event] = {}
        self.events_by_name: dict[str, Event] = {}
        self.constructor_inputs: tuple[str, ...] = ()
        for item in raw["abi"]:
            if item["type"] == "function":
                inputs = tuple(_type_of(p) for p in item["inputs"])
                signature = f"{item['name']}({','.join(inputs)})"
                self.functions[item["name"]] = Function(
                    item["name"],
                    keccak256(signature.encode())[:4],
                    inputs,
                    tuple(_type_of(p) for p in item.get("outputs", [])),
                )
            elif item["type"] == "event":
                params = tuple((p["name"], _type_of(p), p["indexed"]) for p in item["inputs"])
                signature = f"{item['name']}({','.join(p[1] for p in params)})"
                event = Event(item["name"], keccak256(signature.encode()), params)
                self.events[event.topic0] = event
                self.events_by_name[event.name] = event
            elif item["type"] == "constructor":
                self.constructor_inputs = tuple(_type_of(p) for p in item["inputs"])

    def deploy_data(self, *args) -> bytes:
        return self.bytecode + abi_encode(list(self.constructor_inputs), list(args))

    def fn(self, name: str) -> Function:
        return self.functions[name]


@cache
def contract(name: str) -> Contract:
    return Contract(name)
