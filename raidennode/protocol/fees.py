"""Mediation fees, computed exactly as the reference client 3.0.1 does (spec section 4.8).

Sources in raiden-network/raiden (the arithmetic below follows them step by step):

- ``raiden/transfer/mediated_transfer/mediation_fee.py``: ``Interpolate``, ``FeeScheduleState.fee``,
  ``_collect_x_values``, ``_cap_fees``, ``_mediation_fee_func``, ``linspace``,
  ``calculate_imbalance_fees`` and ``NUM_DISCRETISATION_POINTS``.
- ``raiden/transfer/mediated_transfer/mediator.py``: ``find_intersection`` and
  ``get_amount_without_fees`` (what a mediator forwards for an incoming lock).
- ``raiden/tests/utils/mediation_fees.py``: ``get_amount_with_fees`` and
  ``get_initial_amount_for_amount_after_fees`` (the backwards, PFS-like calculation).
- ``raiden/transfer/mediated_transfer/initiator.py``: ``calculate_fee_margin``,
  ``calculate_safe_amount_with_fee`` and the ``MAX_MEDIATION_FEE_PERC`` check of ``try_new_route``.
- ``raiden/utils/mediation_fees.py``: ``ppm_fee_per_channel`` and ``prepare_mediation_fee_config``
  (per-mediation settings to per-channel schedules); ``raiden/settings.py``: the constants.
- ``raiden/transfer/channel.py``: ``get_capacity`` (the imbalance curve's x range) and
  ``get_balance`` (the balance the fee functions are evaluated at).

Fee amounts are exact ``Fraction`` arithmetic and are rounded once, at the end, with Python's
``round`` (half to even), as the reference does. Two places use floats because the reference
does and their results are part of the protocol's observable behaviour: the imbalance curve
(``calculate_imbalance_fees``) and the initiator's margin and fee limit (``settings.py``
constants 0.03, 0.0005 and 0.2).

Pure: no Django, no web3, no I/O.
"""

from __future__ import annotations

from bisect import bisect, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil
from typing import NamedTuple

__all__ = [
    "DEFAULT_MEDIATION_FEE_MARGIN",
    "MAX_IMBALANCE_FEE_PPM",
    "MAX_MEDIATION_FEE_PERC",
    "MAXIMUM_SLOPE",
    "NUM_DISCRETISATION_POINTS",
    "PAYMENT_AMOUNT_BASED_FEE_MARGIN",
    "REFERENCE_DEFAULT_FLAT_FEE",
    "REFERENCE_DEFAULT_PROPORTIONAL_FEE",
    "REFERENCE_DEFAULT_PROPORTIONAL_IMBALANCE_FEE",
    "ChannelFeeView",
    "FeeSchedule",
    "FeesCalculation",
    "UndefinedMediationFee",
    "amount_with_fees",
    "amount_without_fees",
    "estimate_fees",
    "fee_margin",
    "fee_schedule_for_channel",
    "hop_amounts",
    "imbalance_penalty_curve",
    "linspace",
    "max_amount_with_fees",
    "ppm_fee_per_channel",
    "route_fee_acceptable",
    "safe_amount_with_fee",
]

# mediation_fee.py
NUM_DISCRETISATION_POINTS = 21
# calculate_imbalance_fees: the curve's steepest slope, and hence the highest accepted ppm
# (proportional_imbalance_fee / 1e6 <= MAXIMUM_SLOPE / 2).
MAXIMUM_SLOPE = 0.1
MAX_IMBALANCE_FEE_PPM = 50_000

# settings.py (initiator side)
DEFAULT_MEDIATION_FEE_MARGIN = 0.03
PAYMENT_AMOUNT_BASED_FEE_MARGIN = 0.0005
MAX_MEDIATION_FEE_PERC = 0.2

