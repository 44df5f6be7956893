"""Opening, funding, closing and settling channels, and leaving a token network.

Each service validates in the order Raiden's API does (so the first failing check decides the
status code), writes its chain operation in one DB transaction, blocks until the operation is
done and then until the confirmed chain event has been applied: the channel a service returns
reflects the chain, not a receipt.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from raidennode.chain.errors import RpcUnavailable, TransactionReverted
from raidennode.chain.proxies import TokenNetworkProxy, TokenProxy
from raidennode.errors import Conflict, InsufficientFunds, NotFound, ServiceError
from raidennode.nodes.models import Node
from raidennode.protocol.constants import UINT256_MAX, minimum_reveal_timeout

from ..models import ChainOperation, Channel, NetworkChannel, TokenNetwork
from ..selectors import channel_by_pk, channel_get, channel_list_for, token_network_by_token
from .chain import chain, deployment_get, rpc_unavailable_error
from .operations import operation_create, operation_run
from .waiting import wait_for_chain

# Gas a channel's life may still need from us (open, deposit, close/update, settle, unlock),
# priced at the current fee: the reserve Raiden keeps before opening another channel.
GAS_PER_CHANNEL_LIFECYCLE = 650_000

SETTLE_TIMEOUT_TOO_SMALL = (
    "`settle_timeout` can not be smaller than double the `reveal_timeout`.\n\n"
    "The setting `reveal_timeout` determines the maximum number of blocks it should take a "
    "transaction to be mined when the blockchain is under congestion. This setting determines "
    "the when a node must go on-chain to register a secret, and it is therefore the lower bound "
    "of the lock expiration. The `settle_timeout` determines when a channel can be settled "
    "on-chain, for this operation to be safe all locks must have been resolved, for this reason "
    "the `settle_timeout` has to be larger than `reveal_timeout`."
)


@dataclass(frozen=True)
class ChannelOpenResult:
    channel: Channel
    created: bool


def _serial_channel(network_channel: NetworkChannel) -> str:
    return f"channel:{network_channel.token_network.address}:{network_channel.identifier}"


def _serial_pair(token_network: TokenNetwork, a: str, b: str) -> str:
    # Opens between the same two participants (both co-hosted, racing) must not both be sent.
    first, second = sorted((a.lower(), b.lower()))
    return f"pair:{token_network.address}:{first}:{second}"


def _serial_spend(node: Node, token_address: str) -> str:
    # Deposits (and opens with a deposit) of one node in one token approve and spend from the
    # same allowance: they must not interleave.
    return f"spend:{node.pk}:{token_address}"


def reveal_timeout_validate(reveal_timeout: int, settle_timeout: int, chain_id: int) -> None:
    """Raises Conflict with Raiden's messages for an unusable reveal/settle timeout pair."""
    minimum = minimum_reveal_timeout(chain_id)
    if reveal_timeout <= 0:
        raise Conflict("reveal_timeout should be larger than zero.")
    if reveal_timeout < minimum:
        raise Conflict(f"reveal_timeout is lower than the required minimum value of {minimum}")
    if settle_timeout < 2 * reveal_timeout:
        raise Conflict(SETTLE_TIMEOUT_TOO_SMALL)


def _token_balance(node: Node, token_address: str) -> int:
    """The node's balance of the token; Conflict (409) for a contract that is no ERC20 token."""
    try:
        return TokenProxy(chain(), token_address).balance_of(node.address)
    except (TransactionReverted, ValueError) as exc:
        raise Conflict("Given token address does not follow the ERC20 standard (missing `balanceOf()`)") from exc


def _deposit_limits_check(
    network: TokenNetworkProxy, token: TokenProxy, channel_total: int, increase: int, total: int
) -> None:
    if token.balance_of(network.address) + increase > network.token_network_deposit_limit():
        raise Conflict(f"Deposit of {increase} would have exceeded the token network deposit limit.")
    if total > network.channel_participant_deposit_limit():
        raise Conflict(f"Deposit of {total} is larger than the channel participant deposit limit")
    if channel_total + increase >= UINT256_MAX:
        raise Conflict("Deposit overflow")


