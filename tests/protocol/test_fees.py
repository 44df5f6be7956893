"""Mediation fees (spec 4.8) against the reference client's own test vectors, plus properties.

Vectors ported from raiden-network/raiden 3.0.x:
- raiden/tests/unit/transfer/mediated_transfer/test_mediation_fee.py: test_interpolation,
  test_imbalance_penalty, test_fee_capping, test_linspace, test_rebalancing_fee_calculation,
  test_get_lock_amount_after_fees, test_get_lock_amount_after_fees_imbalanced_channel,
  test_fee_round_trip, test_fee_add_remove_invariant, test_mfee1..test_mfee4.
The reference builds its channels with raiden/tests/utils/factories.py, where an end state that
is not given has a deposit of 100; the views below spell those balances out.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from raidennode.protocol.fees import (
    MAX_MEDIATION_FEE_PERC,
    NUM_DISCRETISATION_POINTS,
    ChannelFeeView,
    FeeSchedule,
    UndefinedMediationFee,
    _Interpolate,
    _mediation_fee_func,
    _reference_amount_with_fees,
    _reference_amount_without_fees,
    amount_with_fees,
    amount_without_fees,
    estimate_fees,
    fee_margin,
    fee_schedule_for_channel,
    hop_amounts,
    imbalance_penalty_curve,
    linspace,
    max_amount_with_fees,
    ppm_fee_per_channel,
    route_fee_acceptable,
    safe_amount_with_fee,
)

# --------------------------------------------------------------------------------------------
# Building blocks


def test_interpolation():
    """test_mediation_fee.py::test_interpolation."""
    interp = _Interpolate((0, 100), (0, 100))
    assert all(interp(i) == i for i in range(101))
    interp = _Interpolate((0, 50, 100), (0, 100, 200))
    assert all(interp(i) == 2 * i for i in range(101))
    interp = _Interpolate((0, 50, 100), (0, -50, 50))
    assert (interp(40), interp(60), interp(90), interp(99)) == (-40, -30, 30, 48)
    interp = _Interpolate((0, 100), (Fraction("12.35"), Fraction("67.2")))
    assert interp(0) == Fraction("12.35")
    assert interp(50) == (Fraction("12.35") + Fraction("67.2")) / 2
    assert interp(100) == Fraction("67.2")
    with pytest.raises(UndefinedMediationFee):
        interp(101)
    with pytest.raises(ValueError):
        _Interpolate((0, 0), (1, 1))


def test_linspace():
    """test_mediation_fee.py::test_linspace (Fraction step, rounded half to even)."""
    assert linspace(0, 4, 5) == [0, 1, 2, 3, 4]
    assert linspace(0, 4, 4) == [0, 1, 3, 4]
    assert linspace(0, 4, 3) == [0, 2, 4]
    assert linspace(0, 4, 2) == [0, 4]
    assert linspace(0, 0, 3) == [0, 0, 0]
    with pytest.raises(ValueError):
        linspace(0, 4, 1)
    with pytest.raises(ValueError):
        linspace(4, 0, 2)
    # exact for token amounts beyond float precision
    assert linspace(0, 10**30 + 20, 21)[1] == 5 * 10**28 + 1


def test_fee_schedule_fee_components():
    """FeeScheduleState.fee: flat + ppm * |amount| + penalty(balance + amount) - penalty(balance)."""
    assert FeeSchedule(flat=2).fee(0, 10) == 2
    prop = FeeSchedule(proportional=10_000)  # 1 %
    assert prop.fee(0, 40) == Fraction(2, 5)
    assert prop.fee(0, -60) == Fraction(3, 5)
    assert FeeSchedule(flat=2, proportional=10_000).fee(0, 60) == Fraction(13, 5)
    v_shape = FeeSchedule(imbalance_penalty=((0, 10), (50, 0), (100, 20)))
    assert v_shape.fee(0, 50) == -10  # moving to the balanced middle pays us
    assert v_shape.fee(50, 50) == 20
    assert v_shape.fee(40, 20) == 4 - 2  # penalty(60) = 4, penalty(40) = 2
    assert v_shape.fee(100, -25) == -10
    with pytest.raises(UndefinedMediationFee):
        v_shape.fee(100, 1)
    with pytest.raises(UndefinedMediationFee):
        v_shape.fee(0, -1)
    assert FeeSchedule().is_zero and FeeSchedule(imbalance_penalty=()).is_zero
    assert not v_shape.is_zero
    # lists are accepted and normalised; equality ignores the cached interpolation
    assert FeeSchedule(imbalance_penalty=[[0, 10], [100, 10]]) == FeeSchedule(imbalance_penalty=((0, 10), (100, 10)))
    with pytest.raises(ValueError):
        FeeSchedule(imbalance_penalty=((0, 1), (0, 2)))


def test_channel_fee_view_validation():
    with pytest.raises(ValueError):
        ChannelFeeView(FeeSchedule(), balance=11, capacity=10)
    with pytest.raises(ValueError):
        ChannelFeeView(FeeSchedule(), balance=-1, capacity=10)
    assert ChannelFeeView(FeeSchedule(), balance=4, capacity=10).receivable == 6


# --------------------------------------------------------------------------------------------
# The imbalance penalty curve


def test_rebalancing_fee_calculation():
    """test_mediation_fee.py::test_rebalancing_fee_calculation."""
    for capacity, ppm, max_y, n in [(200, 50_000, 10, 21), (100, 20_000, 2, 21), (15, 50_000, 1, 16)]:
        sample = imbalance_penalty_curve(capacity, ppm)
        assert sample is not None and len(sample) == n
        assert all(0 <= x <= capacity for x, _ in sample) and max(x for x, _ in sample) == capacity
        assert all(0 <= y <= max_y for _, y in sample) and max(y for _, y in sample) == max_y
    # rounding of the maximum: 5.49 -> 5, 5.5 -> 6
    assert max(y for _, y in imbalance_penalty_curve(1000, 5_490)) == 5
    assert max(y for _, y in imbalance_penalty_curve(1000, 5_500)) == 6
    assert imbalance_penalty_curve(0, 1) is None
    assert imbalance_penalty_curve(10, 0) is None
    with pytest.raises(ValueError):
        imbalance_penalty_curve(1000, 50_001)


@given(capacity=st.integers(min_value=1, max_value=10**27), ppm=st.integers(min_value=1, max_value=50_000))
def test_imbalance_curve_shape(capacity, ppm):
    """Symmetric U over [0, capacity]: ends = capacity*ppm/1e6, zero-ish middle, 21 points."""
    curve = imbalance_penalty_curve(capacity, ppm)
    assert curve is not None
    xs = [x for x, _ in curve]
    ys = [y for _, y in curve]
    assert len(curve) == min(NUM_DISCRETISATION_POINTS, capacity + 1)
    assert xs[0] == 0 and xs[-1] == capacity and xs == sorted(set(xs))
    end = capacity * ppm / 1e6
    assert ys[0] == ys[-1] == round(end) or abs(ys[0] - end) <= max(1, end * 1e-9)
    assert all(y >= 0 for y in ys)
    middle = len(ys) // 2
    assert all(a >= b for a, b in zip(ys[: middle + 1], ys[1 : middle + 1]))  # falling to the middle
    assert all(a <= b for a, b in zip(ys[middle:], ys[middle + 1 :]))  # rising after it
    if len(curve) == NUM_DISCRETISATION_POINTS and capacity % 20 == 0:
        # x values symmetric around capacity/2: so are the penalties, up to the reference's float noise
        assert all(abs(a - b) <= max(1, a * 1e-12) for a, b in zip(ys, reversed(ys)))


def test_imbalance_curve_exact_points():
    """Hand-checked: capacity 1000, 1 % -> b = 5, a = 10 / 500**5, points every 50 tokens."""
    curve = imbalance_penalty_curve(1000, 10_000)
    assert curve[:4] == ((0, 10), (50, 6), (100, 3), (150, 2))
    assert curve[10] == (500, 0)
    assert [y for _, y in curve] == [y for _, y in curve][::-1]


def test_imbalance_curve_huge_capacity_does_not_overflow():
    """The reference's float o ** b overflows above ~1.8e30; we evaluate the same curve safely."""
    curve = imbalance_penalty_curve(10**32, 3_000)
    assert len(curve) == NUM_DISCRETISATION_POINTS
    assert curve[0][0] == 0 and abs(curve[0][1] - 3 * 10**29) <= 3 * 10**29 * 1e-12  # 0.3 % of capacity
    assert curve[-1][0] == 10**32 and abs(curve[-1][1] - 3 * 10**29) <= 3 * 10**29 * 1e-12
    assert curve[10] == (5 * 10**31, 0)