# settings.py defaults of the reference client, for the record only: this node charges no fee
# unless its operator configures one (all zero by default).
REFERENCE_DEFAULT_FLAT_FEE = 0
REFERENCE_DEFAULT_PROPORTIONAL_FEE = 4_000
REFERENCE_DEFAULT_PROPORTIONAL_IMBALANCE_FEE = 3_000

_PPM = 1_000_000
# amount_with_fees: how many times the exact forward check may raise the backwards estimate.
_MAX_ADJUSTMENTS = 64


class UndefinedMediationFee(ValueError):
    """The fee is not defined for this amount (outside the penalty curve: not enough capacity)."""


class _Interpolate:
    """Piecewise-linear function through the given points (reference ``Interpolate``), exact."""

    __slots__ = ("slopes", "x_list", "y_list")

    def __init__(self, x_list: Sequence[int | Fraction], y_list: Sequence[int | Fraction]) -> None:
        if any(b - a <= 0 for a, b in zip(x_list, x_list[1:])):
            raise ValueError("x_list must be in strictly ascending order!")
        if len(x_list) != len(y_list) or not x_list:
            raise ValueError("x_list and y_list must be non-empty and of the same length")
        self.x_list = [Fraction(x) for x in x_list]
        self.y_list = [Fraction(y) for y in y_list]
        self.slopes = [
            (y2 - y1) / (x2 - x1) for x1, x2, y1, y2 in zip(self.x_list, self.x_list[1:], self.y_list, self.y_list[1:])
        ]

    def __call__(self, x: int | Fraction) -> Fraction:
        if not self.x_list[0] <= x <= self.x_list[-1]:
            raise UndefinedMediationFee("x out of bounds!")
        if x == self.x_list[-1]:
            return self.y_list[-1]
        i = bisect_right(self.x_list, x) - 1
        return self.y_list[i] + self.slopes[i] * (Fraction(x) - self.x_list[i])

    def __repr__(self) -> str:
        return f"_Interpolate({self.x_list}, {self.y_list})"


@dataclass(frozen=True)
class FeeSchedule:
    """One channel's fee schedule (reference ``FeeScheduleState``).

    ``flat`` is in token units per mediation for this channel, ``proportional`` in parts per
    million of the amount, ``imbalance_penalty`` the (x, y) points of the penalty curve: x is our
    balance in the channel (0..capacity), y the penalty at that balance. ``None`` or an empty
    tuple means no imbalance penalty. The x values must be strictly ascending.
    """

    flat: int = 0
    proportional: int = 0
    imbalance_penalty: tuple[tuple[int, int], ...] | None = None
    cap_fees: bool = True

    def __post_init__(self) -> None:
        penalty_func = None
        if self.imbalance_penalty is not None:
            points = tuple((int(x), int(y)) for x, y in self.imbalance_penalty)
            object.__setattr__(self, "imbalance_penalty", points)
            if points:
                penalty_func = _Interpolate([x for x, _ in points], [y for _, y in points])
        # Not a dataclass field: equality and hashing look at the four fields only.
        object.__setattr__(self, "_penalty_func", penalty_func)

    @property
    def is_zero(self) -> bool:
        """True if this schedule never charges (nor pays) anything."""
        return self.flat == 0 and self.proportional == 0 and not self.imbalance_penalty

    def fee(self, balance: int | Fraction, amount: int | Fraction) -> Fraction:
        """Fee for changing our balance in this channel from ``balance`` by ``amount`` (may be < 0).

        ``flat + proportional/1e6 * |amount| + penalty(balance + amount) - penalty(balance)``
        (reference ``FeeScheduleState.fee``). Raises ``UndefinedMediationFee`` (a ValueError)
        when ``balance`` or ``balance + amount`` lies outside the penalty curve.
        """
        penalty_func: _Interpolate | None = self._penalty_func  # type: ignore[attr-defined]
        if penalty_func is not None:
            penalty = penalty_func(balance + amount) - penalty_func(balance)
        else:
            penalty = Fraction(0)
        return Fraction(self.flat) + Fraction(self.proportional, _PPM) * abs(Fraction(amount)) + penalty


