"""Request schemas of the payment resources (Raiden's PaymentSchema and its query schema)."""

from rest_framework import serializers

from raidennode.api.fields import AddressField, Bytes32HexField, ChoiceField, InputSerializer, IntegerField


class SecretHashField(Bytes32HexField):
    default_error_messages = {
        **Bytes32HexField.default_error_messages,
        "length": "Not a valid secrethash, decoded value is not 32 bytes long.",
    }


class RouteInput(InputSerializer):
    route = serializers.ListField(child=AddressField())
    address_metadata = serializers.DictField()
    fee = IntegerField(required=False, allow_null=True)


class PaymentInput(InputSerializer):
    amount = IntegerField()
    identifier = IntegerField(required=False, allow_null=True)
    secret = Bytes32HexField(required=False, allow_null=True)
    secret_hash = SecretHashField(required=False, allow_null=True)
    lock_timeout = IntegerField(required=False, allow_null=True)
    paths = serializers.ListField(child=RouteInput(), required=False, allow_null=True)


class PaymentsQueryInput(InputSerializer):
    limit = IntegerField(required=False, allow_null=True)
    offset = IntegerField(required=False, allow_null=True)


class TokenSwapInput(InputSerializer):
    """The older API's token swap body (seeds/002): amounts and tokens from this node's side."""

    role = ChoiceField(("maker", "taker"))
    sending_amount = IntegerField()
    sending_token = AddressField()
    receiving_amount = IntegerField()
    receiving_token = AddressField()
