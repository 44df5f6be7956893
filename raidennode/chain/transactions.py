"""Building and signing transactions locally (keys never go to the Ethereum node)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_utils import to_checksum_address

# Gas estimates are raised by this factor: estimates made against the latest block can fall
# short when the state changes before mining (e.g. the first channel of a network).
GAS_MARGIN_NUMERATOR = 5
GAS_MARGIN_DENOMINATOR = 4


@dataclass(frozen=True)
class SignedTransaction:
    raw: bytes
    transaction_hash: str
    nonce: int


def gas_with_margin(estimate: int) -> int:
    return estimate * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR + 10_000


def sign_transaction(
    private_key: bytes,
    *,
    chain_id: int,
    nonce: int,
    to: str | None,
    data: bytes,
    gas: int,
    max_fee_per_gas: int,
    max_priority_fee_per_gas: int,
    value: int = 0,
) -> SignedTransaction:
    """An EIP-1559 transaction signed with ``private_key``; pure CPU, no I/O."""
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "gas": gas,
        "maxFeePerGas": max_fee_per_gas,
        "maxPriorityFeePerGas": max_priority_fee_per_gas,
        "value": value,
        "data": data,
    }
    if to is not None:
        tx["to"] = to_checksum_address(to)
    signed = Account.sign_transaction(tx, private_key)
    return SignedTransaction(bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex(), nonce)


def decode_transaction(raw: bytes) -> dict:
    """The fields of a signed EIP-1559 transaction (to, data, gas, value, nonce, fees)."""
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    return {
        "chain_id": fields["chainId"],
        "nonce": fields["nonce"],
        "to": to_checksum_address(fields["to"]) if fields.get("to") else None,
        "data": bytes(fields["data"]),
        "gas": fields["gas"],
        "value": fields["value"],
        "max_fee_per_gas": fields["maxFeePerGas"],
        "max_priority_fee_per_gas": fields["maxPriorityFeePerGas"],
    }


def bumped_fee(previous: int, current: int) -> int:
    """A replacement's fee: at least 12.5 % (plus one wei) above the replaced one, as nodes
    require to accept a replacement, and never below what the chain asks now."""
    return max(previous * 9 // 8 + 1, current)
