"""REST resources of API v1 for node info, tokens, channels, connections and the UDC.

Each action validates its input, calls one service or selector and serialises the result.
"""

from __future__ import annotations

import heapq

from django.conf import settings
from rest_framework.response import Response

from raidennode.api.base import NodeViewSet
from raidennode.api.errors import SERVICE_UNAVAILABLE
from raidennode.api.fields import validate_input
from raidennode.errors import Conflict, InvalidInput, NotFound, NotSupported, ServiceUnavailable
from raidennode.nodes.services import node_stop, notifications_drain
from raidennode.protocol.constants import CONTRACTS_VERSION, RAIDEN_VERSION

from ..models import Deployment, TokenNetwork
from ..selectors import (
    channel_events_in,
    channel_get,
    channel_views_for,
    connections_for,
    network_events_in,
    token_addresses,
    token_network_by_token,
    token_network_events_in,
)
from ..services import channels as channel_services
from ..services.connections import (
    DEFAULT_INITIAL_CHANNEL_TARGET,
    DEFAULT_JOINABLE_FUNDS_TARGET,
    connection_funds,
    connection_join,
    connection_leave,
)
from ..services.status import node_status
from ..services.tokens import token_mint, token_register
from ..services.user_deposit import udc_deposit, udc_plan_withdraw, udc_withdraw
from .inputs import (
    ChannelOpenInput,
    ChannelPatchInput,
    ConnectionConnectInput,
    EventsQueryInput,
    MintInput,
    UserDepositInput,
)
from .wire import chain_event_to_wire, channel_to_wire, partner_to_wire


class ChainNodeViewSet(NodeViewSet):
    """A node resource that needs the chain deployment to be configured."""

    def ready_check(self, request) -> None:
        deployment = Deployment.objects.first()
        if deployment is None:
            raise ServiceUnavailable(SERVICE_UNAVAILABLE)
        request.deployment = deployment


class AddressViewSet(ChainNodeViewSet):
    def retrieve(self, request, **kwargs):
        return Response({"our_address": request.node.address})


class VersionViewSet(ChainNodeViewSet):
    def retrieve(self, request, **kwargs):
        return Response({"version": RAIDEN_VERSION})


class SettingsViewSet(ChainNodeViewSet):
    def retrieve(self, request, **kwargs):
        return Response({"pathfinding_service_address": settings.RAIDEN_PFS_URL})


class ContractsViewSet(ChainNodeViewSet):
    def retrieve(self, request, **kwargs):
        d = request.deployment
        return Response(
            {
                "contracts_version": CONTRACTS_VERSION,
                "token_network_registry_address": d.token_network_registry,
                "secret_registry_address": d.secret_registry,
                "service_registry_address": d.service_registry,
                "user_deposit_address": d.user_deposit,
                "monitoring_service_address": d.monitoring_service,
                "one_to_n_address": d.one_to_n,
            }
        )


class StatusViewSet(ChainNodeViewSet):
    requires_ready = False

    def retrieve(self, request, **kwargs):
        return Response(node_status())


class ShutdownViewSet(ChainNodeViewSet):
    def create(self, request, **kwargs):
        node_stop(request.node)
        return Response({"status": "shutdown"})


class TokensViewSet(ChainNodeViewSet):
    def list(self, request, **kwargs):
        return Response(token_addresses())

    def retrieve(self, request, token_address, **kwargs):
        token_network = token_network_by_token(token_address)
        if token_network is None:
            raise NotFound(f'No token network registered for token "{token_address}"')
        return Response(token_network.address)

    def register(self, request, token_address, **kwargs):
        token_network = token_register(request.node, token_address)
        # channel_manager_address: the older API's name (seed 002) for the same contract.
        return Response(
            {"token_network_address": token_network.address, "channel_manager_address": token_network.address},
            status=201,
        )

    def partners(self, request, token_address, **kwargs):
        views = channel_views_for(request.node, token_address)
        return Response([partner_to_wire(view, request.api_prefix) for view in views])

    def mint(self, request, token_address, **kwargs):
        data = validate_input(MintInput, self.json_body(request))
        transaction_hash = token_mint(request.node, token_address, data["to"], data["value"])
        return Response({"transaction_hash": transaction_hash})


