"""Joining a token network: the older API's PUT /connections/<t> (Raiden 0.x's ConnectionManager).

``connection_join`` remembers the node's ``funds`` for the token network and spends part of them
at once, as the reference's ``ConnectionManager.connect`` did:

* funding per channel = floor(funds * (1 - joinable_funds_target) / initial_channel_target)
  (0 when the target is 0); the rest of ``funds`` is the "joinable" part the reference kept for
  channels that others open with us.
* Our open channels in the token network whose deposit already reaches that funding count
  towards the target. The ones below it are topped up to it first (oldest channel first); then
  channels are opened, each with that deposit, to new partners until the target is met.
* New partners are the participants of the token network's open channels as the confirmed chain
  events show them (co-hosted or not), except ourselves and nodes we have an unsettled channel
  with; the best connected first (most open channels), then by address. The reference shuffled
  them; a fixed order makes the outcome predictable. Fewer candidates than needed: the channels
  that are possible are opened; none at all: nothing is opened, the funds are still remembered.
* Connecting again replaces funds and targets; channels below the new funding are topped up
  (only the difference is deposited) and missing channels opened. Nothing is ever closed or
  withdrawn by a connect.

Not done (unlike the reference): no "bootstrap" channel to the unowned address 0x2222...2222
when the token network is empty, and no later automatic joining (depositing the joinable funds
into channels others open with us, opening channels to nodes that join later).
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Count, Q
from django.utils import timezone

from raidennode.chain.errors import RpcUnavailable
from raidennode.chain.proxies import TokenProxy
from raidennode.errors import Conflict, InsufficientFunds
from raidennode.nodes.models import Node

from ..models import Channel, NetworkChannel, TokenNetwork, TokenNetworkConnection
from ..selectors import channel_by_pk, token_network_by_token
from .chain import chain, rpc_unavailable_error
from .channels import GAS_PER_CHANNEL_LIFECYCLE, channel_deposit, channel_open, token_network_leave

DEFAULT_INITIAL_CHANNEL_TARGET = 3
DEFAULT_JOINABLE_FUNDS_TARGET = Decimal("0.4")
INITIAL_CHANNEL_TARGET_MAX = 2**31 - 1  # what the model column holds
JOINABLE_FUNDS_TARGET_QUANTUM = Decimal("1e-18")  # what the model column holds
LEASE_POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class JoinPlan:
    """What a connect does: deposit ``funding`` into ``top_ups`` and open channels with ``partners``."""

    funding: int
    top_ups: tuple[Channel, ...]
    partners: tuple[str, ...]
    sum_deposits: int  # our deposits in the open channels of the token network, before the connect

    @property
    def needed(self) -> int:
        """Tokens the plan deposits."""
        return sum(self.funding - c.our_deposit for c in self.top_ups) + self.funding * len(self.partners)


def funding_per_channel(funds: int, initial_channel_target: int, joinable_funds_target: Decimal) -> int:
    """floor(funds * (1 - joinable_funds_target) / initial_channel_target), exact for any uint256."""
    if initial_channel_target <= 0:
        return 0
    return int(funds * (1 - Fraction(joinable_funds_target)) / initial_channel_target)


def connection_join(
    node: Node,
    token_address: str,
    funds: int,
    initial_channel_target: int = DEFAULT_INITIAL_CHANNEL_TARGET,
    joinable_funds_target: Decimal = DEFAULT_JOINABLE_FUNDS_TARGET,
) -> list[Channel]:
    """Connects ``node`` to the token network of ``token_address`` (see the module docstring).

    Blocks until every open and deposit is mined and its event confirmed (the existing channel
    services do the waiting); returns the channels it opened or topped up, in that order.

    Locks: the node's TokenNetworkConnection row for that token network is leased
    (``joining_until``) for the whole connect, so connects of one node to one token network run
    one at a time; a second one waits for the lease (up to RAIDEN_CONFIRMATION_TIMEOUT) and then
    answers Conflict. Each open and deposit takes the locks of channel_open / channel_deposit.

    Raises, checked in this order and before any transaction:
    Conflict (409): funds <= 0, initial_channel_target or joinable_funds_target out of range,
    unregistered token ("Token network for token ... does not exist", as PUT /channels),
    deprecated token network, another connect still in progress;
    InsufficientFunds (402): not enough ETH for the gas reserve of the new channels (the message
    of PUT /channels), or a token balance below what the connect needs ("Not enough balance to
    connect. ..."): the larger of what it deposits now and ``funds`` minus our current deposits in
    the token network. The funds are remembered once these checks pass.
    Then whatever channel_open / channel_deposit raise (402, 408, 409, 503): channels opened or
    topped up before the failure stay as they are.
    """
    if funds <= 0:
        raise Conflict("The funds to use in the connection need to be a positive integer")
    if not 0 <= initial_channel_target <= INITIAL_CHANNEL_TARGET_MAX:
        raise Conflict(f"initial_channel_target must be between 0 and {INITIAL_CHANNEL_TARGET_MAX}")
    if not joinable_funds_target.is_finite() or not 0 <= joinable_funds_target <= 1:
        raise Conflict("joinable_funds_target must be between 0 and 1")
    joinable_funds_target = joinable_funds_target.quantize(JOINABLE_FUNDS_TARGET_QUANTUM)
    token_network = token_network_by_token(token_address)
    if token_network is None:
        raise Conflict(f"Token network for token {token_address} does not exist")
    if token_network.deprecated:
        raise Conflict("Token network is deprecated.")

    with _lease(node, token_network) as connection:
        plan = join_plan(node, token_network, funds, initial_channel_target, joinable_funds_target)
        try:
            _checks(node, token_address, funds, plan)
        except RpcUnavailable as exc:
            raise rpc_unavailable_error(exc) from exc
        TokenNetworkConnection.objects.filter(pk=connection.pk).update(
            funds=funds,
            initial_channel_target=initial_channel_target,
            joinable_funds_target=joinable_funds_target,
            updated_at=timezone.now(),
        )

        touched: list[Channel] = []
        for channel in plan.top_ups:
            _lease_renew(connection)
            fresh = channel_by_pk(channel.pk)
            if fresh.state == "opened" and fresh.our_deposit < plan.funding:
                touched.append(channel_deposit(node, fresh, plan.funding))
        for partner in plan.partners:
            _lease_renew(connection)
            result = channel_open(node, token_address, partner, total_deposit=plan.funding or None)
            touched.append(result.channel)
        return touched


def join_plan(
    node: Node, token_network: TokenNetwork, funds: int, initial_channel_target: int, joinable_funds_target: Decimal
) -> JoinPlan:
    """The channels a connect with these parameters tops up and opens, from the current state."""
    funding = funding_per_channel(funds, initial_channel_target, joinable_funds_target)
    ours = list(
        Channel.objects.filter(node=node, network_channel__token_network=token_network)
        .exclude(network_channel__state=NetworkChannel.State.SETTLED)
        .select_related("network_channel__token_network")
        .order_by("id")
    )
    open_channels = [c for c in ours if c.state == "opened"]
    sum_deposits = sum(c.our_deposit for c in open_channels)
    funded = [c for c in open_channels if c.our_deposit >= funding]
    missing = initial_channel_target - len(funded)
    if missing <= 0:
        return JoinPlan(funding, (), (), sum_deposits)
    top_ups = tuple(c for c in open_channels if c.our_deposit < funding)[:missing]
    missing -= len(top_ups)
    partners: tuple[str, ...] = ()
    if missing > 0:
        excluded = {node.address} | {c.partner_address for c in ours}
        partners = tuple(p for p in partner_candidates(token_network) if p not in excluded)[:missing]
    return JoinPlan(funding, top_ups, partners, sum_deposits)


def partner_candidates(token_network: TokenNetwork) -> list[str]:
    """Participants of the token network's open channels: most open channels first, then address."""
    open_channels = NetworkChannel.objects.filter(token_network=token_network, state=NetworkChannel.State.OPENED)
    counts: Counter[str] = Counter()
    for column in ("participant1", "participant2"):
        for address, count in open_channels.order_by().values(column).annotate(n=Count("id")).values_list(column, "n"):
            counts[address] += count
    return sorted(counts, key=lambda address: (-counts[address], address.lower()))


def connection_funds(node: Node) -> dict[str, int]:
    """{token address: funds of the node's last connect} for GET /connections."""
    return dict(TokenNetworkConnection.objects.filter(node=node).values_list("token_network__token_address", "funds"))


def connection_leave(node: Node, token_address: str) -> list[Channel]:
    """DELETE /connections/<t>: closes the node's open channels of that token network
    (``token_network_leave``: raises NotFound for a token without one) and forgets its last
    connect. The channels after their close."""
    channels = token_network_leave(node, token_address)
    TokenNetworkConnection.objects.filter(node=node, token_network__token_address=token_address).delete()
    return channels


# --- checks ---------------------------------------------------------------------------------------


def _checks(node: Node, token_address: str, funds: int, plan: JoinPlan) -> None:
    client = chain()
    if plan.partners:
        open_channels = Channel.objects.filter(node=node, network_channel__state=NetworkChannel.State.OPENED).count()
        max_fee, _ = client.fees()
        required = (open_channels + len(plan.partners)) * GAS_PER_CHANNEL_LIFECYCLE * max_fee
        if client.balance(node.address) < required:
            raise InsufficientFunds(
                "The account balance is below the estimated amount necessary to finish the lifecycles "
                f"of all active channels. A balance of at least {required} wei is required."
            )
    needed = max(plan.needed, funds - plan.sum_deposits)
    if needed > 0:
        balance = TokenProxy(client, token_address).balance_of(node.address)
        if balance < needed:
            raise InsufficientFunds(
                f"Not enough balance to connect. {token_address} Available={balance} Needed={needed}"
            )


# --- the lease ------------------------------------------------------------------------------------


def _lease_length() -> timedelta:
    # One step (an open with its deposit, or a deposit) may take two transactions and a confirmation.
    return timedelta(seconds=2 * settings.RAIDEN_TRANSACTION_TIMEOUT + settings.RAIDEN_CONFIRMATION_TIMEOUT + 60)


def _lease_take(connection: TokenNetworkConnection) -> bool:
    now = timezone.now()
    return bool(
        TokenNetworkConnection.objects.filter(pk=connection.pk)
        .filter(Q(joining_until__isnull=True) | Q(joining_until__lt=now))
        .update(joining_until=now + _lease_length())
    )


def _lease_renew(connection: TokenNetworkConnection) -> None:
    TokenNetworkConnection.objects.filter(pk=connection.pk).update(joining_until=timezone.now() + _lease_length())


@contextmanager
def _lease(node: Node, token_network: TokenNetwork):
    """The node's connection row for the token network, leased until the block ends."""
    deadline = time.monotonic() + settings.RAIDEN_CONFIRMATION_TIMEOUT
    while True:
        try:
            connection, created = TokenNetworkConnection.objects.get_or_create(node=node, token_network=token_network)
        except IntegrityError:  # created concurrently: taken on the next round
            connection, created = None, False
        if connection is not None and _lease_take(connection):
            break
        if time.monotonic() > deadline:
            raise Conflict(
                f"Another connect of this node to the token network of {token_network.token_address} is in progress"
            )
        time.sleep(LEASE_POLL_INTERVAL)
    try:
        yield connection
    finally:
        row = TokenNetworkConnection.objects.filter(pk=connection.pk)
        if created:
            row.filter(funds=0).delete()  # a first connect refused by its checks leaves nothing behind
        row.update(joining_until=None)
