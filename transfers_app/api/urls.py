"""Routes of API v1 served by transfers_app (paths are relative to an API prefix).

Listed before channels_app's routes: PATCH /channels/<t>/<p> is served by the subclass here,
which adds withdraws and the cooperative settle.
"""

from django.urls import path

from . import views

urlpatterns = [
    path("payments", views.PaymentsViewSet.as_view({"get": "list"})),
    path("payments/<addr:token_address>", views.PaymentsViewSet.as_view({"get": "list"})),
    path(
        "payments/<addr:token_address>/<addr:target_address>",
        views.PaymentsViewSet.as_view({"get": "list", "post": "create"}),
    ),
    path("pending_transfers", views.PendingTransfersViewSet.as_view({"get": "list"})),
    path("pending_transfers/<addr:token_address>", views.PendingTransfersViewSet.as_view({"get": "list"})),
    path(
        "pending_transfers/<addr:token_address>/<addr:partner_address>",
        views.PendingTransfersViewSet.as_view({"get": "list"}),
    ),
    path(
        "channels/<addr:token_address>/<addr:partner_address>",
        views.PaymentChannelsViewSet.as_view({"get": "retrieve", "patch": "update_channel"}),
    ),
    # the older API's token swaps (seeds/002); GET tells how a swap is doing
    path(
        "token_swaps/<addr:target_address>/<int:identifier>",
        views.TokenSwapsViewSet.as_view({"put": "register", "get": "retrieve"}),
    ),
    # the older API's name for a payment (seeds/002): the same resource as POST /payments/<t>/<target>
    path("transfers/<addr:token_address>/<addr:target_address>", views.PaymentsViewSet.as_view({"post": "create"})),
    # the older API's channel events (seeds/002): chain events plus the node's payment events
    path(
        "events/channels/<addr:token_address>/<addr:partner_address>",
        views.PaymentEventsViewSet.as_view({"get": "channel_events"}),
    ),
]