# --------------------------------------------------------------------------------------------
# Per-channel schedules from per-mediation settings


def test_ppm_fee_per_channel():
    """raiden/utils/mediation_fees.py::ppm_fee_per_channel, q -> q/(q+2)."""
    assert ppm_fee_per_channel(0) == 0
    assert ppm_fee_per_channel(10_000) == 4975  # 0.01 / 2.01
    assert ppm_fee_per_channel(1_000_000) == 333_333
    assert ppm_fee_per_channel(4_000) == 1996  # the reference's default 0.4 % per mediation


def test_fee_schedule_for_channel():
    schedule = fee_schedule_for_channel(flat=101, proportional_ppm=10_000, imbalance_ppm=3_000, capacity=1000)
    assert schedule.flat == 50  # flat // 2 per channel
    assert schedule.proportional == 4975
    assert schedule.imbalance_penalty == imbalance_penalty_curve(1000, 3_000)
    assert schedule.cap_fees is True
    assert fee_schedule_for_channel(0, 0, 0, 1000) == FeeSchedule()
    assert fee_schedule_for_channel(0, 0, 3_000, 0).imbalance_penalty is None
    assert fee_schedule_for_channel(10, 0, 0, 5, cap_fees=False) == FeeSchedule(flat=5, cap_fees=False)