ZERO_SCHEDULE = FeeSchedule()


@dataclass(frozen=True)
class ChannelFeeView:
    """What a mediator knows of one of its channels for fee purposes.

    ``balance``: our balance in the channel as the reference's ``channel.get_balance(our, partner)``
    computes it: our deposit - our withdrawn - what we transferred + what the partner transferred.
    Pending locks are NOT subtracted (the reference checks the distributable amount separately,
    in ``is_channel_usable_for_mediation``; so must the caller).

    ``capacity``: ``our_total_deposit + partner_total_deposit``. The reference derives the amount
    the mediator can still receive on the payer channel as ``receivable = our_total_deposit +
    partner_total_deposit - balance`` (``get_amount_without_fees``); withdrawals are not subtracted
    there. Only the payer channel's capacity is used; the imbalance curve itself is built over
    deposits minus withdrawals (``channel.get_capacity``), see ``fee_schedule_for_channel``.
    """

    schedule: FeeSchedule
    balance: int
    capacity: int

    def __post_init__(self) -> None:
        if not 0 <= self.balance <= self.capacity:
            raise ValueError(f"need 0 <= balance <= capacity, got balance={self.balance}, capacity={self.capacity}")

    @property
    def receivable(self) -> int:
        return self.capacity - self.balance


# --------------------------------------------------------------------------------------------
# The mediation fee function (mediation_fee.py)


def _sign(x: Fraction) -> int:
    if x == 0:
        return 0
    return 1 if x > 0 else -1


def _collect_x_values(
    penalty_func_in: _Interpolate,
    penalty_func_out: _Interpolate,
    balance_in: int,
    balance_out: int,
    max_x: int,
) -> list[Fraction]:
    """The break points of both penalty curves, moved onto the axis of the transferred amount."""
    all_x_vals = [x - balance_in for x in penalty_func_in.x_list] + [balance_out - x for x in penalty_func_out.x_list]
    limited_x_vals = (max(min(x, balance_out, max_x), 0) for x in all_x_vals)
    return sorted({Fraction(x) for x in limited_x_vals})


def _cap_fees(x_list: list[Fraction], y_list: list[Fraction]) -> tuple[list[Fraction], list[Fraction]]:
    """Insert the points where the fee crosses zero, then clip negative fees to zero.

    Reproduces the reference exactly, including that the loop's range is fixed before points are
    inserted: after k insertions the last k original segments are not examined for a crossing
    (there the capped curve is the chord between the clipped end points, a slightly higher fee).
    """
    x_list = list(x_list)
    y_list = list(y_list)
    for i in range(len(x_list) - 1):
        y1, y2 = y_list[i : i + 2]
        if _sign(y1) * _sign(y2) == -1:
            x1, x2 = x_list[i : i + 2]
            new_x = x1 + abs(y1) / abs(y2 - y1) * (x2 - x1)
            new_index = bisect(x_list, new_x)
            x_list.insert(new_index, new_x)
            y_list.insert(new_index, Fraction(0))
    y_list = [max(y, Fraction(0)) for y in y_list]
    return x_list, y_list


