"""URL configuration.

Every co-hosted node serves Raiden's API v1 at /nodes/<EIP-55 address>/api/v1/...; the default
node (RAIDEN_DEFAULT_NODE, else the oldest) also at /api/v1/.... The same routes are served
under /api/1/ (the prefix of the older API documentation in the seeds).
"""

from django.contrib import admin
from django.urls import include, path, register_converter

from raidennode.api.converters import AddressSegmentConverter
from raidennode.api.schema_views import DocsView, SchemaView

register_converter(AddressSegmentConverter, "addr")

api_routes = [
    path("", include("transfers_app.api.urls")),
    path("", include("channels_app.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    # the WebUI at /ui/, its web3 proxy at /web3, login at /accounts/ (raidennode.webui)
    path("", include("raidennode.webui.urls")),
    # The OpenAPI document and its HTML page: not node resources (no credentials, no node).
    path("api/v1/schema", SchemaView.as_view(), name="api-schema"),
    path("api/v1/docs", DocsView.as_view(), name="api-docs"),
]
for prefix in ("api/v1/", "api/1/"):
    urlpatterns += [
        path(prefix, include(api_routes)),
        path(f"nodes/<addr:node_address>/{prefix}", include(api_routes)),
    ]

handler404 = "raidennode.api.errors.not_found_view"
handler500 = "raidennode.api.errors.server_error_view"
