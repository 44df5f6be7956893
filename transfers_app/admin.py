"""Read-only views of payments, messages and the state-change log for operators.

Nothing is editable: a payment or a message changes only through the protocol's services.
"""

from django.contrib import admin

from channels_app.admin import ReadOnlyAdmin

from .models import Message, Payment, StateChange, TokenSwap


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("id", "node", "role", "payment_identifier", "amount", "target", "status", "created_at")
    list_filter = ("status", "role")
    search_fields = ("node__address", "target", "initiator", "secrethash")
    list_select_related = ("node",)
    exclude = ("secret",)  # the preimage unlocks money until the payment is done


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "sender", "recipient", "nonce", "status", "attempts", "created_at")
    list_filter = ("status", "kind")
    search_fields = ("sender", "recipient")


@admin.register(StateChange)
class StateChangeAdmin(ReadOnlyAdmin):
    list_display = ("id", "node", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("node__address",)
    list_select_related = ("node",)


@admin.register(TokenSwap)
class TokenSwapAdmin(ReadOnlyAdmin):
    list_display = ("id", "node", "role", "identifier", "partner", "status", "created_at", "finished_at")
    list_filter = ("status", "role")
    search_fields = ("node__address", "partner", "secrethash")
    list_select_related = ("node",)
    exclude = ("secret",)  # the maker's secret unlocks both payments of the swap
