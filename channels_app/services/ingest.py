"""Chain ingestion: logs of the registry, the secret registry and every token network, applied once.

``chain_ingest`` reads logs from the stored cursor up to ``head - confirmations`` (outside any DB
transaction), then in one transaction stores each log once (unique on tx hash + log index),
applies it to the token network and to every co-hosted node it concerns, and advances the cursor.
Several processes may ingest at once: the cursor row lock orders them and whatever another
process already applied is skipped, so applying is idempotent.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from raidennode.chain.errors import RpcUnavailable
from raidennode.chain.events import ChainLog, decode_log
from raidennode.nodes.models import Node

from ..models import ChainEvent, ChainOperation, Channel, Deployment, NetworkChannel, TokenNetwork
from .chain import chain

logger = logging.getLogger(__name__)

# Blocks per eth_getLogs request.
INGEST_CHUNK_BLOCKS = 5000


@dataclass(frozen=True)
class IngestResult:
    from_block: int
    to_block: int
    logs: int

    @property
    def advanced(self) -> bool:
        return self.to_block >= self.from_block


def confirmed_head(head: int) -> int:
    return head - settings.RAIDEN_CONFIRMATIONS


def chain_ingest(max_blocks: int = INGEST_CHUNK_BLOCKS) -> IngestResult | None:
    """Ingests the next range of confirmed blocks; None when there is no deployment.

    Locks the Deployment row (the cursor) while applying. Raises RpcUnavailable when the
    Ethereum node is down (nothing is changed then).
    """
    deployment = Deployment.objects.first()
    if deployment is None:
        return None
    client = chain()
    target = confirmed_head(client.block_number())
    start = deployment.synced_block + 1
    end = min(target, start + max_blocks - 1)
    if end < start:
        return IngestResult(start, start - 1, 0)

    registry_logs = client.logs([deployment.token_network_registry, deployment.secret_registry], start, end)
    decoded = [log for log in map(decode_log, registry_logs) if log is not None]
    network_addresses = set(TokenNetwork.objects.values_list("address", flat=True))
    network_addresses.update(log.args["token_network_address"] for log in decoded if log.name == "TokenNetworkCreated")
    if network_addresses:
        decoded.extend(
            log for log in map(decode_log, client.logs(sorted(network_addresses), start, end)) if log is not None
        )
    decoded.sort(key=lambda log: (log.block_number, log.log_index))
    end_hash = client.block(end)["hash"]

    with transaction.atomic():
        cursor = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if cursor.synced_block >= end:
            return IngestResult(start, cursor.synced_block, 0)  # another process got here first
        applied = 0
        for log in decoded:
            if log.block_number > cursor.synced_block and event_apply(log):
                applied += 1
        cursor.synced_block = end
        cursor.synced_block_hash = end_hash
        cursor.synced_at = timezone.now()
        cursor.save(update_fields=["synced_block", "synced_block_hash", "synced_at"])
    if applied:
        logger.info("ingested blocks %s..%s: %s events", start, end, applied)
    return IngestResult(start, end, applied)


def chain_ingest_all() -> int:
    """Ingests until the cursor reaches the confirmed head; the number of blocks covered."""
    covered = 0
    while True:
        result = chain_ingest()
        if result is None or not result.advanced:
            return covered
        covered += result.to_block - result.from_block + 1


_ingest_lock = threading.Lock()


def chain_ingest_if_idle() -> None:
    """Ingests unless another thread of this process is ingesting (waiting API calls use it)."""
    if not _ingest_lock.acquire(blocking=False):
        return
    try:
        chain_ingest()
    except RpcUnavailable:
        pass
    finally:
        _ingest_lock.release()


# --- applying one log -----------------------------------------------------------------------


def event_apply(log: ChainLog) -> bool:
    """Stores ``log`` once and applies it; False when it was stored before (nothing done)."""
    token_network = None
    if log.name != "TokenNetworkCreated" and log.name != "SecretRevealed":
        token_network = TokenNetwork.objects.filter(address=log.address).first()
    channel_identifier = log.args.get("channel_identifier")
    _, created = ChainEvent.objects.get_or_create(
        transaction_hash=log.transaction_hash,
        log_index=log.log_index,
        defaults=dict(
            block_number=log.block_number,
            block_hash=log.block_hash,
            address=log.address,
            name=log.name,
            args=log.args_json(),
            token_network=token_network,
            channel_identifier=channel_identifier,
        ),
    )
    if not created:
        return False
    handler = _HANDLERS.get(log.name)
    if handler is not None:
        if token_network is None and log.name not in ("TokenNetworkCreated", "SecretRevealed"):
            logger.warning("%s from unknown contract %s ignored", log.name, log.address)
            return True
        handler(log, token_network)
    return True


def _network_channel(token_network: TokenNetwork, identifier: int) -> NetworkChannel | None:
    return NetworkChannel.objects.select_for_update().filter(token_network=token_network, identifier=identifier).first()


def _apply_token_network_created(log: ChainLog, _: TokenNetwork | None) -> None:
    TokenNetwork.objects.get_or_create(
        token_address=log.args["token_address"],
        defaults={"address": log.args["token_network_address"], "created_block": log.block_number},
    )


def _reveal_timeout_for(node: Node, token_network: TokenNetwork, partner: str) -> int:
    """The reveal timeout the node asked for when it opened this channel, else the default."""
    op = (
        ChainOperation.objects.filter(
            node=node,
            kind=ChainOperation.Kind.CHANNEL_OPEN,
            args__token_network=token_network.address,
            args__partner=partner,
        )
        .order_by("-id")
        .first()
    )
    if op is not None and op.args.get("reveal_timeout"):
        return int(op.args["reveal_timeout"])
    return settings.RAIDEN_DEFAULT_REVEAL_TIMEOUT


def node_channels_adopt(node: Node) -> list[Channel]:
    """Channel rows for the channels a new node's address already has on chain (a key imported
    from elsewhere): ingestion only creates rows for events it applies after the node exists.
    The off-chain state is unknown here (none of our balance proofs), so such a channel starts
    from its on-chain deposits; closing and settling work from there."""
    known = NetworkChannel.objects.filter(Q(participant1=node.address) | Q(participant2=node.address)).exclude(
        state=NetworkChannel.State.SETTLED
    )
    return [row for nc in known.select_related("token_network") for row in channel_rows_create(nc, [node])]


def channel_rows_create(network_channel: NetworkChannel, nodes: list[Node] | None = None) -> list[Channel]:
    """Creates the Channel rows of the co-hosted participants of ``network_channel``."""
    participants = (network_channel.participant1, network_channel.participant2)
    if nodes is None:
        nodes = list(Node.objects.filter(address__in=participants))
    created = []
    for node in nodes:
        is_participant1 = node.address == network_channel.participant1
        partner = network_channel.participant2 if is_participant1 else network_channel.participant1
        channel, was_created = Channel.objects.get_or_create(
            node=node,
            network_channel=network_channel,
            defaults=dict(
                partner_address=partner,
                is_participant1=is_participant1,
                reveal_timeout=_reveal_timeout_for(node, network_channel.token_network, partner),
            ),
        )
        if was_created:
            created.append(channel)
    return created


def _apply_channel_opened(log: ChainLog, token_network: TokenNetwork) -> None:
    network_channel, _ = NetworkChannel.objects.get_or_create(
        token_network=token_network,
        identifier=log.args["channel_identifier"],
        defaults=dict(
            participant1=log.args["participant1"],
            participant2=log.args["participant2"],
            settle_timeout=log.args["settle_timeout"],
            opened_block=log.block_number,
        ),
    )
    channel_rows_create(network_channel)


def _apply_new_deposit(log: ChainLog, token_network: TokenNetwork) -> None:
    nc = _network_channel(token_network, log.args["channel_identifier"])
    if nc is None:
        return
    total = log.args["total_deposit"]
    if nc.side(log.args["participant"]) == 1:
        nc.participant1_deposit = max(nc.participant1_deposit, total)
    else:
        nc.participant2_deposit = max(nc.participant2_deposit, total)
    nc.save(update_fields=["participant1_deposit", "participant2_deposit"])


def _apply_withdraw(log: ChainLog, token_network: TokenNetwork) -> None:
    nc = _network_channel(token_network, log.args["channel_identifier"])
    if nc is None:
        return
    total = log.args["total_withdraw"]
    participant = log.args["participant"]
    if nc.side(participant) == 1:
        nc.participant1_withdrawn = max(nc.participant1_withdrawn, total)
    else:
        nc.participant2_withdrawn = max(nc.participant2_withdrawn, total)
    nc.save(update_fields=["participant1_withdrawn", "participant2_withdrawn"])
    # Off-chain withdraws up to this total are done: they no longer reduce the balance twice.
    for channel in Channel.objects.select_for_update().select_related("node").filter(network_channel=nc).order_by("pk"):
        field = "our_withdraws" if channel.node.address == participant else "partner_withdraws"
        pending = [w for w in getattr(channel, field) if int(w[0]) > total]
        if pending != getattr(channel, field):
            Channel.objects.filter(pk=channel.pk).update(**{field: pending})


def _apply_channel_closed(log: ChainLog, token_network: TokenNetwork) -> None:
    nc = _network_channel(token_network, log.args["channel_identifier"])
    if nc is None:
        return
    closer = log.args["closing_participant"]
    nc.state = NetworkChannel.State.CLOSED
    nc.closed_block = log.block_number
    nc.closing_participant = closer
    # The close stores the non-closer's balance proof (as the closer submitted it).
    if nc.side(closer) == 1:
        nc.participant2_nonce = log.args["nonce"]
        nc.participant2_balance_hash = "0x" + log.args["balance_hash"].hex()
    else:
        nc.participant1_nonce = log.args["nonce"]
        nc.participant1_balance_hash = "0x" + log.args["balance_hash"].hex()
    nc.save()
    Channel.objects.filter(network_channel=nc, local_state=Channel.LocalState.WAITING_FOR_CLOSE).update(
        local_state=Channel.LocalState.NONE
    )


def _apply_balance_proof_updated(log: ChainLog, token_network: TokenNetwork) -> None:
    nc = _network_channel(token_network, log.args["channel_identifier"])
    if nc is None:
        return
    # The update replaces the closer's stored balance proof.
    if nc.side(log.args["closing_participant"]) == 1:
        nc.participant1_nonce = log.args["nonce"]
        nc.participant1_balance_hash = "0x" + log.args["balance_hash"].hex()
    else:
        nc.participant2_nonce = log.args["nonce"]
        nc.participant2_balance_hash = "0x" + log.args["balance_hash"].hex()
    nc.save()


def _apply_channel_settled(log: ChainLog, token_network: TokenNetwork) -> None:
    nc = _network_channel(token_network, log.args["channel_identifier"])
    if nc is None:
        return
    nc.state = NetworkChannel.State.SETTLED
    nc.settled_block = log.block_number
    first_is_1 = log.args["participant1"] == nc.participant1
    amounts = (log.args["participant1_amount"], log.args["participant2_amount"])
    roots = ("0x" + log.args["participant1_locksroot"].hex(), "0x" + log.args["participant2_locksroot"].hex())
    if not first_is_1:
        amounts, roots = amounts[::-1], roots[::-1]
    nc.participant1_settled_amount, nc.participant2_settled_amount = amounts
    nc.participant1_locksroot, nc.participant2_locksroot = roots
    nc.save()
    Channel.objects.filter(network_channel=nc).exclude(local_state=Channel.LocalState.NONE).update(
        local_state=Channel.LocalState.NONE
    )


def _apply_deprecation_switch(log: ChainLog, token_network: TokenNetwork) -> None:
    TokenNetwork.objects.filter(pk=token_network.pk).update(deprecated=bool(log.args["new_value"]))


_HANDLERS = {
    "TokenNetworkCreated": _apply_token_network_created,
    "ChannelOpened": _apply_channel_opened,
    "ChannelNewDeposit": _apply_new_deposit,
    "ChannelWithdraw": _apply_withdraw,
    "ChannelClosed": _apply_channel_closed,
    "NonClosingBalanceProofUpdated": _apply_balance_proof_updated,
    "ChannelSettled": _apply_channel_settled,
    "DeprecationSwitch": _apply_deprecation_switch,
    # ChannelUnlocked and SecretRevealed are kept as event rows; the duties read them.
}
