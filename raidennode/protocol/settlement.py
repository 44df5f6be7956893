"""Settlement arithmetic of TokenNetwork 0.40.0 (spec section 3.5), for checks and ordering."""

from __future__ import annotations

from typing import Protocol, TypeVar

from .constants import UINT256_MAX


class _Balance(Protocol):
    transferred_amount: int
    locked_amount: int


B = TypeVar("B", bound=_Balance)


def _capped_sum(balance: _Balance) -> int:
    return min(balance.transferred_amount + balance.locked_amount, UINT256_MAX)


def settlement_order(ours: tuple[str, B], theirs: tuple[str, B]) -> tuple[tuple[str, B], tuple[str, B]]:
    """(participant1, participant2) for settleChannel: the smaller transferred+locked first.

    Like the reference proxy, we go first unless our T+L is larger than the partner's.
    """
    if _capped_sum(ours[1]) > _capped_sum(theirs[1]):
        return theirs, ours
    return ours, theirs


def _sub(a: int, b: int) -> int:
    return a - b if a > b else 0


def settlement_amounts(
    deposit1: int,
    withdrawn1: int,
    transferred1: int,
    locked1: int,
    deposit2: int,
    withdrawn2: int,
    transferred2: int,
    locked2: int,
) -> tuple[int, int, int, int]:
    """(paid to 1, paid to 2, left locked for 1 to unlock from 2, left locked for 2 from 1).

    participant1 must be the one with the smaller transferred+locked. The four values always
    add up to the channel's deposits minus its withdraws.
    """
    total_available = _sub(deposit1 + deposit2, withdrawn1 + withdrawn2)
    sum1 = min(transferred1 + locked1, UINT256_MAX)
    sum2 = min(transferred2 + locked2, UINT256_MAX)
    # As TokenNetwork.getMaxPossibleReceivableAmount: (T2+L2 - (T1+L1) + D1) capped, minus W1
    # floored at 0. W1 may exceed D1 when participant1 withdrew tokens it had received.
    receivable1 = min(total_available, _sub(min(_sub(sum2, sum1) + deposit1, UINT256_MAX), withdrawn1))
    receivable2 = total_available - receivable1
    left_for_1 = min(receivable1, locked2)
    left_for_2 = min(receivable2, locked1)
    return receivable1 - left_for_1, receivable2 - left_for_2, left_for_1, left_for_2