def _mediation_fee_func(
    schedule_in: FeeSchedule,
    schedule_out: FeeSchedule,
    balance_in: int,
    balance_out: int,
    receivable: int,
    amount_with_fees: int | None,
    amount_without_fees: int | None,
    cap_fees: bool,
) -> _Interpolate:
    """total_mediation_fee(x) with exactly one of the two amounts fixed; x is the other one."""
    assert (amount_with_fees is None) != (amount_without_fees is None)
    if balance_out == 0 or receivable == 0:
        raise UndefinedMediationFee()

    # Dummy (flat zero) penalty functions span the range the amounts may move in.
    penalty_in: _Interpolate | None = schedule_in._penalty_func  # type: ignore[attr-defined]
    if penalty_in is None:
        penalty_in = _Interpolate([0, balance_in + receivable], [0, 0])
    penalty_out: _Interpolate | None = schedule_out._penalty_func  # type: ignore[attr-defined]
    if penalty_out is None:
        penalty_out = _Interpolate([0, balance_out], [0, 0])

    x_list = _collect_x_values(
        penalty_func_in=penalty_in,
        penalty_func_out=penalty_out,
        balance_in=balance_in,
        balance_out=balance_out,
        max_x=receivable if amount_with_fees is None else balance_out,
    )

    def fee(schedule: FeeSchedule, penalty_func: _Interpolate, balance: int, amount: Fraction) -> Fraction:
        return (
            Fraction(schedule.flat)
            + Fraction(schedule.proportional, _PPM) * abs(amount)
            + (penalty_func(balance + amount) - penalty_func(balance))
        )

    fixed_in = None if amount_with_fees is None else Fraction(amount_with_fees)
    fixed_out = None if amount_without_fees is None else -Fraction(amount_without_fees)
    y_list = [
        fee(schedule_in, penalty_in, balance_in, x if fixed_in is None else fixed_in)
        + fee(schedule_out, penalty_out, balance_out, -x if fixed_out is None else fixed_out)
        for x in x_list
    ]
    if cap_fees:
        x_list, y_list = _cap_fees(x_list, y_list)
    return _Interpolate(x_list, y_list)


def _find_intersection(fee_func: _Interpolate, line: Callable[[int], Fraction]) -> Fraction | None:
    """x where the piecewise-linear fee_func meets the straight line (mediator.py).

    ``line(i)`` is the line's value at ``fee_func.x_list[i]``. None when they do not meet within
    fee_func's domain (not enough capacity).
    """
    i = 0
    y = fee_func.y_list[i]
    compare = (lambda a, b: a < b) if y < line(i) else (lambda a, b: a > b)
    while compare(y, line(i)):
        i += 1
        if i == len(fee_func.x_list):
            return None
        y = fee_func.y_list[i]
    if i == 0:
        # They meet at the first point. The reference goes on with index -1 (the chord from the
        # last point to the first), whose intersection with the line is this same point, or a
        # ZeroDivisionError when both are parallel; the answer is the first point.
        return fee_func.x_list[0]
    x1 = fee_func.x_list[i - 1]
    x2 = fee_func.x_list[i]
    yf1 = fee_func.y_list[i - 1]
    yf2 = fee_func.y_list[i]
    yl1 = line(i - 1)
    yl2 = line(i)
    return (yl1 - yf1) * (x2 - x1) / ((yf2 - yf1) - (yl2 - yl1)) + x1


def _check_cap_fees(payer: ChannelFeeView, payee: ChannelFeeView) -> bool:
    if payer.schedule.cap_fees != payee.schedule.cap_fees:
        raise ValueError("Both channels must have the same cap_fees setting for the same mediator.")
    return payer.schedule.cap_fees


def _reference_amount_without_fees(amount_with_fees: int, payer: ChannelFeeView, payee: ChannelFeeView) -> int | None:
    """mediator.get_amount_without_fees, with no shortcut."""
    cap_fees = _check_cap_fees(payer, payee)
    try:
        fee_func = _mediation_fee_func(
            schedule_in=payer.schedule,
            schedule_out=payee.schedule,
            balance_in=payer.balance,
            balance_out=payee.balance,
            receivable=payer.receivable,
            amount_with_fees=amount_with_fees,
            amount_without_fees=None,
            cap_fees=cap_fees,
        )
        amount = _find_intersection(fee_func, lambda i: amount_with_fees - fee_func.x_list[i])
    except UndefinedMediationFee:
        return None
    if amount is None or amount <= 0:
        return None
    return round(amount)