def test_per_mediation_settings_add_up():
    """A mediation with flat F and q ppm (both channels charging) takes about F + q * amount."""
    schedule = fee_schedule_for_channel(flat=100, proportional_ppm=10_000, imbalance_ppm=0, capacity=10**6)
    payer = ChannelFeeView(schedule, balance=0, capacity=10**6)
    payee = ChannelFeeView(schedule, balance=10**6, capacity=10**6)
    out = amount_without_fees(100_000 + 1_000 + 100, payer, payee)
    assert abs(out - 100_000) <= 2


# --------------------------------------------------------------------------------------------
# Mediator: amount_without_fees (reference get_amount_without_fees)


def _views(schedule_in, schedule_out, balance_in, capacity_in, balance_out, capacity_out):
    return ChannelFeeView(schedule_in, balance_in, capacity_in), ChannelFeeView(schedule_out, balance_out, capacity_out)


@pytest.mark.parametrize(
    "flat_fee, prop_fee, initial_amount, expected_amount",
    [
        (50, 0, 1000, 1000 - 50 - 50),
        (0, 1_000_000, 2000, 1000),
        (0, 100_000, 1100, 1000),
        (0, 50_000, 1050, 1000),
        (0, 10_000, 1010, 1000),
        (0, 10_000, 101, 100),
        (0, 4_990, 100, 100),
        (1, 500_000, 1000 + 500 + 2, 1000),
        (10, 500_000, 1000 + 500 + 20, 997),
        (100, 500_000, 1000 + 500 + 200, 967),
        (1, 100_000, 1000 + 100 + 2, 1000),
        (10, 100_000, 1000 + 100 + 20, 999),
        (100, 100_000, 1000 + 100 + 200, 991),
        (1, 10_000, 1000 + 10 + 2, 1000),
        (10, 10_000, 1000 + 10 + 20, 1000),
        (100, 10_000, 1000 + 10 + 200, 999),
        (100, 500_000, 1000 + 750, 1000),
        (0, 200_000, 47 + 9, 47),
        (0, 200_000, 39 + 8, 39),
    ],
)
def test_get_lock_amount_after_fees(flat_fee, prop_fee, initial_amount, expected_amount):
    """test_mediation_fee.py::test_get_lock_amount_after_fees (flat given per channel there)."""
    schedule = FeeSchedule(flat=flat_fee, proportional=ppm_fee_per_channel(prop_fee))
    # channel_in: our deposit 100 (factory default), partner 2000; channel_out: ours 2000, partner 100
    payer, payee = _views(schedule, schedule, 100, 2100, 2000, 2100)
    assert amount_without_fees(initial_amount, payer, payee) == expected_amount


