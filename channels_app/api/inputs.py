"""Request schemas of the channel, token and UDC resources (Raiden's marshmallow schemas)."""

from raidennode.api.fields import (
    AddressField,
    BlockNumberField,
    ChoiceField,
    DecimalField,
    InputSerializer,
    IntegerField,
)
from raidennode.protocol.constants import UINT256_MAX


class ChannelOpenInput(InputSerializer):
    token_address = AddressField()
    partner_address = AddressField()
    settle_timeout = IntegerField(required=False, allow_null=True)
    reveal_timeout = IntegerField(required=False, allow_null=True)
    total_deposit = IntegerField(required=False, allow_null=True)


class ChannelPatchInput(InputSerializer):
    total_deposit = IntegerField(required=False, allow_null=True)
    total_withdraw = IntegerField(required=False, allow_null=True)
    reveal_timeout = IntegerField(required=False, allow_null=True)
    state = ChoiceField(("closed", "opened", "settled"), required=False, allow_null=True)


class UserDepositInput(InputSerializer):
    total_deposit = IntegerField(required=False, allow_null=True)
    planned_withdraw_amount = IntegerField(required=False, allow_null=True)
    withdraw_amount = IntegerField(required=False, allow_null=True)


class MintInput(InputSerializer):
    to = AddressField()
    value = IntegerField(min_value=1, max_value=UINT256_MAX)


class ConnectionConnectInput(InputSerializer):
    """The older API's connect body (Raiden's ConnectionsConnectSchema)."""

    funds = IntegerField()
    initial_channel_target = IntegerField(required=False, allow_null=True)
    joinable_funds_target = DecimalField(required=False, allow_null=True)


class EventsQueryInput(InputSerializer):
    from_block = BlockNumberField(required=False, allow_null=True)
    to_block = BlockNumberField(required=False, allow_null=True)
