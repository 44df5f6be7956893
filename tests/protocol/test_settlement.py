"""Settlement arithmetic (spec 3.5): the 6.3 vector, and properties against the contract's algorithm."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from raidennode.protocol.constants import UINT256_MAX
from raidennode.protocol.settlement import settlement_amounts, settlement_order
from tests.protocol.reference import ContractRevert, contract_settle_amounts
from tests.protocol.vectors import ADDRESSES, EXPECTED


@dataclass(frozen=True)
class Balance:
    transferred_amount: int
    locked_amount: int


def test_vector_of_block_515():
    """A: deposit 100, withdrew 10, transferred 10; B: deposit 50, transferred 30, locked 5."""
    settled = EXPECTED["ChannelSettled_ch1"]
    assert settled["participant1"] == ADDRESSES["A"] and settled["participant2"] == ADDRESSES["B"]
    amounts = settlement_amounts(100, 10, 10, 0, 50, 0, 30, 5)
    assert amounts == (settled["participant1_amount"], settled["participant2_amount"], 5, 0) == (110, 25, 5, 0)
    assert amounts == contract_settle_amounts(100, 10, 10, 0, 50, 0, 30, 5)
    assert sum(amounts) == 100 + 50 - 10


def test_vector_order_of_block_515():
    a, b = Balance(10, 0), Balance(30, 5)
    assert settlement_order(("A", a), ("B", b)) == (("A", a), ("B", b))
    assert settlement_order(("B", b), ("A", a)) == (("A", a), ("B", b))


def test_nothing_transferred_returns_deposits_minus_withdraws():
    assert settlement_amounts(40, 0, 0, 0, 60, 0, 0, 0) == (40, 60, 0, 0)
    assert settlement_amounts(40, 15, 0, 0, 60, 5, 0, 0) == (25, 55, 0, 0)


def test_locked_amounts_stay_for_unlock():
    # 1 sent 10 finalized and 7 locked to 2; 2 sent 20 finalized and 3 locked to 1
    paid1, paid2, left_for_1, left_for_2 = settlement_amounts(50, 0, 10, 7, 50, 0, 20, 3)
    assert (left_for_1, left_for_2) == (3, 7)
    assert paid1 == 50 + 20 - 10 - 7  # deposit + received - sent - own locked
    assert paid2 == 50 + 10 - 20 - 3
    assert paid1 + paid2 + left_for_1 + left_for_2 == 100


def test_withdrawn_beyond_own_deposit_matches_the_contract():
    # A deposited 0, received 30 from B, withdrew 10 of them; B deposited 100.
    assert contract_settle_amounts(0, 10, 0, 0, 100, 0, 30, 0) == (20, 70, 0, 0)
    assert settlement_amounts(0, 10, 0, 0, 100, 0, 30, 0) == (20, 70, 0, 0)


# --- properties ----------------------------------------------------------------------------------------

small = st.integers(min_value=0, max_value=10**6)
amounts = st.one_of(small, st.integers(min_value=0, max_value=UINT256_MAX))


@st.composite
def channels(draw, withdraw_within_own_deposit: bool = False):
    """(d1, w1, t1, l1, d2, w2, t2, l2) with T1+L1 <= T2+L2 (capped) and W1+W2 <= D1+D2 <= 2^256-1."""
    d1 = draw(amounts)
    d2 = draw(st.integers(min_value=0, max_value=UINT256_MAX - d1) | st.integers(0, min(10**6, UINT256_MAX - d1)))
    if withdraw_within_own_deposit:
        w1 = draw(st.integers(min_value=0, max_value=d1))
        w2 = draw(st.integers(min_value=0, max_value=d2))
    else:
        w1 = draw(st.integers(min_value=0, max_value=d1 + d2))
        w2 = draw(st.integers(min_value=0, max_value=d1 + d2 - w1))
    t1, l1, t2, l2 = (draw(amounts) for _ in range(4))
    if min(t1 + l1, UINT256_MAX) > min(t2 + l2, UINT256_MAX):
        t1, l1, t2, l2 = t2, l2, t1, l1
    return d1, w1, t1, l1, d2, w2, t2, l2


@settings(max_examples=500)
@given(channel=channels())
def test_settlement_amounts_conserve_the_deposits(channel):
    d1, w1, t1, l1, d2, w2, t2, l2 = channel
    paid1, paid2, left_for_1, left_for_2 = settlement_amounts(*channel)
    assert paid1 + paid2 + left_for_1 + left_for_2 == d1 + d2 - w1 - w2
    assert min(paid1, paid2, left_for_1, left_for_2) >= 0
    assert left_for_1 <= l2 and left_for_2 <= l1


@settings(max_examples=500)
@given(channel=channels(withdraw_within_own_deposit=True))
def test_settlement_amounts_equal_the_contract(channel):
    assert settlement_amounts(*channel) == contract_settle_amounts(*channel)


@settings(max_examples=1000)
@given(channel=channels())
def test_settlement_amounts_equal_the_contract_for_any_withdraws(channel):
    assert settlement_amounts(*channel) == contract_settle_amounts(*channel)


@settings(max_examples=300)
@given(channel=channels())
def test_contract_algorithm_conserves_the_deposits(channel):
    d1, w1, _, _, d2, w2, _, _ = channel
    assert sum(contract_settle_amounts(*channel)) == d1 + d2 - w1 - w2


balances = st.builds(Balance, amounts, amounts)


@settings(max_examples=500)
@given(ours=balances, theirs=balances)
def test_settlement_order_puts_the_smaller_transferred_plus_locked_first(ours, theirs):
    first, second = settlement_order(("us", ours), ("them", theirs))
    assert {first[0], second[0]} == {"us", "them"}
    total = {"us": ours, "them": theirs}
    assert first[1] is total[first[0]] and second[1] is total[second[0]]

    def capped(balance: Balance) -> int:
        return min(balance.transferred_amount + balance.locked_amount, UINT256_MAX)

    assert capped(first[1]) <= capped(second[1])
    if capped(ours) == capped(theirs):
        assert first[0] == "us"  # like the reference proxy: we go first on a tie
    # the contract accepts this order
    contract_settle_amounts(
        0,
        0,
        first[1].transferred_amount,
        first[1].locked_amount,
        0,
        0,
        second[1].transferred_amount,
        second[1].locked_amount,
    )


@given(ours=balances, theirs=balances)
def test_settlement_order_is_what_the_contract_requires(ours, theirs):
    assume(
        min(ours.transferred_amount + ours.locked_amount, UINT256_MAX)
        != min(theirs.transferred_amount + theirs.locked_amount, UINT256_MAX)
    )
    (_, first), (_, second) = settlement_order(("us", ours), ("them", theirs))
    with pytest.raises(ContractRevert, match="not ordered"):
        contract_settle_amounts(
            0, 0, second.transferred_amount, second.locked_amount, 0, 0, first.transferred_amount, first.locked_amount
        )


def test_settlement_order_with_saturated_sums_is_a_tie():
    huge = Balance(UINT256_MAX, 1)
    also_huge = Balance(UINT256_MAX, 0)
    assert settlement_order(("us", huge), ("them", also_huge))[0][0] == "us"
    assert settlement_order(("them", also_huge), ("us", huge))[0][0] == "them"