@pytest.mark.parametrize(
    "cap_fees, imbalance_fee, expected_amount",
    [
        (False, 10_000, 50_000 + 2_000),
        (False, 20_000, 50_000 + 3_995),
        (False, 30_000, 50_000 + 5_910),
        (False, 40_000, 50_000 + 7_613),
        (False, 50_000, 50_000 + 9_091),
        (True, 10_000, 50_000),
        (True, 20_000, 50_000),
        (True, 30_000, 50_000),
        (True, 40_000, 50_000),
        (True, 50_000, 50_000),
    ],
)
def test_get_lock_amount_after_fees_imbalanced_channel(cap_fees, imbalance_fee, expected_amount):
    """test_mediation_fee.py::test_get_lock_amount_after_fees_imbalanced_channel.

    Both channels are fully imbalanced the wrong way, so mediating 50,000 rebalances them: with
    uncapped fees the mediator pays (forwards more than it receives), capped it forwards as much.
    """
    balance = 100_000
    schedule = FeeSchedule(imbalance_penalty=imbalance_penalty_curve(balance, imbalance_fee), cap_fees=cap_fees)
    payer, payee = _views(schedule, schedule, 0, balance, balance, balance)
    assert amount_without_fees(50_000, payer, payee) == expected_amount


def test_fee_capping():
    """test_mediation_fee.py::test_fee_capping: the zero crossing is inserted before capping."""
    schedule = FeeSchedule(imbalance_penalty=((0, 0), (100, 20)), flat=5)
    fee_func = _mediation_fee_func(
        schedule_in=FeeSchedule(),
        schedule_out=schedule,
        balance_in=0,
        balance_out=100,
        receivable=100,
        amount_with_fees=5,
        amount_without_fees=None,
        cap_fees=True,
    )
    assert fee_func(30) == 0  # 5 - 6, capped
    assert fee_func(20) == 5 - 4


def test_flat_only_by_hand():
    """Flat 3 per channel: the mediator keeps 6, whatever the amount."""
    schedule = FeeSchedule(flat=3)
    payer, payee = _views(schedule, schedule, 0, 1000, 500, 500)
    assert amount_without_fees(100, payer, payee) == 94
    assert amount_without_fees(506, payer, payee) == 500
    assert amount_without_fees(507, payer, payee) is None  # would exceed our balance towards the payee
    assert amount_without_fees(6, payer, payee) is None  # nothing left
    assert amount_without_fees(7, payer, payee) == 1
    assert amount_without_fees(1001, payer, payee) is None  # more than the payer channel can bring