PATCH_PAIRS = (
    ("reveal_timeout", "state", "Can not update a channel's reveal timeout and state at the same time"),
    ("total_deposit", "state", "Can not update a channel's total deposit and state at the same time"),
    ("total_withdraw", "state", "Can not update a channel's total withdraw and state at the same time"),
    ("total_withdraw", "total_deposit", "Can not update a channel's total withdraw and total deposit at the same time"),
    ("reveal_timeout", "total_deposit", "Can not update a channel's reveal timeout and total deposit at the same time"),
    (
        "reveal_timeout",
        "total_withdraw",
        "Can not update a channel's reveal timeout and total withdraw at the same time",
    ),
)


class ChannelsViewSet(ChainNodeViewSet):
    def list(self, request, token_address=None, **kwargs):
        return Response([channel_to_wire(view) for view in channel_views_for(request.node, token_address)])

    def retrieve(self, request, token_address, partner_address, **kwargs):
        channel = channel_get(request.node, token_address, partner_address)
        if channel is None:
            raise NotFound(f"Channel with partner '{partner_address}' for token '{token_address}' could not be found.")
        return Response(channel_to_wire(channel))

    def open(self, request, **kwargs):
        data = validate_input(ChannelOpenInput, self.json_body(request))
        result = channel_services.channel_open(
            request.node,
            data["token_address"],
            data["partner_address"],
            settle_timeout=data.get("settle_timeout"),
            reveal_timeout=data.get("reveal_timeout"),
            total_deposit=data.get("total_deposit"),
        )
        return Response(channel_to_wire(result.channel), status=201 if result.created else 200)

    # Not named ``patch``: DRF dispatches an HTTP method to the view attribute of that name,
    # so an action called ``patch`` would also answer PATCH /channels and /channels/<t>.
    def update_channel(self, request, token_address, partner_address, **kwargs):
        data = validate_input(ChannelPatchInput, self.json_body(request))
        for first, second, message in PATCH_PAIRS:
            if first in data and second in data:
                raise Conflict(message)
        if data.get("total_deposit", 0) < 0:
            raise Conflict("Amount to deposit must not be negative.")
        if data.get("total_withdraw", 0) < 0:
            raise Conflict("Amount to withdraw must not be negative.")
        if not data:
            raise InvalidInput(
                "Nothing to do. Should either provide 'total_deposit', 'total_withdraw', "
                "'reveal_timeout' or 'state' argument"
            )
        node = request.node
        channel = channel_get(node, token_address, partner_address)
        if channel is None:
            raise Conflict(f"Requested channel for token {token_address} and partner {partner_address} not found")
        if "total_deposit" in data:
            channel = channel_services.channel_deposit(node, channel, data["total_deposit"])
        elif "total_withdraw" in data:
            channel = self.channel_withdraw(node, channel, data["total_withdraw"])
        elif "reveal_timeout" in data:
            channel = channel_services.channel_reveal_timeout_update(node, channel, data["reveal_timeout"])
        elif data["state"] == "closed":
            channel = self.channel_close(node, channel)
            if channel is None:
                return Response(None)  # settled cooperatively: Raiden answers null
        elif data["state"] == "settled":
            channel = channel_services.channel_settle(node, channel)
        else:
            raise InvalidInput(f"Provided invalid channel state {data['state']}")
        return Response(channel_to_wire(channel))

    # Withdrawing and cooperative settling need the payment protocol: transfers_app's subclass
    # (served on the same route) provides them, keeping this app free of it.
    def channel_withdraw(self, node, channel, total_withdraw: int):
        raise NotSupported("Withdrawing from a channel is not supported by this node.")

    def channel_close(self, node, channel):
        """Closes on chain; the updated channel, or None when it was settled cooperatively."""
        return channel_services.channel_close(node, channel)


class NotificationsViewSet(ChainNodeViewSet):
    def list(self, request, **kwargs):
        return Response(notifications_drain(request.node))


class ConnectionsViewSet(ChainNodeViewSet):
    def list(self, request, **kwargs):
        summary = connections_for(request.node)
        funds = connection_funds(request.node)
        return Response(
            {
                token: {
                    # the older API's key: funds of the last connect, "0" when the node never connected
                    "funds": str(funds.get(token, 0)),
                    "sum_deposits": str(entry["sum_deposits"]),
                    "channels": str(entry["channels"]),
                }
                for token, entry in summary.items()
            }
        )

    def connect(self, request, token_address, **kwargs):
        """The older API's PUT /connections/<t>: 204 once every open and deposit is confirmed."""
        data = validate_input(ConnectionConnectInput, self.json_body(request))
        connection_join(
            request.node,
            token_address,
            data["funds"],
            initial_channel_target=data.get("initial_channel_target", DEFAULT_INITIAL_CHANNEL_TARGET),
            joinable_funds_target=data.get("joinable_funds_target", DEFAULT_JOINABLE_FUNDS_TARGET),
        )
        return Response(status=204)

    def leave(self, request, token_address, **kwargs):
        channels = connection_leave(request.node, token_address)
        return Response([channel_to_wire(c) for c in channels])


