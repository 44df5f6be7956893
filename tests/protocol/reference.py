"""Reference models of contract code, transcribed line by line, to test raidennode.protocol against."""

from __future__ import annotations

from raidennode.protocol.constants import UINT256_MAX


class ContractRevert(Exception):
    """The modelled contract code would revert with this reason."""


def _failsafe_addition(a: int, b: int) -> int:
    return min(a + b, UINT256_MAX)


def _failsafe_subtract(a: int, b: int) -> tuple[int, int]:
    return (a - b, b) if a > b else (0, a)


def contract_settle_amounts(d1, w1, t1, l1, d2, w2, t2, l2) -> tuple[int, int, int, int]:
    """TokenNetwork.getSettleTransferAmounts of 0.40.0, line by line, in settlement_amounts' order:
    (paid to 1, paid to 2, left locked by 2 for 1, left locked by 1 for 2)."""
    total_available_deposit = d1 + d2 - w1 - w2
    if total_available_deposit < 0:  # checked arithmetic in Solidity 0.8
        raise ContractRevert("arithmetic underflow")
    max_transferred1 = _failsafe_addition(t1, l1)
    max_transferred2 = _failsafe_addition(t2, l2)
    if max_transferred2 < max_transferred1:
        raise ContractRevert("TN: transfers not ordered")
    amount1 = _failsafe_addition(max_transferred2 - max_transferred1, d1)
    amount1, _ = _failsafe_subtract(amount1, w1)
    amount1 = min(amount1, total_available_deposit)
    amount2 = total_available_deposit - amount1
    amount1, locked2 = _failsafe_subtract(amount1, l2)
    amount2, locked1 = _failsafe_subtract(amount2, l1)
    if total_available_deposit != amount1 + amount2 + locked1 + locked2:  # the contract's assert
        raise ContractRevert("invalid opcode")
    return amount1, amount2, locked2, locked1