def test_proportional_only_by_hand():
    """1 % per channel: x + 0.01 * x + 0.01 * a = a, so x = 0.99 a / 1.01."""
    schedule = FeeSchedule(proportional=10_000)
    payer, payee = _views(schedule, schedule, 0, 10**6, 10**6, 10**6)
    assert amount_without_fees(10_100, payer, payee) == 9_900  # 9999 / 1.01
    assert amount_without_fees(1_000, payer, payee) == round(Fraction(990, 1) / Fraction(101, 100))  # 980.19 -> 980
    # half-to-even rounding of the exact Fraction: 0.99 * 2525 / 1.01 = 2475 exactly
    assert amount_without_fees(2525, payer, payee) == 2475


def test_imbalance_only_by_hand():
    """Uncapped V-shaped penalty on the payee channel: moving towards its middle earns a rebate."""
    schedule_out = FeeSchedule(imbalance_penalty=((0, 10), (50, 0), (100, 20)), cap_fees=False)
    payer, payee = _views(FeeSchedule(cap_fees=False), schedule_out, 0, 100, 100, 100)
    # our payee balance goes 100 -> 100 - x; penalty(100 - x) - penalty(100) = -0.4 x for x <= 50
    # x - 0.4 x = 30 -> x = 50
    assert amount_without_fees(30, payer, payee) == 50
    capped = FeeSchedule(imbalance_penalty=schedule_out.imbalance_penalty)
    payer, payee = _views(FeeSchedule(), capped, 0, 100, 100, 100)
    assert amount_without_fees(30, payer, payee) == 30


def test_zero_fee_identity():
    payer, payee = _views(FeeSchedule(), FeeSchedule(), 0, 1000, 700, 700)
    assert [amount_without_fees(x, payer, payee) for x in (1, 2, 699, 700)] == [1, 2, 699, 700]
    assert amount_without_fees(701, payer, payee) is None
    assert amount_without_fees(0, payer, payee) is None
    assert amount_with_fees(500, [(payer, payee), (payer, payee)]) == 500
    assert amount_with_fees(500, []) == 500
    assert estimate_fees(500, [(payer, payee)]).mediation_fees == [0]
    assert amount_without_fees(5, *_views(FeeSchedule(), FeeSchedule(), 10, 10, 7, 7)) is None  # nothing receivable
    assert amount_without_fees(5, *_views(FeeSchedule(), FeeSchedule(), 0, 10, 0, 0)) is None  # nothing to send


def test_mixed_cap_fees_refused():
    payer, payee = _views(FeeSchedule(cap_fees=True), FeeSchedule(cap_fees=False), 0, 10, 10, 10)
    with pytest.raises(ValueError):
        amount_without_fees(5, payer, payee)


# --------------------------------------------------------------------------------------------
# Initiator: backwards estimate, exact amount, margin, limit


def test_imbalance_penalty_backwards():
    """test_mediation_fee.py::test_imbalance_penalty (get_amount_with_fees, one mediator)."""
    v_penalty = ((0, 10), (50, 0), (100, 20))
    reverse_penalty = ((0, 20), (50, 0), (100, 10))
    cases = [
        (False, 0, 50, -8, -10),
        (False, 50, 30, 20, 12),
        (False, 0, 10, -2, -2),
        (False, 10, 10, -2, -2),
        (False, 0, 20, -3, -4),
        (False, 40, 15, 0, 0),
        (False, 50, 31, None, 12),
        (False, 100, 1, None, None),
        (True, 0, 50, 0, 0),
        (True, 50, 30, 20, 12),
        (True, 0, 10, 0, 0),
        (True, 10, 10, 0, 0),
        (True, 0, 20, 0, 0),
        (True, 40, 15, 0, 0),
    ]
    for cap_fees, x1, amount, expected_fee_in, expected_fee_out in cases:
        hop = _views(
            FeeSchedule(imbalance_penalty=v_penalty, cap_fees=cap_fees),
            FeeSchedule(cap_fees=cap_fees),
            x1,
            100,
            100,
            100,
        )
        calc = estimate_fees(amount, [hop])
        assert (None if calc is None else calc.total_amount - amount) == expected_fee_in, (cap_fees, x1, amount)

        hop = _views(
            FeeSchedule(cap_fees=cap_fees),
            FeeSchedule(imbalance_penalty=reverse_penalty, cap_fees=cap_fees),
            0,
            100,
            100 - x1,
            100,
        )
        calc = estimate_fees(amount, [hop])
        assert (None if calc is None else calc.total_amount - amount) == expected_fee_out, (cap_fees, x1, amount)