def _reference_amount_with_fees(amount_without_fees: int, payer: ChannelFeeView, payee: ChannelFeeView) -> int | None:
    """tests/utils/mediation_fees.get_amount_with_fees (the PFS-like backwards step), no shortcut."""
    cap_fees = _check_cap_fees(payer, payee)
    try:
        fee_func = _mediation_fee_func(
            schedule_in=payer.schedule,
            schedule_out=payee.schedule,
            balance_in=payer.balance,
            balance_out=payee.balance,
            receivable=payer.receivable,
            amount_with_fees=None,
            amount_without_fees=amount_without_fees,
            cap_fees=cap_fees,
        )
        amount = _find_intersection(fee_func, lambda i: fee_func.x_list[i] - amount_without_fees)
    except UndefinedMediationFee:
        return None
    if amount is None or amount <= 0:
        return None
    return round(amount)


def _is_free(payer: ChannelFeeView, payee: ChannelFeeView) -> bool:
    return payer.schedule.is_zero and payee.schedule.is_zero


def amount_without_fees(amount_with_fees: int, payer: ChannelFeeView, payee: ChannelFeeView) -> int | None:
    """What a mediator forwards (the outgoing lock amount) for an incoming lock of ``amount_with_fees``.

    Reference ``mediator.get_amount_without_fees``: solves ``x + total_fee(x) = amount_with_fees``
    where ``total_fee(x) = payer.fee(+amount_with_fees) + payee.fee(-x)`` (clipped at zero when
    ``cap_fees``), and rounds half to even. None when mediation is impossible: the incoming
    amount exceeds what the payer channel can receive, the outgoing amount would exceed our
    balance in the payee channel, the payee balance is 0, or the result would be <= 0
    (``forward_transfer_pair`` also refuses 0). The caller must still check that the outgoing
    amount fits the payee channel's distributable amount and the lock's timeout.

    Both schedules zero: the identity (for 0 < amount <= min(payee balance, payer receivable)).
    """
    if amount_with_fees <= 0:
        return None
    if _is_free(payer, payee):
        _check_cap_fees(payer, payee)
        if payee.balance == 0 or payer.receivable == 0:
            return None
        return amount_with_fees if amount_with_fees <= min(payee.balance, payer.receivable) else None
    return _reference_amount_without_fees(amount_with_fees, payer, payee) or None


class FeesCalculation(NamedTuple):
    """Result of ``estimate_fees``: the amount to lock and each mediator's fee, in route order."""

    total_amount: int
    mediation_fees: list[int]

    @property
    def amount_without_fees(self) -> int:
        return self.total_amount - sum(self.mediation_fees)


def estimate_fees(
    amount_after_fees: int, hops: Sequence[tuple[ChannelFeeView, ChannelFeeView]]
) -> FeesCalculation | None:
    """The reference's backwards (PFS-like) estimate, exactly.

    ``raiden/tests/utils/mediation_fees.py::get_initial_amount_for_amount_after_fees``, which is
    what the pathfinding service computes: going from the target back to the initiator, each
    mediator's incoming amount is the solution of ``x - total_fee(x) = outgoing``. Rounding at
    every hop means the forward computation may deliver an amount one token off per hop; the
    reference covers that with the initiator's margin (``safe_amount_with_fee``).
    ``mediation_fees`` are in route order (the reference lists them from the target backwards).
    """
    if amount_after_fees <= 0:
        return None
    total = amount_after_fees
    fees: list[int] = []
    for payer, payee in reversed(hops):
        if _is_free(payer, payee):
            _check_cap_fees(payer, payee)
            ok = payee.balance > 0 and 0 < total <= min(payee.balance, payer.receivable)
            before_fees = total if ok else None
        else:
            before_fees = _reference_amount_with_fees(total, payer, payee)
        if before_fees is None:
            return None
        fees.append(before_fees - total)
        total = before_fees
    fees.reverse()
    return FeesCalculation(total_amount=total, mediation_fees=fees)


