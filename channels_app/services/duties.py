"""What co-hosted nodes do on their own, each time the chain advances.

Today: settle a closed channel once its settlement window has passed. The duty creates the
settle operation (one per on-chain channel, whichever participant's duty runs first) and does
not wait; the channel becomes settled when ChannelSettled is ingested.
"""

from __future__ import annotations

import logging

from django.db.models import Exists, OuterRef

from raidennode.errors import ServiceError
from raidennode.nodes.models import Node

from ..models import ChainOperation, Channel, NetworkChannel
from .chain import chain
from .channels import channel_settle

logger = logging.getLogger(__name__)


def chain_duties_run() -> int:
    """Starts the settlement of every channel whose window has passed; how many were started.

    Raises RpcUnavailable when the Ethereum node is down (the next run retries).
    """
    head = chain().block_number()
    live_settle = ChainOperation.objects.filter(
        kind=ChainOperation.Kind.CHANNEL_SETTLE,
        status__in=ChainOperation.LIVE_STATUSES,
        channel__network_channel=OuterRef("network_channel"),
    )
    due = (
        Channel.objects.filter(network_channel__state=NetworkChannel.State.CLOSED, node__state=Node.State.RUNNING)
        .select_related("network_channel__token_network", "node")
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