def _channel_pair(schedule, balance1, balance2=0):
    """make_channel_pair of test_mediation_fee.py, as the mediator's (payer, payee) views."""
    capacity = balance1 + balance2
    return ChannelFeeView(schedule, balance2, capacity), ChannelFeeView(schedule, balance1, capacity)


def test_mfee1_flat_fee():
    """test_mfee1: 100 flat per mediation, two mediators."""
    channels = _channel_pair(FeeSchedule(flat=100 // 2), 100_000)
    calc = estimate_fees(10_000, [channels, channels])
    assert calc.mediation_fees == [100, 100]
    assert safe_amount_with_fee(calc.amount_without_fees, sum(calc.mediation_fees)) == 10_211


def test_mfee2_proportional_fees():
    """test_mfee2: 1 % per mediation, two mediators."""
    channels = _channel_pair(FeeSchedule(proportional=ppm_fee_per_channel(10_000)), 100_000)
    calc = estimate_fees(10_000, [channels, channels])
    assert safe_amount_with_fee(calc.amount_without_fees, sum(calc.mediation_fees)) == 10_213


def test_mfee3_only_imbalance_fees():
    """test_mfee3: uncapped imbalance fees only; the mediator pays for being rebalanced."""
    deposit = 10**18
    schedule = FeeSchedule(imbalance_penalty=imbalance_penalty_curve(deposit, 10_000), cap_fees=False)
    channels = _channel_pair(schedule, deposit)
    calc = estimate_fees(500_000_000_000_000_000, [channels])
    assert safe_amount_with_fee(calc.amount_without_fees, sum(calc.mediation_fees)) == 480_850_038_799_922_400


def test_mfee4_combined_fees():
    """test_mfee4: flat + proportional + imbalance, two mediators."""
    amount = 500_000_000_000_000_000
    deposit = 10**18
    schedule = FeeSchedule(
        flat=100 // 2,
        proportional=ppm_fee_per_channel(10_000),
        imbalance_penalty=imbalance_penalty_curve(deposit * 2, 20_000),
        cap_fees=False,
    )
    channels = _channel_pair(schedule, deposit, deposit)
    calc = estimate_fees(amount, [channels, channels])
    amount_with_margin = safe_amount_with_fee(amount, sum(calc.mediation_fees))
    assert amount_with_margin == 543_503_066_141_505_551
    # what the two mediators then forward (printed, not asserted, by the reference)
    amounts = hop_amounts(amount_with_margin, [channels, channels])
    assert amounts[0] == amount_with_margin and amounts[-1] >= amount


def test_amount_with_fees_exact_delivery():
    schedule = FeeSchedule(flat=7, proportional=ppm_fee_per_channel(3_000))
    hop = _views(schedule, schedule, 0, 10**6, 10**6, 10**6)
    total = amount_with_fees(12_345, [hop, hop, hop])
    amounts = hop_amounts(total, [hop, hop, hop])
    assert amounts[-1] >= 12_345
    assert hop_amounts(total - 1, [hop, hop, hop])[-1] < 12_345  # and it is the least such lock
    assert amount_with_fees(10**6, [hop]) is None  # no room for the fee in the payee channel
    assert amount_with_fees(0, [hop]) is None


def test_fee_margin():
    """initiator.py::calculate_fee_margin: ceil(|fee| * 0.03 + amount * 0.0005), 0 without fee."""
    assert fee_margin(10_000, 0) == 0
    assert fee_margin(10_000, 200) == 11
    assert fee_margin(10_000, -200) == 11
    assert fee_margin(1, 1) == 1
    assert safe_amount_with_fee(10_000, 200) == 10_211
    assert safe_amount_with_fee(10_000, 0) == 10_000


def test_route_fee_limit():
    """initiator.py::try_new_route refuses amount + fee + margin > amount + int(amount * 0.2)."""
    assert MAX_MEDIATION_FEE_PERC == 0.2
    assert max_amount_with_fees(1000) == 1200
    assert route_fee_acceptable(1000, 200)
    assert not route_fee_acceptable(1000, 201)
    assert route_fee_acceptable(1000, -50)
    assert route_fee_acceptable(4, 0) and not route_fee_acceptable(4, 1)  # int(0.8) == 0
    fee = 180
    assert route_fee_acceptable(1000, fee + fee_margin(1000, fee))  # 180 + ceil(5.4 + 0.5) = 186
    fee = 195
    assert not route_fee_acceptable(1000, fee + fee_margin(1000, fee))  # 195 + 7 > 200


# --------------------------------------------------------------------------------------------
# Properties


@st.composite
def schedules(draw, capacity, cap_fees=None, non_negative=False):
    if cap_fees is None:
        cap_fees = draw(st.booleans())
    flat = draw(st.integers(min_value=0, max_value=200))
    prop = draw(st.integers(min_value=0, max_value=20_000))
    imbalance = draw(st.integers(min_value=0, max_value=50_000))
    if non_negative and not cap_fees:
        imbalance = 0  # an uncapped imbalance penalty can pay the payer
    return fee_schedule_for_channel(flat, prop, imbalance, capacity, cap_fees=cap_fees)


@st.composite
def mediations(draw, non_negative=False, max_capacity=10**21):
    cap_fees = draw(st.booleans())
    capacity_in = draw(st.integers(min_value=1, max_value=max_capacity))
    capacity_out = draw(st.integers(min_value=1, max_value=max_capacity))
    payer = ChannelFeeView(
        draw(schedules(capacity_in, cap_fees, non_negative)),
        draw(st.integers(min_value=0, max_value=capacity_in)),
        capacity_in,
    )
    payee = ChannelFeeView(
        draw(schedules(capacity_out, cap_fees, non_negative)),
        draw(st.integers(min_value=0, max_value=capacity_out)),
        capacity_out,
    )
    return payer, payee


@settings(max_examples=150, deadline=None)
@given(hop=mediations(), a1=st.integers(min_value=1, max_value=10**21), a2=st.integers(min_value=1, max_value=10**21))
def test_amount_without_fees_is_monotonic(hop, a1, a2):
    low, high = sorted((a1 % (hop[0].receivable + 1) or 1, a2 % (hop[0].receivable + 1) or 1))
    out_low = amount_without_fees(low, *hop)
    out_high = amount_without_fees(high, *hop)
    if out_low is not None and out_high is not None:
        assert out_low <= out_high


@settings(max_examples=150, deadline=None)
@given(hop=mediations(non_negative=True), amount=st.integers(min_value=1, max_value=10**21))
def test_non_negative_fees_never_forward_more(hop, amount):
    amount = amount % (hop[0].receivable + 1) or 1
    out = amount_without_fees(amount, *hop)
    if out is not None:
        assert 0 < out <= amount


@settings(max_examples=100, deadline=None)
@given(
    hops=st.lists(mediations(max_capacity=10**20), min_size=1, max_size=3),
    amount=st.integers(min_value=1, max_value=10**20),
)
def test_round_trip_delivers_at_least_the_amount(hops, amount):
    amount = amount % (min(p.balance for _, p in hops) + 1) or 1
    total = amount_with_fees(amount, hops)
    if total is None:
        return
    amounts = hop_amounts(total, hops)
    assert amounts is not None and amounts[-1] >= amount


@settings(max_examples=100, deadline=None)
@given(
    payer=st.builds(
        lambda s, b, c: ChannelFeeView(s, min(b, c), c),
        st.sampled_from([FeeSchedule(), FeeSchedule(cap_fees=False)]),
        st.integers(min_value=0, max_value=10**21),
        st.integers(min_value=0, max_value=10**21),
    ),
    payee_balance=st.integers(min_value=0, max_value=10**21),
    amount=st.integers(min_value=1, max_value=10**21),
)
def test_zero_fee_shortcut_equals_reference_arithmetic(payer, payee_balance, amount):
    payee = ChannelFeeView(FeeSchedule(cap_fees=payer.schedule.cap_fees), payee_balance, payee_balance)
    expected = _reference_amount_without_fees(amount, payer, payee) or None
    assert amount_without_fees(amount, payer, payee) == expected
    assert expected is None or expected == amount
    backwards = _reference_amount_with_fees(amount, payer, payee)
    calc = estimate_fees(amount, [(payer, payee)])
    assert (None if calc is None else calc.total_amount) == backwards


@example(flat_fee=0, prop_fee=0, imbalance_fee=1277, amount=1, balance1=33, balance2=481)
@given(
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=50_000),
    st.integers(min_value=1, max_value=90_000_000_000_000_000_000),
    st.integers(min_value=1, max_value=100_000_000_000_000_000_000),
    st.integers(min_value=1, max_value=100_000_000_000_000_000_000),
)
@settings(suppress_health_check=[HealthCheck.filter_too_much], deadline=None)
def test_fee_add_remove_invariant(flat_fee, prop_fee, imbalance_fee, amount, balance1, balance2):
    """test_mediation_fee.py::test_fee_add_remove_invariant: backwards then forwards = +-1."""
    total_balance = 100_000_000_000_000_000_000
    schedule = FeeSchedule(
        flat=flat_fee,
        proportional=ppm_fee_per_channel(prop_fee),
        imbalance_penalty=imbalance_penalty_curve(total_balance, imbalance_fee),
        cap_fees=False,
    )
    payer = ChannelFeeView(schedule, total_balance - balance1, total_balance)
    payee = ChannelFeeView(schedule, balance2, total_balance)
    calc = estimate_fees(amount, [(payer, payee)])
    assume(calc)
    forwarded = amount_without_fees(calc.total_amount, payer, payee)
    assume(forwarded)
    assert amount - 1 <= forwarded <= amount + 1


@given(
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=50_000),
    st.integers(min_value=1, max_value=90_000_000_000_000_000),
    st.integers(min_value=1, max_value=100_000_000_000_000_000),
    st.integers(min_value=1, max_value=100_000_000_000_000_000),
)
@settings(suppress_health_check=[HealthCheck.filter_too_much], deadline=None)
def test_fee_round_trip(flat_fee, prop_fee, imbalance_fee, amount, balance1, balance2):
    """test_mediation_fee.py::test_fee_round_trip: with the margin the target gets >= amount."""
    amount = int(min(amount, balance1 * 0.95 - 1, balance2 * 0.95 - 1))
    assume(amount > 0)
    total_balance = 100_000_000_000_000_000_000
    schedule = FeeSchedule(
        flat=flat_fee,
        proportional=ppm_fee_per_channel(prop_fee),
        imbalance_penalty=imbalance_penalty_curve(total_balance, imbalance_fee),
        cap_fees=False,
    )
    payer = ChannelFeeView(schedule, total_balance - balance1, total_balance)
    payee = ChannelFeeView(schedule, balance2, total_balance)
    calc = estimate_fees(amount, [(payer, payee)])
    assume(calc)
    forwarded = amount_without_fees(calc.total_amount, payer, payee)
    assume(forwarded)
    assert abs(amount - forwarded) <= 1
    with_margin = safe_amount_with_fee(calc.amount_without_fees, sum(calc.mediation_fees))
    forwarded = amount_without_fees(with_margin, payer, payee)
    assume(forwarded)
    assert forwarded >= amount
