"""The machine-readable test vectors of the protocol spec (Appendix A), and helpers to use them.

``vectors.json`` is a verbatim copy of Appendix A of shared/spec/raiden_protocol.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from raidennode.protocol.signing import Signer

VECTORS: dict = json.loads((Path(__file__).with_name("vectors.json")).read_text())

CHAIN_ID: int = VECTORS["chain_id"]
CHANNEL_ID: int = VECTORS["channel_id"]
ADDRESSES: dict[str, str] = VECTORS["addresses"]
EXPECTED: dict = VECTORS["expected"]


def h(value: str) -> bytes:
    """Bytes of a 0x-prefixed hex string."""
    assert value.startswith("0x"), value
    return bytes.fromhex(value[2:])


def hx(value: bytes) -> str:
    return "0x" + value.hex()


def key(name: str) -> bytes:
    return h(VECTORS["keys"][name])


def signer(name: str) -> Signer:
    return Signer(key(name))


def addr(name: str) -> bytes:
    """The 20 raw bytes of a named address of section 6.1 (A, B, C, deployer, contracts)."""
    return h(ADDRESSES[name])


TOKEN_NETWORK: bytes = addr("TokenNetwork")
S_A1, S_B1, S_B2 = (h(VECTORS["secrets"][name]) for name in ("S_A1", "S_B1", "S_B2"))

# Balance-proof vectors of section 6.2 and who signed each.
BALANCE_PROOFS: dict[str, str] = {
    "A_LockedTransfer_1": "A",
    "A_Unlock_1": "A",
    "B_LockedTransfer_1": "B",
    "B_Unlock_1": "B",
    "B_LockedTransfer_2": "B",
}
