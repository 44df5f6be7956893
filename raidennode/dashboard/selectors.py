"""What the operator dashboard shows, each part one or two aggregate queries (never one per row).

Definitions (docs/operations.md, "Operator dashboard"):

* nodes: hosted nodes counted by ``Node.state``.
* channels: the ``Channel`` rows (one per hosted participant; a channel between two hosted
  nodes counts twice, once per side) counted by the state the API shows
  (``channel_api_state``), settled ones included.
* value locked, per token: over the hosted nodes' channels that are opened or closed on chain
  (not settled: the contract still holds the tokens), the sum of the node's own side's total
  deposit minus its total withdrawn. It is what the hosted nodes put into channels and have not
  taken out, not their off-chain balance (payments move that between the sides).
* payments per hour: ``Payment`` rows of the initiator role only (a payment between hosted
  nodes also has target and mediator rows: it is counted once), by the hour of ``created_at``
  in the current time zone, for the current hour and the 23 before it, by status.
* failing operations: failed and neither retried (``result["retried_by"]``) nor superseded by a
  later operation with the same dedupe key (a duty starting it again); or live with an
  ``error_code`` (Ethereum node unreachable, transaction not mined in time); or live for longer
  than ``STUCK_AFTER`` (no worker is working on it). Newest first.
* undelivered messages: pending, and either refused or failed at least once (``attempts`` > 0)
  or older than ``UNDELIVERED_AFTER``. Newest first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Sum, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from channels_app.models import ChainOperation, Channel, NetworkChannel, channel_api_state
from raidennode.fields import Uint256Field
from raidennode.nodes.models import Node
from transfers_app.models import Message, Payment

LIST_LIMIT = 50
HOURS = 24
UNDELIVERED_AFTER = timedelta(seconds=60)
STUCK_AFTER = timedelta(minutes=5)
# The order the channel states are listed in.
CHANNEL_STATES = ("opened", "waiting_for_close", "closed", "waiting_for_settle", "settled", "channel_unusable")
LOCKED_STATES = (NetworkChannel.State.OPENED, NetworkChannel.State.CLOSED)


@dataclass(frozen=True)
class TokenLocked:
    token_address: str
    channels: int
    deposited: int
    withdrawn: int

    @property
    def locked(self) -> int:
        return self.deposited - self.withdrawn


@dataclass(frozen=True)
class HourBucket:
    start: datetime
    succeeded: int = 0
    failed: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.pending


@dataclass(frozen=True)
class Dashboard:
    nodes: dict[str, int]
    channels: dict[str, int]
    locked: list[TokenLocked]
    hours: list[HourBucket]
    operations: list[ChainOperation]
    operations_total: int
    messages: list[Message]
    messages_total: int
    now: datetime = field(default_factory=timezone.now)


def node_counts() -> dict[str, int]:
    """{state: nodes} for every Node.State (zeros included), plus "total"."""
    counts = {state: 0 for state in Node.State.values}
    for state, n in Node.objects.order_by().values_list("state").annotate(n=Count("id")):
        counts[state] = n
    counts["total"] = sum(counts.values())
    return counts


def channel_counts() -> dict[str, int]:
    """{API state: channels} of the hosted nodes, every state listed (zeros included)."""
    counts = dict.fromkeys(CHANNEL_STATES, 0)
    groups = Channel.objects.order_by().values_list("network_channel__state", "local_state").annotate(n=Count("id"))
    for chain_state, local_state, n in groups:
        state = channel_api_state(chain_state, local_state)
        counts[state] = counts.get(state, 0) + n
    return counts


def _our(column: str) -> Case:
    """The hosted node's side of a NetworkChannel column (participant1_<column> or participant2_...)."""
    return Case(
        When(is_participant1=True, then=F(f"network_channel__participant1_{column}")),
        default=F(f"network_channel__participant2_{column}"),
        output_field=Uint256Field(),
    )


def value_locked() -> list[TokenLocked]:
    """Per token: the hosted nodes' deposits minus withdrawals in opened and closed channels.

    PostgreSQL sums the NUMERIC(78,0) amounts exactly; on SQLite, where amounts are decimal text
    that SUM would turn into floats, the same query's rows are summed in Python.
    """
    if connection.vendor != "postgresql":
        return value_locked_in_python()
    token = "network_channel__token_network__token_address"
    rows = (
        Channel.objects.filter(network_channel__state__in=LOCKED_STATES)
        .values_list(token)
        .annotate(channels=Count("id"), deposited=Sum(_our("deposit")), withdrawn=Sum(_our("withdrawn")))
        .order_by(token)
    )
    return [TokenLocked(address, n, deposited or 0, withdrawn or 0) for address, n, deposited, withdrawn in rows]