class UserDepositViewSet(ChainNodeViewSet):
    def create(self, request, **kwargs):
        data = validate_input(UserDepositInput, self.json_body(request))
        deposit, planned, withdraw = (
            data.get("total_deposit"),
            data.get("planned_withdraw_amount"),
            data.get("withdraw_amount"),
        )
        if deposit is not None and planned is not None:
            raise InvalidInput("Cannot deposit to UDC and plan a withdraw at the same time")
        if deposit is not None and withdraw is not None:
            raise InvalidInput("Cannot deposit to UDC and withdraw at the same time")
        if withdraw is not None and planned is not None:
            raise InvalidInput("Cannot withdraw from UDC and plan a withdraw at the same time")
        node = request.node
        if deposit is not None:
            return Response(udc_deposit(node, deposit))
        if planned is not None:
            return Response(udc_plan_withdraw(node, planned))
        if withdraw is not None:
            return Response(udc_withdraw(node, withdraw))
        raise InvalidInput(
            "Nothing to do. Should either provide 'total_deposit', 'planned_withdraw_amount' or "
            "'withdraw_amount' argument"
        )


# --- the older API's events (seeds/002, "Querying Events") ------------------------------------
# Chain events as this deployment ingested them (ChainEvent), in the older document's shapes
# (wire.chain_event_to_wire): its event names where today's contracts have an equivalent, the
# event's arguments under their contract names (integers as decimal strings, as everywhere in API
# v1), and ``event_type`` and ``block_number`` (a JSON number) on every event.


class EventsViewSet(ChainNodeViewSet):
    """GET /events/network, /events/tokens/<t> and /events/channels/<t>/<p> of the older API.

    Lists what ingestion stored (confirmed blocks only), oldest first. The channel route lists the
    chain events of every channel the node has had with the partner in that token network (settled
    ones too), merged with ``offchain_events`` (transfers_app's subclass adds the payment events).
    """

    def network_events(self, request, **kwargs):
        from_block, to_block = self.block_bounds(request)
        rows = network_events_in(request.deployment.token_network_registry, from_block, to_block)
        return Response([chain_event_to_wire(name, args, block, None) for name, args, block, _ in rows])

    def token_events(self, request, token_address, **kwargs):
        from_block, to_block = self.block_bounds(request)
        token_network = self.token_network_get(token_address)
        rows = token_network_events_in(token_network, from_block, to_block)
        return Response(
            [chain_event_to_wire(name, args, block, token_network.address) for name, args, block, _ in rows]
        )

    def channel_events(self, request, token_address, partner_address, **kwargs):
        from_block, to_block = self.block_bounds(request)
        token_network = self.token_network_get(token_address)
        rows = channel_events_in(request.node, token_network, partner_address, from_block, to_block)
        if rows is None:
            raise NotFound(f"Channel with partner '{partner_address}' for token '{token_address}' could not be found.")
        chain_events = [
            (recorded, chain_event_to_wire(name, args, block, token_network.address))
            for name, args, block, recorded in rows
        ]
        offchain = self.offchain_events(request.node, token_network, partner_address)
        # In the order the node recorded them; chain events keep their chain order among themselves.
        return Response([event for _, event in heapq.merge(chain_events, offchain, key=lambda item: item[0])])

    def offchain_events(self, node, token_network: TokenNetwork, partner_address: str) -> list[tuple]:
        """(time recorded, event) of what the node did off chain with the partner, oldest first."""
        return []

    @staticmethod
    def block_bounds(request) -> tuple[int, int | None]:
        """``from_block`` (default 0) and ``to_block`` (default none), both inclusive; a repeated
        parameter counts with its first value, an unknown one is refused (as Raiden's query schemas)."""
        params = request.query_params
        query = validate_input(EventsQueryInput, {key: params.getlist(key)[0] for key in params})
        return query.get("from_block", 0), query.get("to_block")

    @staticmethod
    def token_network_get(token_address: str) -> TokenNetwork:
        token_network = token_network_by_token(token_address)
        if token_network is None:
            raise NotFound(f'No token network registered for token "{token_address}"')
        return token_network
