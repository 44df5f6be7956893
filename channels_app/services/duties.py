"""What co-hosted nodes do on their own, each time the chain advances (spec 4.7, section 5).

- settle a closed channel once its settlement window has passed;
- when the partner closed, submit the partner's latest balance proof we hold
  (updateNonClosingBalanceProof), so that settlement pays what the off-chain books say;
- after settlement, unlock the locks that stayed in the contract.

Each duty creates its chain operation (deduplicated, so a duty run twice, or by both co-hosted
participants, sends one transaction) and does not wait for it.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Count, Exists, OuterRef

from raidennode.errors import ServiceError
from raidennode.nodes.models import Node
from raidennode.protocol.constants import EMPTY_HASH, LOCKSROOT_OF_NO_LOCKS

from ..models import ChainEvent, ChainOperation, Channel, NetworkChannel
from .chain import chain
from .channels import channel_settle
from .operations import operation_create

logger = logging.getLogger(__name__)

_NO_LOCKS = {"", "0x" + EMPTY_HASH.hex(), "0x" + LOCKSROOT_OF_NO_LOCKS.hex()}


def chain_duties_run() -> int:
    """Runs every duty once; how many chain operations were started.

    Raises RpcUnavailable when the Ethereum node is down (the next run retries).
    """
    head = chain().block_number()
    # Updates first: when both are due in one round, the partner's balance proof must reach the
    # chain before the settle (operations on one channel run in creation order).
    return updates_due() + settle_due(head) + unlocks_due()


def _running(channels):
    return channels.filter(node__state=Node.State.RUNNING).select_related("network_channel__token_network", "node")


def gas_reserves_check() -> int:
    """Notifies each running node with open channels whose ETH is below the estimated reserve
    for finishing their lifecycles (Raiden's ``missing_gas_reserve``, checked every 5 minutes
    there); the number of nodes notified. Raises RpcUnavailable."""
    from raidennode.nodes.services import notification_set

    from .channels import GAS_PER_CHANNEL_LIFECYCLE

    client = chain()
    max_fee, _ = client.fees()
    counts = (
        Channel.objects.filter(network_channel__state=NetworkChannel.State.OPENED, node__state=Node.State.RUNNING)
        .values_list("node_id")
        .annotate(open_channels=Count("id"))
    )
    notified = 0
    for node_id, open_channels in counts:
        node = Node.objects.get(pk=node_id)
        required = (open_channels + 1) * GAS_PER_CHANNEL_LIFECYCLE * max_fee
        balance = client.balance(node.address)
        if balance < required:
            notification_set(
                node,
                "missing_gas_reserve",
                "Missing gas reserve",
                f"The account {node.address} holds {balance} wei, below the {required} wei estimated to "
                f"close, settle and unlock its {open_channels} open channels. Add ETH to the account.",
                urgency="critical",
            )
            notified += 1
    return notified


def settle_due(head: int) -> int:
    live_settle = ChainOperation.objects.filter(
        kind=ChainOperation.Kind.CHANNEL_SETTLE,
        status__in=ChainOperation.LIVE_STATUSES,
        channel__network_channel=OuterRef("network_channel"),
    )
    due = (
        _running(Channel.objects.filter(network_channel__state=NetworkChannel.State.CLOSED))
        .annotate(settling=Exists(live_settle))
        .filter(settling=False)
        .order_by("network_channel_id", "id")
    )
    started: set[int] = set()
    for channel in due:
        nc = channel.network_channel
        if nc.pk in started or head <= nc.settle_block:
            continue
        try:
            channel_settle(channel.node, channel, wait=False)
            started.add(nc.pk)
            logger.info("settling channel %s of %s for %s", nc.identifier, nc.token_network.address, channel.node)
        except ServiceError as exc:
            logger.warning("could not start settling %s: %s", nc, exc.message)
    return len(started)


# A duty's operation that failed is started again on later rounds, at most this many times.
DUTY_ATTEMPTS = 10


def _done_or_given_up(dedupe_key: str) -> bool:
    """Whether the duty of ``dedupe_key`` needs no new operation: one is live or succeeded, or
    DUTY_ATTEMPTS have failed (then an operator sees them in the admin's failing operations)."""
    statuses = list(ChainOperation.objects.filter(dedupe_key=dedupe_key).values_list("status", flat=True))
    if any(status != ChainOperation.Status.FAILED for status in statuses):
        return True
    if len(statuses) >= DUTY_ATTEMPTS:
        logger.error("giving up on %s after %d failed attempts", dedupe_key, len(statuses))
        return True
    return False


def _start(channel: Channel, kind: str, dedupe_key: str, args: dict) -> bool:
    nc = channel.network_channel
    with transaction.atomic():
        _, created = operation_create(
            node=channel.node,
            kind=kind,
            args={"token_network": nc.token_network.address, "channel_identifier": str(nc.identifier), **args},
            serial_key=f"channel:{nc.token_network.address}:{nc.identifier}",
            dedupe_key=dedupe_key,
            channel=channel,
        )
    return created


def updates_due() -> int:
    """Channels the partner closed while we hold a newer balance proof of its than the chain."""
    started = 0
    closed_by_partner = _running(
        Channel.objects.filter(network_channel__state=NetworkChannel.State.CLOSED, partner_balance_proof__isnull=False)
    )
    for channel in closed_by_partner:
        nc = channel.network_channel
        if nc.closing_participant != channel.partner_address:
            continue
        stored_nonce = nc.participant2_nonce if channel.is_participant1 else nc.participant1_nonce
        if int(channel.partner_balance_proof["nonce"]) <= stored_nonce:
            continue
        key = f"update:{nc.token_network.address}:{nc.identifier}:{channel.partner_balance_proof['nonce']}"
        if _done_or_given_up(key):
            continue
        started += _start(channel, ChainOperation.Kind.CHANNEL_UPDATE, key, {"partner": channel.partner_address})
    return started


def unlocks_due() -> int:
    """Settled channels whose locks stayed in the contract and were not unlocked yet."""
    started = 0
    settled = _running(Channel.objects.filter(network_channel__state=NetworkChannel.State.SETTLED)).exclude(
        network_channel__participant1_locksroot__in=_NO_LOCKS, network_channel__participant2_locksroot__in=_NO_LOCKS
    )
    for channel in settled:
        nc = channel.network_channel
        for sender, receiver, locksroot in (
            (nc.participant1, nc.participant2, nc.participant1_locksroot),
            (nc.participant2, nc.participant1, nc.participant2_locksroot),
        ):
            if locksroot in _NO_LOCKS:
                continue
            key = f"unlock:{nc.token_network.address}:{nc.identifier}:{sender}"
            if _done_or_given_up(key):
                continue
            unlocked = ChainEvent.objects.filter(
                token_network=nc.token_network,
                channel_identifier=nc.identifier,
                name="ChannelUnlocked",
                args__sender=sender,
            ).exists()
            if unlocked:
                continue
            started += _start(
                channel, ChainOperation.Kind.CHANNEL_UNLOCK, key, {"sender": sender, "receiver": receiver}
            )
    return started