def hop_amounts(amount_with_fees: int, hops: Sequence[tuple[ChannelFeeView, ChannelFeeView]]) -> list[int] | None:
    """The lock amount on every edge of a route when the initiator locks ``amount_with_fees``.

    Element 0 is the initiator's lock, element i the lock mediator i forwards (computed with
    ``amount_without_fees``); the last element is what the target receives. None when a mediator
    could not forward.
    """
    amounts = [amount_with_fees]
    for payer, payee in hops:
        forwarded = amount_without_fees(amounts[-1], payer, payee)
        if forwarded is None:
            return None
        amounts.append(forwarded)
    return amounts


def amount_with_fees(amount_after_fees: int, hops: Sequence[tuple[ChannelFeeView, ChannelFeeView]]) -> int | None:
    """What the initiator must lock so that the target receives at least ``amount_after_fees``.

    ``hops`` are the mediators in route order, each as (payer channel view, payee channel view)
    from that mediator's side. Starts from the reference's backwards estimate (``estimate_fees``)
    and then checks it by running every mediator's forward computation (``hop_amounts``); while
    the target would get less (rounding), the lock is raised by the shortfall. Unlike the
    reference initiator, which relies on its margin, the result is therefore exact for the given
    views. None when impossible (capacity, or fees eat the amount). No hops: the amount itself.
    """
    if amount_after_fees <= 0:
        return None
    if not hops:
        return amount_after_fees
    estimate = estimate_fees(amount_after_fees, hops)
    if estimate is None:
        return None
    total = estimate.total_amount
    for _ in range(_MAX_ADJUSTMENTS):
        amounts = hop_amounts(total, hops)
        if amounts is None:
            return None
        delivered = amounts[-1]
        if delivered >= amount_after_fees:
            return total
        total += amount_after_fees - delivered
    return None


# --------------------------------------------------------------------------------------------
# Per-channel schedules from a node's settings


def linspace(start: int, stop: int, num: int) -> list[int]:
    """``num`` integers from ``start`` to ``stop`` inclusive, evenly spaced, rounded half to even."""
    if num <= 1:
        raise ValueError("Must generate at least one step")
    if start > stop:
        raise ValueError("start must be smaller than stop")
    step = Fraction(stop - start, num - 1)
    return [start + round(i * step) for i in range(num)]


def imbalance_penalty_curve(capacity: int, imbalance_ppm: int) -> tuple[tuple[int, int], ...] | None:
    """The U-shaped imbalance penalty curve (reference ``calculate_imbalance_fees``).

    ``NUM_DISCRETISATION_POINTS`` (21) points, fewer if the capacity is below 20, with x from 0
    to ``capacity`` (our balance) and y = round(a * |x - capacity/2| ** b), where the value at
    both ends is ``capacity * imbalance_ppm / 1e6`` and the steepest slope 0.1 (b = min(10, 0.05 /
    ratio)). Float arithmetic as in the reference. None when ``imbalance_ppm`` or ``capacity``
    is 0. ``imbalance_ppm`` may be at most 50,000 (5 %).
    """
    if capacity < 0:
        raise ValueError("channel_capacity must be larger than zero")
    if imbalance_ppm < 0:
        raise ValueError("prop. imbalance fee must be larger than zero")
    if imbalance_ppm == 0 or capacity == 0:
        return None
    if imbalance_ppm / 1e6 > MAXIMUM_SLOPE / 2:
        raise ValueError(f"Too high imbalance fee: {imbalance_ppm} ppm > {MAX_IMBALANCE_FEE_PPM} ppm")

    max_imbalance_fee = capacity * imbalance_ppm / 1e6
    s = MAXIMUM_SLOPE
    c = max_imbalance_fee
    o = capacity / 2
    b = s * o / c
    b = min(b, 10)  # limit exponent to keep numerical stability
    try:
        a = c / o**b
    except OverflowError:
        # o ** b exceeds the float range for capacities above ~1.8e30 tokens, where the reference
        # crashes: evaluate the same curve in a form that stays in range.
        a = None

    def f(x: int) -> int:
        if a is None:
            return int(round(c * (abs(x - o) / o) ** b))
        return int(round(a * abs(x - o) ** b))

    num_base_points = min(NUM_DISCRETISATION_POINTS, capacity + 1)
    x_values = linspace(0, capacity, num_base_points)
    return tuple((x, f(x)) for x in x_values)