def _gas_reserve_check(node: Node) -> None:
    client = chain()
    open_channels = Channel.objects.filter(node=node, network_channel__state=NetworkChannel.State.OPENED).count()
    max_fee, _ = client.fees()
    required = (open_channels + 1) * GAS_PER_CHANNEL_LIFECYCLE * max_fee
    if client.balance(node.address) < required:
        raise InsufficientFunds(
            "The account balance is below the estimated amount necessary to finish the lifecycles "
            f"of all active channels. A balance of at least {required} wei is required."
        )


def channel_open(
    node: Node,
    token_address: str,
    partner_address: str,
    settle_timeout: int | None = None,
    reveal_timeout: int | None = None,
    total_deposit: int | None = None,
) -> ChannelOpenResult:
    """Opens a channel (with its first deposit in the same transaction when one is given).

    Blocks until ChannelOpened (and the deposit) are confirmed and applied. An open channel
    with the partner is returned as it is (created=False), after the deposit if one is given.
    Raises Conflict, InsufficientFunds, RequestTimeout, ServiceUnavailable.
    """
    try:
        return _channel_open(node, token_address, partner_address, settle_timeout, reveal_timeout, total_deposit)
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc


def _channel_open(node, token_address, partner_address, settle_timeout, reveal_timeout, total_deposit):
    deployment = deployment_get()
    client = chain()
    settle_timeout = settings.RAIDEN_DEFAULT_SETTLE_TIMEOUT if settle_timeout is None else settle_timeout
    reveal_timeout = settings.RAIDEN_DEFAULT_REVEAL_TIMEOUT if reveal_timeout is None else reveal_timeout
    if partner_address == node.address:
        raise Conflict("The other peer must not have the same address as the client.")
    if total_deposit is not None and total_deposit < 0:
        raise Conflict("Amount to deposit must not be negative.")
    if not client.code(token_address):
        raise Conflict(f"Address {token_address} does not contain code")
    if total_deposit:
        balance = _token_balance(node, token_address)
        if total_deposit > balance:
            raise InsufficientFunds(
                f"Not enough balance to deposit. {token_address} Available={balance} Needed={total_deposit}"
            )
    reveal_timeout_validate(reveal_timeout, settle_timeout, deployment.chain_id)
    if settle_timeout < deployment.settlement_timeout_min:
        raise Conflict(f"Settlement timeout should be at least {deployment.settlement_timeout_min}")
    if settle_timeout > deployment.settlement_timeout_max:
        raise Conflict(f"Settlement timeout exceeds max of {deployment.settlement_timeout_max}")
    token_network = token_network_by_token(token_address)
    if token_network is None:
        raise Conflict(f"Token network for token {token_address} does not exist")
    network = TokenNetworkProxy(client, token_network.address)
    if token_network.deprecated or network.deprecated():
        raise Conflict("Token network is deprecated.")

    existing = channel_get(node, token_address, partner_address)
    if existing is not None:
        if existing.state != "opened":
            raise Conflict("Channel is not in an open state.")
        return _reveal_and_deposit(node, existing, reveal_timeout, total_deposit, created=False)
    if total_deposit:
        _deposit_limits_check(network, TokenProxy(client, token_address), 0, total_deposit, total_deposit)
    _gas_reserve_check(node)

    with transaction.atomic():
        op, _ = operation_create(
            node=node,
            kind=ChainOperation.Kind.CHANNEL_OPEN,
            args={
                "token_network": token_network.address,
                "token_address": token_address,
                "partner": partner_address,
                "settle_timeout": settle_timeout,
                "reveal_timeout": reveal_timeout,
                "total_deposit": str(total_deposit or 0),
            },
            serial_key=_serial_spend(node, token_address)
            if total_deposit
            else _serial_pair(token_network, node.address, partner_address),
            subject_key=_serial_pair(token_network, node.address, partner_address),
            dedupe_key=f"open:{node.pk}:{token_network.address}:{partner_address}",
        )
    op = operation_run(op)
    identifier = int(op.result["channel_identifier"])
    channel = wait_for_chain(
        lambda: Channel.objects.filter(
            node=node, network_channel__token_network=token_network, network_channel__identifier=identifier
        ).first(),
        f"The opening of channel {identifier}",
    )
    return _reveal_and_deposit(
        node, channel, reveal_timeout, total_deposit, created=bool(op.result.get("opened_by_us"))
    )


