"""Reading nodes."""

from __future__ import annotations

from django.conf import settings

from .models import Node


def node_by_address(address: str) -> Node | None:
    return Node.objects.filter(address=address).first()


def node_default() -> Node | None:
    """The node served at /api/v1 without a /nodes/<address> prefix."""
    if settings.RAIDEN_DEFAULT_NODE:
        return node_by_address(settings.RAIDEN_DEFAULT_NODE)
    return Node.objects.order_by("id").first()


def node_addresses() -> set[str]:
    return set(Node.objects.values_list("address", flat=True))
