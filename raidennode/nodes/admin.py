"""Operators manage nodes here. The private key is never shown: not in lists, forms or exports."""

from django.contrib import admin, messages

from .models import Node, Notification
from .services import node_create, node_start, node_stop


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("address", "name", "owner", "state", "created_at")
    list_filter = ("state",)
    search_fields = ("address", "name", "owner__username")
    # encrypted_key is not editable and not listed here, so no form ever renders it.
    fields = (
        "address",
        "name",
        "owner",
        "state",
        "mediation_fee_flat",
        "mediation_fee_proportional",
        "mediation_fee_imbalance",
        "next_nonce",
        "created_at",
        "stopped_at",
    )
    readonly_fields = ("address", "state", "next_nonce", "created_at", "stopped_at")
    actions = ("stop_nodes", "start_nodes")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new node gets a new key through the service, which stores it encrypted.
        created = node_create(owner=obj.owner, name=obj.name)
        obj.pk = created.pk
        obj.refresh_from_db()
        messages.info(request, f"Created node {created.address}; fund it with ETH before it can open channels.")

    @admin.action(description="Stop the selected nodes (API answers 503, duties pause)")
    def stop_nodes(self, request, queryset):
        for node in queryset:
            node_stop(node)
        messages.info(request, f"Stopped {queryset.count()} node(s).")

    @admin.action(description="Start the selected nodes")
    def start_nodes(self, request, queryset):
        for node in queryset:
            node_start(node)
        messages.info(request, f"Started {queryset.count()} node(s).")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("node", "key", "summary", "urgency", "created_at")
    list_filter = ("urgency",)
    search_fields = ("node__address", "key")
    list_select_related = ("node",)