def _reveal_and_deposit(
    node: Node, channel: Channel, reveal_timeout: int, total_deposit: int | None, created: bool
) -> ChannelOpenResult:
    if channel.reveal_timeout != reveal_timeout:
        Channel.objects.filter(pk=channel.pk).update(reveal_timeout=reveal_timeout)
    channel = channel_by_pk(channel.pk)
    if total_deposit and channel.our_deposit < total_deposit:
        channel = channel_deposit(node, channel, total_deposit)
    return ChannelOpenResult(channel, created)


def channel_deposit(node: Node, channel: Channel, total_deposit: int) -> Channel:
    """Raises the node's total deposit in ``channel`` to ``total_deposit`` (approve + setTotalDeposit).

    Two identical concurrent requests share one operation. Blocks until ChannelNewDeposit is
    confirmed and applied. Raises Conflict, InsufficientFunds, RequestTimeout, ServiceUnavailable.
    """
    try:
        return _channel_deposit(node, channel, total_deposit)
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc


def _channel_deposit(node: Node, channel: Channel, total_deposit: int) -> Channel:
    client = chain()
    nc = channel.network_channel
    token_address = nc.token_network.token_address
    if channel.state != "opened":
        raise Conflict("Can't set total deposit on a closed channel")
    network = TokenNetworkProxy(client, nc.token_network.address)
    if nc.token_network.deprecated or network.deprecated():
        raise Conflict("Token network is deprecated.")
    dedupe_key = f"deposit:{channel.pk}:{total_deposit}"
    attaching = ChainOperation.objects.filter(dedupe_key=dedupe_key, status__in=ChainOperation.LIVE_STATUSES).exists()
    if not attaching:
        if total_deposit <= channel.our_deposit:
            raise Conflict("Total deposit did not increase.")
        increase = total_deposit - channel.our_deposit
        token = TokenProxy(client, token_address)
        balance = token.balance_of(node.address)
        if increase > balance:
            raise InsufficientFunds(
                f"Not enough balance to deposit. {token_address} Available={balance} Needed={increase}"
            )
        _deposit_limits_check(network, token, channel.our_deposit + channel.partner_deposit, increase, total_deposit)

    with transaction.atomic():
        locked = Channel.objects.select_for_update().select_related("network_channel").get(pk=channel.pk)
        if locked.state != "opened":  # a close was requested since we looked
            raise Conflict("Can't set total deposit on a closed channel")
        op, _ = operation_create(
            node=node,
            kind=ChainOperation.Kind.CHANNEL_DEPOSIT,
            args={
                "token_network": nc.token_network.address,
                "token_address": token_address,
                "channel_identifier": str(nc.identifier),
                "partner": locked.partner_address,
                "total_deposit": str(total_deposit),
            },
            serial_key=_serial_spend(node, token_address),
            subject_key=_serial_channel(nc),
            dedupe_key=dedupe_key,
            channel=locked,
        )
    operation_run(op)
    return wait_for_chain(
        lambda: _with_deposit(channel.pk, total_deposit), f"The deposit of {total_deposit} in channel {nc.identifier}"
    )


def _with_deposit(channel_pk: int, total_deposit: int) -> Channel | None:
    channel = channel_by_pk(channel_pk)
    return channel if channel.our_deposit >= total_deposit else None


def channel_close(node: Node, channel: Channel) -> Channel:
    """Closes ``channel`` with the partner's latest balance proof the node holds (an empty one
    while there are no payments).

    Marks the channel waiting_for_close in the same transaction as the operation, so a second
    close is a conflict. Blocks until ChannelClosed is confirmed and applied.
    Raises Conflict, InsufficientFunds (no ETH), RequestTimeout, ServiceUnavailable.
    """
    op = channel_close_start(node, channel)
    return _channel_close_finish(channel, op)


def channel_close_start(node: Node, channel: Channel) -> ChainOperation:
    """Marks ``channel`` waiting_for_close and queues its close; returns the operation, without
    waiting for it (the operator dashboard; ``channel_close`` waits). A failed close puts the
    channel back to opened. Locks the channel row. Raises Conflict when it is not open."""
    with transaction.atomic():
        locked = Channel.objects.select_for_update().select_related("network_channel__token_network").get(pk=channel.pk)
        if locked.state != "opened":
            raise Conflict("Attempted to close an already closed channel")
        nc = locked.network_channel
        locked.local_state = Channel.LocalState.WAITING_FOR_CLOSE
        locked.save(update_fields=["local_state", "updated_at"])
        op, _ = operation_create(
            node=node,
            kind=ChainOperation.Kind.CHANNEL_CLOSE,
            args={
                "token_network": nc.token_network.address,
                "channel_identifier": str(nc.identifier),
                "partner": locked.partner_address,
            },
            serial_key=_serial_channel(nc),
            dedupe_key=f"close:{nc.token_network.address}:{nc.identifier}:{node.pk}",
            channel=locked,
        )
    return op


