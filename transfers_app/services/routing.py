"""Routes for a payment over the open channels of co-hosted nodes.

Every hop of a route must be a node hosted here: the local transport is the only one today, so
only co-hosted nodes can receive messages. Their capacities are known exactly (the Channel rows),
and so are their mediation fees, which replaces Raiden's pathfinding service.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels_app.models import Channel, NetworkChannel, TokenNetwork
from raidennode.nodes.models import Node
from raidennode.protocol.fees import ChannelFeeView, amount_with_fees, channel_fee_view, fee_margin
from raidennode.protocol.routing import Edge, find_routes


@dataclass(frozen=True)
class ChannelHop:
    """One usable open channel of a co-hosted node, as routing sees it."""

    pk: int
    node_address: str
    partner: str
    distributable: int
    balance: int
    capacity: int
    settle_timeout: int
    reveal_timeout: int


@dataclass(frozen=True)
class Route:
    path: list[str]
    first_channel_pk: int
    # What the initiator locks on the first hop: the amount plus every mediator's fee.
    locked_amount: int


_COLUMNS = (
    "pk",
    "node__address",
    "partner_address",
    "is_participant1",
    "network_channel__participant1_deposit",
    "network_channel__participant1_withdrawn",
    "network_channel__participant2_deposit",
    "network_channel__participant2_withdrawn",
    "our_transferred",
    "our_locked",
    "our_withdraws",
    "partner_transferred",
    "partner_locked",
    "network_channel__settle_timeout",
    "reveal_timeout",
)


def _hop(row: tuple) -> ChannelHop:
    (pk, node, partner, first, d1, w1, d2, w2, sent, locked, withdraws, received, partner_locked, settle, reveal) = row
    our_deposit, our_withdrawn, partner_deposit, partner_withdrawn = (d1, w1, d2, w2) if first else (d2, w2, d1, w1)
    offchain = max((int(total) for total, _, _ in withdraws), default=0)
    balance = our_deposit - max(offchain, our_withdrawn) - sent + received
    return ChannelHop(
        pk=pk,
        node_address=node,
        partner=partner,
        distributable=max(0, balance - locked),
        balance=balance,
        capacity=our_deposit + partner_deposit - our_withdrawn - partner_withdrawn,
        settle_timeout=settle,
        reveal_timeout=reveal,
    )


def _usable_channels(token_network: TokenNetwork):
    return Channel.objects.filter(
        network_channel__token_network=token_network,
        network_channel__state=NetworkChannel.State.OPENED,
        local_state=Channel.LocalState.NONE,
        node__state=Node.State.RUNNING,
    )


def direct_hop(node: Node, token_network: TokenNetwork, target: str) -> ChannelHop | None:
    row = _usable_channels(token_network).filter(node=node, partner_address=target).values_list(*_COLUMNS).first()
    return _hop(row) if row else None


def node_hops(node: Node, token_network: TokenNetwork) -> list[ChannelHop]:
    return [_hop(row) for row in _usable_channels(token_network).filter(node=node).values_list(*_COLUMNS)]


def routes_find(
    node: Node,
    token_network: TokenNetwork,
    target: str,
    amount: int,
    paths: list[list[str]] | None = None,
    max_routes: int = 3,
) -> list[Route]:
    """Usable routes from ``node`` to ``target`` for ``amount`` (fees included), best first.

    With ``paths`` (the API's explicit routes) only those are considered, in their order.
    """
    hops = [_hop(row) for row in _usable_channels(token_network).values_list(*_COLUMNS)]
    by_pair = {(hop.node_address, hop.partner): hop for hop in hops}
    fees = {
        address: (flat, proportional, imbalance)
        for address, flat, proportional, imbalance in Node.objects.filter(
            address__in={hop.node_address for hop in hops}
        ).values_list("address", "mediation_fee_flat", "mediation_fee_proportional", "mediation_fee_imbalance")
    }

    def fee_view(hop: ChannelHop) -> ChannelFeeView:
        flat, proportional, imbalance = fees.get(hop.node_address, (0, 0, 0))
        return channel_fee_view(flat, proportional, imbalance, hop.balance, hop.capacity)

    def locked_amount_for(path: list[str]) -> int | None:
        """What the first hop must carry so that the target receives ``amount``."""
        mediators = []
        for index in range(1, len(path) - 1):
            payer = by_pair.get((path[index], path[index - 1]))
            payee = by_pair.get((path[index], path[index + 1]))
            if payer is None or payee is None:
                return None
            mediators.append((fee_view(payer), fee_view(payee)))
        if not mediators:
            return amount
        with_fees = amount_with_fees(amount, mediators)
        if with_fees is None:
            return None
        return with_fees + fee_margin(amount, with_fees - amount)

    graph: dict[str, list[Edge]] = {}
    for hop in hops:
        graph.setdefault(hop.node_address, []).append(
            Edge(
                partner=hop.partner,
                capacity=hop.distributable,
                settle_timeout=hop.settle_timeout,
                reveal_timeout=hop.reveal_timeout,
            )
        )
    if paths:
        candidates = [path for path in paths if len(path) >= 2 and path[0] == node.address and path[-1] == target]
    else:
        candidates = find_routes(graph, node.address, target, amount, max_routes=max_routes)
    routes = []
    for path in candidates:
        locked = locked_amount_for(path)
        first = by_pair.get((path[0], path[1]))
        if locked is None or first is None:
            continue
        if all(
            (hop := by_pair.get((a, b))) is not None and hop.distributable >= locked for a, b in zip(path, path[1:])
        ):
            routes.append(Route(path=list(path), first_channel_pk=first.pk, locked_amount=locked))
    return routes
