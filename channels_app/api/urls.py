"""Routes of API v1 served by channels_app (paths are relative to an API prefix)."""

from django.urls import path

from . import views

urlpatterns = [
    path("address", views.AddressViewSet.as_view({"get": "retrieve"})),
    path("version", views.VersionViewSet.as_view({"get": "retrieve"})),
    path("settings", views.SettingsViewSet.as_view({"get": "retrieve"})),
    path("contracts", views.ContractsViewSet.as_view({"get": "retrieve"})),
    path("status", views.StatusViewSet.as_view({"get": "retrieve"})),
    path("shutdown", views.ShutdownViewSet.as_view({"post": "create"})),
    path("tokens", views.TokensViewSet.as_view({"get": "list"})),
    path("tokens/<addr:token_address>", views.TokensViewSet.as_view({"get": "retrieve", "put": "register"})),
    path("tokens/<addr:token_address>/partners", views.TokensViewSet.as_view({"get": "partners"})),
    path("channels", views.ChannelsViewSet.as_view({"get": "list", "put": "open"})),
    path("channels/<addr:token_address>", views.ChannelsViewSet.as_view({"get": "list"})),
    path(
        "channels/<addr:token_address>/<addr:partner_address>",
        views.ChannelsViewSet.as_view({"get": "retrieve", "patch": "update_channel"}),
    ),
    path("connections", views.ConnectionsViewSet.as_view({"get": "list"})),
    path("connections/<addr:token_address>", views.ConnectionsViewSet.as_view({"put": "connect", "delete": "leave"})),
    path("notifications", views.NotificationsViewSet.as_view({"get": "list"})),
    path("user_deposit", views.UserDepositViewSet.as_view({"post": "create"})),
    path("_testing/tokens/<addr:token_address>/mint", views.TokensViewSet.as_view({"post": "mint"})),
    # the older API's events (seeds/002); transfers_app serves the channel route with payment events
    path("events/network", views.EventsViewSet.as_view({"get": "network_events"})),
    path("events/tokens/<addr:token_address>", views.EventsViewSet.as_view({"get": "token_events"})),
    path(
        "events/channels/<addr:token_address>/<addr:partner_address>",
        views.EventsViewSet.as_view({"get": "channel_events"}),
    ),
]