def value_locked_in_python() -> list[TokenLocked]:
    """``value_locked`` summed in Python over one query's rows (any backend; used on SQLite)."""
    rows = Channel.objects.filter(network_channel__state__in=LOCKED_STATES).values_list(
        "network_channel__token_network__token_address",
        "is_participant1",
        "network_channel__participant1_deposit",
        "network_channel__participant1_withdrawn",
        "network_channel__participant2_deposit",
        "network_channel__participant2_withdrawn",
    )
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for address, first, deposit1, withdrawn1, deposit2, withdrawn2 in rows:
        entry = sums[address]
        entry[0] += 1
        entry[1] += deposit1 if first else deposit2
        entry[2] += withdrawn1 if first else withdrawn2
    return [TokenLocked(address, *sums[address]) for address in sorted(sums)]


def hour_start(moment: datetime) -> datetime:
    """The start of ``moment``'s hour in the current time zone."""
    return timezone.localtime(moment).replace(minute=0, second=0, microsecond=0)


def payments_per_hour(now: datetime | None = None) -> list[HourBucket]:
    """Initiated payments by hour and status: the current hour and the HOURS - 1 before it, oldest first."""
    first = hour_start(now or timezone.now()) - timedelta(hours=HOURS - 1)
    starts = [first + timedelta(hours=i) for i in range(HOURS)]
    counts: dict[datetime, dict[str, int]] = {start: {} for start in starts}
    rows = (
        Payment.objects.filter(role=Payment.Role.INITIATOR, created_at__gte=first)
        .order_by()
        .annotate(hour=TruncHour("created_at"))
        .values_list("hour", "status")
        .annotate(n=Count("id"))
    )
    for hour, status, n in rows:
        bucket = counts.get(hour_start(hour))
        if bucket is not None:  # a created_at in the future (clock skew) is left out
            bucket[status] = n
    return [HourBucket(start, **counts[start]) for start in starts]


def failing_operations_queryset(now: datetime | None = None):
    now = now or timezone.now()
    superseded = ChainOperation.objects.filter(dedupe_key=OuterRef("dedupe_key"), pk__gt=OuterRef("pk"))
    failed = Q(status=ChainOperation.Status.FAILED) & ~Q(result__has_key="retried_by") & ~Exists(superseded)
    live = Q(status__in=ChainOperation.LIVE_STATUSES) & (~Q(error_code="") | Q(created_at__lt=now - STUCK_AFTER))
    return ChainOperation.objects.filter(failed | live)


def failing_operations(now: datetime | None = None, limit: int = LIST_LIMIT) -> tuple[list[ChainOperation], int]:
    """(the newest ``limit`` failing operations, how many there are)."""
    queryset = failing_operations_queryset(now)
    rows = list(
        queryset.select_related("node", "channel__network_channel__token_network").order_by("-updated_at", "-id")[
            :limit
        ]
    )
    total = len(rows) if len(rows) < limit else queryset.count()
    return rows, total


def undelivered_messages_queryset(now: datetime | None = None):
    now = now or timezone.now()
    return Message.objects.filter(
        Q(attempts__gt=0) | Q(created_at__lt=now - UNDELIVERED_AFTER), status=Message.Status.PENDING
    )


def undelivered_messages(now: datetime | None = None, limit: int = LIST_LIMIT) -> tuple[list[Message], int]:
    """(the newest ``limit`` undelivered messages, how many there are); payloads are not loaded."""
    queryset = undelivered_messages_queryset(now)
    rows = list(queryset.defer("payload", "locks").order_by("-id")[:limit])
    total = len(rows) if len(rows) < limit else queryset.count()
    return rows, total


def dashboard_get(now: datetime | None = None) -> Dashboard:
    """Everything the dashboard shows: at most 9 queries, whatever the number of rows."""
    now = now or timezone.now()
    operations, operations_total = failing_operations(now)
    messages, messages_total = undelivered_messages(now)
    return Dashboard(
        nodes=node_counts(),
        channels=channel_counts(),
        locked=value_locked(),
        hours=payments_per_hour(now),
        operations=operations,
        operations_total=operations_total,
        messages=messages,
        messages_total=messages_total,
        now=now,
    )
