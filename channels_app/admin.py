"""Read-only views of the chain state for operators.

Everything here is what the chain said or what the node sent: nothing is editable, because a
change must go through the services (and, for money, through the chain).
"""

from django.contrib import admin

from .models import (
    ChainEvent,
    ChainOperation,
    ChainTransaction,
    Channel,
    Deployment,
    NetworkChannel,
    TokenNetwork,
    TokenNetworkConnection,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ("chain_id", "token_network_registry", "synced_block", "synced_at")


@admin.register(TokenNetwork)
class TokenNetworkAdmin(ReadOnlyAdmin):
    list_display = ("token_address", "address", "created_block", "deprecated")
    search_fields = ("token_address", "address")


@admin.register(NetworkChannel)
class NetworkChannelAdmin(ReadOnlyAdmin):
    list_display = (
        "identifier",
        "token_network",
        "participant1",
        "participant2",
        "state",
        "participant1_deposit",
        "participant2_deposit",
        "opened_block",
        "closed_block",
        "settled_block",
    )
    list_filter = ("state", "token_network")
    search_fields = ("participant1", "participant2")
    list_select_related = ("token_network",)


@admin.register(Channel)
class ChannelAdmin(ReadOnlyAdmin):
    list_display = ("node", "partner_address", "identifier", "token", "api_state", "reveal_timeout", "our_deposit")
    list_filter = ("local_state", "network_channel__state", "network_channel__token_network")
    search_fields = ("node__address", "partner_address")
    list_select_related = ("node", "network_channel__token_network")

    @admin.display(description="channel id")
    def identifier(self, obj):
        return obj.network_channel.identifier

    @admin.display(description="token")
    def token(self, obj):
        return obj.network_channel.token_network.token_address

    @admin.display(description="state")
    def api_state(self, obj):
        return obj.state


@admin.register(ChainEvent)
class ChainEventAdmin(ReadOnlyAdmin):
    list_display = ("block_number", "log_index", "name", "address", "channel_identifier", "transaction_hash")
    list_filter = ("name",)
    search_fields = ("transaction_hash", "address")


class ChainTransactionInline(admin.TabularInline):
    model = ChainTransaction
    fields = ("step", "nonce", "transaction_hash", "status", "block_number", "gas_used")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChainOperation)
class ChainOperationAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "node", "status", "error_code", "attempts", "created_at", "finished_at")
    list_filter = ("status", "kind", "error_code")
    search_fields = ("node__address", "dedupe_key", "serial_key")
    list_select_related = ("node",)
    inlines = (ChainTransactionInline,)


@admin.register(ChainTransaction)
class ChainTransactionAdmin(ReadOnlyAdmin):
    list_display = ("transaction_hash", "node", "step", "nonce", "status", "block_number", "gas_used")
    list_filter = ("status", "step")
    search_fields = ("transaction_hash", "node__address")
    list_select_related = ("node",)


@admin.register(TokenNetworkConnection)
class TokenNetworkConnectionAdmin(ReadOnlyAdmin):
    """The last PUT /connections of each node and token network (the older API's join)."""

    list_display = ("node", "token_network", "funds", "initial_channel_target", "joinable_funds_target", "updated_at")
    list_select_related = ("node", "token_network")
