"""Operators manage nodes here. The private key is never shown: not in lists, forms or exports."""

from django.contrib import admin, messages

from .models import ApiToken, AuditEntry, Node, Notification, PaymentLimit
from .services import node_create, node_start, node_stop
from .tokens import api_token_create, api_token_revoke


class PaymentLimitInline(admin.TabularInline):
    model = PaymentLimit
    extra = 0


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
        "requests_per_minute",
        "next_nonce",
        "created_at",
        "stopped_at",
    )
    readonly_fields = ("address", "state", "next_nonce", "created_at", "stopped_at")
    inlines = (PaymentLimitInline,)
    actions = ("stop_nodes", "start_nodes", "reencrypt_keys")

    def save_model(self, request, obj, form, change):
        if change:
            # Only what the form changed: a whole-row save from a form loaded before a key
            # rotation would write the old encrypted key back.
            if form.changed_data:
                obj.save(update_fields=form.changed_data)
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

    @admin.action(description="Re-encrypt keys with the current key")
    def reencrypt_keys(self, request, queryset):
        # Key rotation for the selected nodes (manage.py rotatekeys does every node).
        from .custody import keys_rotate
        from .keys import KeyDecryptionError

        try:
            rotated = keys_rotate(queryset)
        except KeyDecryptionError as exc:
            messages.error(request, str(exc))
            return
        messages.info(request, f"Re-encrypted {rotated} of {queryset.count()} key(s) with the current key.")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("node", "key", "summary", "urgency", "created_at")
    list_filter = ("urgency",)
    search_fields = ("node__address", "key")
    list_select_related = ("node",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created through the service: the key is shown once, in the message after saving."""

    list_display = ("key_prefix", "node", "name", "scope", "created_at", "expires_at", "revoked_at")
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("key_prefix", "name", "node__address", "node__owner__username")
    list_select_related = ("node",)
    fields = ("node", "name", "scope", "expires_at", "key_prefix", "created_at", "revoked_at")
    readonly_fields = ("key_prefix", "created_at", "revoked_at")
    actions = ("revoke_tokens",)

    def get_readonly_fields(self, request, obj=None):
        # an issued token keeps its node and scope; revoke it and issue another instead
        return (*self.readonly_fields, "node", "scope") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = api_token_create(obj.node, name=obj.name, scope=obj.scope, expires_at=obj.expires_at)
        obj.pk = token.pk
        obj.refresh_from_db()
        messages.warning(request, f"New API token for {token.node.address}: {key}  (copy it now; it is not stored)")

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            api_token_revoke(token)
        messages.info(request, f"Revoked {queryset.count()} token(s).")


@admin.register(PaymentLimit)
class PaymentLimitAdmin(admin.ModelAdmin):
    """The largest payment per token of each node (also editable inline on the node's page)."""

    list_display = ("node", "token_address", "max_amount")
    search_fields = ("node__address", "token_address")
    list_select_related = ("node",)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log, read-only: operators filter it; nobody edits or deletes entries here."""

    list_display = ("created_at", "actor", "node", "method", "path", "status_code", "result", "duration_ms")
    list_filter = ("method", "status_code", "node", "user")
    search_fields = ("path", "actor", "node__address", "result")
    date_hierarchy = "created_at"
    list_select_related = ("node",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