def ppm_fee_per_channel(per_hop_fee: int) -> int:
    """Per-mediation proportional fee (ppm) to the per-channel one: ``q -> q / (q + 2)`` as ratios.

    Reference ``raiden/utils/mediation_fees.py::ppm_fee_per_channel`` (Fraction, rounded half
    to even). A mediation charges the proportional fee on both channels.
    """
    per_hop_ratio = Fraction(per_hop_fee, _PPM)
    return round(per_hop_ratio / (per_hop_ratio + 2) * _PPM)


def fee_schedule_for_channel(
    flat: int, proportional_ppm: int, imbalance_ppm: int, capacity: int, cap_fees: bool = True
) -> FeeSchedule:
    """A channel's schedule from a node's per-mediation fee settings, as the reference builds it.

    ``flat`` and ``proportional_ppm`` are per mediation (what an operator configures, like the
    reference's ``--flat-fee`` / ``--proportional-fee``); each channel of the mediation charges
    ``flat // 2`` and ``ppm_fee_per_channel(proportional_ppm)``
    (``prepare_mediation_fee_config``). ``imbalance_ppm`` is per channel and ``capacity`` is the
    channel's ``get_capacity``: both deposits minus both withdrawn totals; recompute the schedule
    whenever that changes (``update_fee_schedule_after_balance_change``).
    Note the reference applies its default 4000 ppm unconverted when no proportional fee was
    configured for a token; we have no such default (all fees default to zero).
    """
    return FeeSchedule(
        flat=flat // 2,
        proportional=ppm_fee_per_channel(proportional_ppm),
        imbalance_penalty=imbalance_penalty_curve(capacity, imbalance_ppm),
        cap_fees=cap_fees,
    )


def channel_fee_view(
    flat: int, proportional_ppm: int, imbalance_ppm: int, balance: int, capacity: int
) -> ChannelFeeView:
    """One channel end as fee computations see it, from a node's per-mediation fee settings."""
    return ChannelFeeView(
        schedule=fee_schedule_for_channel(flat, proportional_ppm, imbalance_ppm, capacity),
        balance=balance,
        capacity=capacity,
    )


# --------------------------------------------------------------------------------------------
# Initiator: margin and limit (initiator.py, settings.py)


def fee_margin(amount: int, fee: int) -> int:
    """The initiator's safety margin on top of the estimated fee (reference ``calculate_fee_margin``).

    ``ceil(|fee| * 0.03 + amount * 0.0005)`` in floats, 0 when ``fee`` is 0 (no fees assumed).
    """
    if fee == 0:
        return 0
    return int(ceil(abs(fee) * DEFAULT_MEDIATION_FEE_MARGIN + amount * PAYMENT_AMOUNT_BASED_FEE_MARGIN))


def safe_amount_with_fee(amount: int, fee: int) -> int:
    """amount + fee + margin: what the reference initiator locks (``calculate_safe_amount_with_fee``)."""
    return amount + fee + fee_margin(amount, fee)


def max_amount_with_fees(amount: int) -> int:
    """The largest lock the reference initiator accepts for a payment of ``amount``."""
    return amount + int(amount * MAX_MEDIATION_FEE_PERC)


def route_fee_acceptable(amount: int, total_fee: int) -> bool:
    """Whether a route's fees are within the reference initiator's limit (``try_new_route``).

    ``total_fee`` is everything locked on top of the payment amount, margin included (the
    reference compares ``calculate_safe_amount_with_fee(amount, estimated_fee)``); the route is
    refused when ``amount + total_fee > amount + int(amount * 0.2)``.
    """
    return amount + total_fee <= max_amount_with_fees(amount)
