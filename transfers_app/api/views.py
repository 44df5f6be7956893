"""REST resources of API v1 for payments, pending transfers, withdraws and cooperative close.

Each action validates its input, calls one service or selector and serialises the result.
"""

from __future__ import annotations

from rest_framework.response import Response

from channels_app.api.views import ChainNodeViewSet, ChannelsViewSet, EventsViewSet
from channels_app.selectors import channel_get, token_network_by_token
from channels_app.services import channels as channel_services
from raidennode.api.fields import validate_input
from raidennode.errors import InvalidInput, NotFound
from raidennode.nodes.limits import payment_amount_check

from ..models import TokenSwap
from ..selectors import payment_events_for, pending_transfers_for
from ..services.payments import PaymentRequest, payment_initiate
from ..services.settings import cooperative_settle_enabled
from ..services.swaps import swap_register, swap_to_wire
from ..services.withdraws import channel_settle_cooperatively, channel_withdraw
from .inputs import PaymentInput, PaymentsQueryInput, TokenSwapInput
from .wire import payment_event_to_wire, payment_to_wire, pending_transfer_to_wire


class PaymentsViewSet(ChainNodeViewSet):
    def create(self, request, token_address, target_address, **kwargs):
        data = validate_input(PaymentInput, self.json_body(request))
        paths = [entry["route"] for entry in data["paths"]] if data.get("paths") else None
        payment_amount_check(request.node, token_address, data["amount"])
        payment = payment_initiate(
            request.node,
            PaymentRequest(
                token_address=token_address,
                target=target_address,
                amount=data["amount"],
                identifier=data.get("identifier"),
                secret=data.get("secret"),
                secrethash=data.get("secret_hash"),
                lock_timeout=data.get("lock_timeout"),
                paths=paths,
            ),
        )
        return Response(payment_to_wire(payment, token_address))

    def list(self, request, token_address=None, target_address=None, **kwargs):
        query = validate_input(PaymentsQueryInput, request.query_params.dict())
        for key in ("limit", "offset"):
            if query.get(key, 0) < 0:
                raise InvalidInput(f"{key} must be a positive integer")
        token_network = None
        if token_address is not None:
            token_network = token_network_by_token(token_address)
            if token_network is None:
                raise InvalidInput("Token address does not match a Raiden token network")
        if target_address == request.node.address:
            return Response([])
        events = payment_events_for(
            request.node, token_network, target_address, limit=query.get("limit"), offset=query.get("offset", 0)
        )
        return Response([payment_event_to_wire(event) for event in events])


class PendingTransfersViewSet(ChainNodeViewSet):
    def list(self, request, token_address=None, partner_address=None, **kwargs):
        token_network = None
        if token_address is not None:
            token_network = token_network_by_token(token_address)
            if token_network is None:
                raise NotFound(f"Token {token_address} not found.")
        if partner_address is not None and channel_get(request.node, token_address, partner_address) is None:
            raise NotFound("Channel with partner `partner_address not found.`")
        rows = pending_transfers_for(request.node, token_network, partner_address)
        return Response([pending_transfer_to_wire(row) for row in rows])


class PaymentChannelsViewSet(ChannelsViewSet):
    """PATCH /channels/<t>/<p> with withdraws and the cooperative settle before a close."""

    def channel_withdraw(self, node, channel, total_withdraw: int):
        return channel_withdraw(node, channel, total_withdraw)

    def channel_close(self, node, channel):
        cooperative = channel.state == "opened" and cooperative_settle_enabled()
        if cooperative and channel_settle_cooperatively(node, channel):
            return None
        return channel_services.channel_close(node, channel)


class TokenSwapsViewSet(ChainNodeViewSet):
    """PUT /token_swaps/<partner>/<identifier> of the older API: 201 when the swap is registered
    (the maker's payment has started); the swaps end on their own (transfers_app.services.swaps)."""

    def register(self, request, target_address, identifier, **kwargs):
        data = validate_input(TokenSwapInput, self.json_body(request))
        swap, created = swap_register(
            request.node,
            partner=target_address,
            identifier=int(identifier),
            role=data["role"],
            sending_token=data["sending_token"],
            sending_amount=data["sending_amount"],
            receiving_token=data["receiving_token"],
            receiving_amount=data["receiving_amount"],
        )
        return Response(swap_to_wire(swap), status=201 if created else 200)

    def retrieve(self, request, target_address, identifier, **kwargs):
        swap = TokenSwap.objects.filter(node=request.node, partner=target_address, identifier=int(identifier)).first()
        if swap is None:
            raise NotFound("No token swap with this partner and identifier")
        return Response(swap_to_wire(swap))


class PaymentEventsViewSet(EventsViewSet):
    """GET /events/channels/<t>/<p> of the older API, with the node's payment events.

    The payment events are those of GET /payments/<t>/<p> (payments sent to the partner, received
    from it) in v1's shapes plus the older API's ``event_type``; they have ``log_time``, no block
    number, so ``from_block`` and ``to_block`` do not filter them (docs/api.md).
    """

    def offchain_events(self, node, token_network, partner_address):
        events = []
        for row in payment_events_for(node, token_network, partner_address):
            wire = payment_event_to_wire(row)
            events.append((row.finished_at, {"event_type": wire["event"], **wire}))
        return events