def _channel_close_finish(channel: Channel, op: ChainOperation) -> Channel:
    try:
        operation_run(op)  # a failed close has put the channel back to opened (operations._finish)
    except ServiceError as exc:
        if isinstance(exc, InsufficientFunds) and "insufficient ETH" not in exc.message:
            raise InsufficientFunds(f"{exc.message} (insufficient ETH)") from exc
        raise
    return wait_for_chain(lambda: _closed(channel.pk), f"The closing of channel {channel.network_channel.identifier}")


def _closed(channel_pk: int) -> Channel | None:
    channel = channel_by_pk(channel_pk)
    return channel if channel.network_channel.state != NetworkChannel.State.OPENED else None


def channel_settle(node: Node, channel: Channel, wait: bool = True) -> Channel:
    """Settles a closed channel whose settlement window has passed.

    One settle operation per on-chain channel, whichever co-hosted participant asks (the duty
    of both nodes, a manual request). With ``wait``, blocks until ChannelSettled is applied.
    Raises Conflict while the channel is open or inside its settlement window.
    """
    nc = channel.network_channel
    if nc.state == NetworkChannel.State.SETTLED:
        return channel
    if nc.state != NetworkChannel.State.CLOSED:
        raise Conflict("The channel must be closed before it can be settled")
    try:
        head = chain().block_number()
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc
    if head <= nc.settle_block:
        raise Conflict(
            f"The channel is inside its settlement window: it can be settled after block "
            f"{nc.settle_block} (the current block is {head})"
        )
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        if locked.local_state == Channel.LocalState.NONE:
            locked.local_state = Channel.LocalState.WAITING_FOR_SETTLE
            locked.save(update_fields=["local_state", "updated_at"])
        op, _ = operation_create(
            node=node,
            kind=ChainOperation.Kind.CHANNEL_SETTLE,
            args={
                "token_network": nc.token_network.address,
                "channel_identifier": str(nc.identifier),
                "partner": locked.partner_address,
            },
            serial_key=_serial_channel(nc),
            dedupe_key=f"settle:{nc.token_network.address}:{nc.identifier}",
            channel=locked,
        )
    if not wait:
        return channel
    try:
        operation_run(op)
    except ServiceError:
        Channel.objects.filter(pk=channel.pk, local_state=Channel.LocalState.WAITING_FOR_SETTLE).update(
            local_state=Channel.LocalState.NONE
        )
        raise
    return wait_for_chain(lambda: _settled(channel.pk), f"The settlement of channel {nc.identifier}")


def _settled(channel_pk: int) -> Channel | None:
    channel = channel_by_pk(channel_pk)
    return channel if channel.network_channel.state == NetworkChannel.State.SETTLED else None


def channel_reveal_timeout_update(node: Node, channel: Channel, reveal_timeout: int) -> Channel:
    """Sets the node's local reveal timeout of an open channel (no transaction)."""
    if channel.state != "opened":
        raise Conflict("Can't update the reveal timeout of a closed channel")
    reveal_timeout_validate(reveal_timeout, channel.network_channel.settle_timeout, deployment_get().chain_id)
    Channel.objects.filter(pk=channel.pk).update(reveal_timeout=reveal_timeout)
    return channel_by_pk(channel.pk)


def token_network_leave(node: Node, token_address: str) -> list[Channel]:
    """Closes every open channel of the node in that token's network; the channels after close.

    Closes are started together and then awaited (not their settlement, as Raiden does).
    Raises NotFound for a token without a token network.
    """
    token_network: TokenNetwork | None = token_network_by_token(token_address)
    if token_network is None:
        raise NotFound(
            f"Token {token_address} is not registered with the network {deployment_get().token_network_registry}."
        )
    channels = channel_list_for(node, token_address)
    started = []
    for channel in channels:
        if channel.state == "opened":
            try:
                started.append((channel, channel_close_start(node, channel)))
            except Conflict:
                pass  # closed meanwhile by someone else
    for channel, op in started:
        _channel_close_finish(channel, op)
    return [channel_by_pk(channel.pk) for channel in channels]
