"""Decoding raw logs of the Raiden contracts into plain ChainLog objects."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from eth_utils import to_checksum_address

from .contracts import SECRET_REGISTRY, TOKEN_NETWORK, TOKEN_NETWORK_REGISTRY, USER_DEPOSIT, Event, contract


@dataclass(frozen=True)
class ChainLog:
    name: str
    address: str
    block_number: int
    block_hash: str
    transaction_hash: str
    log_index: int
    # Decoded arguments: int, checksummed address str, bytes or bool.
    args: dict

    def args_json(self) -> dict:
        """The arguments as JSON: integers as decimal strings, bytes as 0x hex."""
        out = {}
        for key, value in self.args.items():
            if isinstance(value, bool):
                out[key] = value
            elif isinstance(value, int):
                out[key] = str(value)
            elif isinstance(value, (bytes, bytearray)):
                out[key] = "0x" + bytes(value).hex()
            else:
                out[key] = value
        return out


@cache
def _events_by_topic() -> dict[bytes, Event]:
    events: dict[bytes, Event] = {}
    for name in (TOKEN_NETWORK_REGISTRY, TOKEN_NETWORK, SECRET_REGISTRY, USER_DEPOSIT):
        events.update(contract(name).events)
    return events


def _as_bytes(value) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def decode_log(raw: dict) -> ChainLog | None:
    """The decoded log, or None for a log of an event this node does not know."""
    topics = [_as_bytes(t) for t in raw["topics"]]
    if not topics:
        return None
    event = _events_by_topic().get(topics[0])
    if event is None:
        return None
    args = event.decode(topics, _as_bytes(raw["data"]))
    for key, value in list(args.items()):
        if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
            args[key] = to_checksum_address(value)
    return ChainLog(
        name=event.name,
        address=to_checksum_address(raw["address"]),
        block_number=int(raw["blockNumber"]),
        block_hash="0x" + _as_bytes(raw["blockHash"]).hex(),
        transaction_hash="0x" + _as_bytes(raw["transactionHash"]).hex(),
        log_index=int(raw["logIndex"]),
        args=args,
    )
