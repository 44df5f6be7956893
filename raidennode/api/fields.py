"""Input fields that accept and reject exactly what Raiden's marshmallow schemas do.

Integers follow marshmallow's non-strict ``Integer``: JSON numbers and decimal strings (Python's
``int()`` rules), floats truncated, booleans rejected. Addresses must be EIP-55 checksummed.
Unknown keys are rejected, and ``null`` for an optional field counts as omitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from rest_framework import serializers

from raidennode.protocol.addresses import is_checksum_address
from raidennode.protocol.constants import NULL_ADDRESS

from .errors import InputInvalid

COMMON_MESSAGES = {"required": "Missing data for required field.", "null": "Field may not be null."}


class IntegerField(serializers.Field):
    default_error_messages = {**COMMON_MESSAGES, "invalid": "Not a valid integer."}

    def __init__(self, *, min_value: int | None = None, max_value: int | None = None, **kwargs):
        self.min_value = min_value
        self.max_value = max_value
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            value = data
        elif isinstance(data, float):
            if not math.isfinite(data):
                self.fail("invalid")
            value = int(data)
        elif isinstance(data, str):
            try:
                value = int(data)
            except ValueError:
                self.fail("invalid")
        else:
            self.fail("invalid")
        if (self.min_value is not None and value < self.min_value) or (
            self.max_value is not None and value > self.max_value
        ):
            raise serializers.ValidationError(
                f"Must be greater than or equal to {self.min_value} and less than or equal to {self.max_value}."
            )
        return value

    def to_representation(self, value) -> str:
        return str(value)


class AddressField(serializers.Field):
    """An EIP-55 address; the null address is refused."""

    default_error_messages = {
        **COMMON_MESSAGES,
        "type": "Not a valid address: a 0x prefixed string is expected.",
        "prefix": "Not a valid hex encoded address, must be 0x prefixed.",
        "checksum": "Not a valid EIP55 encoded address",
        "null_address": f"The {NULL_ADDRESS} address is not accepted",
    }

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("type")
        if not data.startswith(("0x", "0X")):
            self.fail("prefix")
        if not is_checksum_address(data):
            self.fail("checksum")
        if data == NULL_ADDRESS:
            self.fail("null_address")
        return data

    def to_representation(self, value) -> str:
        return value


class Bytes32HexField(serializers.Field):
    """A 0x-prefixed hex string of 32 bytes (secrets and secret hashes)."""

    default_error_messages = {
        **COMMON_MESSAGES,
        "prefix": "Not a valid hex encoded value, must be 0x prefixed.",
        "hex": "Not a valid hex formated string, contains invalid characters.",
        "length": "Not a valid hex encoded secret, it is not 32 characters long.",
    }

    def to_internal_value(self, data) -> bytes:
        if not isinstance(data, str) or not data.startswith(("0x", "0X")):
            self.fail("prefix")
        try:
            value = bytes.fromhex(data[2:])
        except ValueError:
            self.fail("hex")
        if len(value) != 32:
            self.fail("length")
        return value


class ChoiceField(serializers.Field):
    default_error_messages = {**COMMON_MESSAGES, "type": "Not a valid string."}

    def __init__(self, choices: tuple[str, ...], **kwargs):
        self.choices = choices
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("type")
        if data not in self.choices:
            raise serializers.ValidationError(f"Must be one of: {', '.join(self.choices)}.")
        return data


class InputSerializer(serializers.Serializer):
    """A request schema: all field errors at once, unknown keys refused, nulls dropped."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):  # a nested schema given a list, string, number, ...
            raise serializers.ValidationError({"_schema": ["Invalid input type."]})
        errors: dict = {}
        values: dict = {}
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors.update(exc.detail)
        for key in data:
            if key not in self.fields:
                errors[key] = ["Unknown field."]
        if errors:
            raise serializers.ValidationError(errors)
        return {key: value for key, value in values.items() if value is not None}


def validate_input(serializer_class: type[InputSerializer], data: dict) -> dict:
    """The validated values of ``data``; raises InputInvalid with every field error."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise InputInvalid(_plain(serializer.errors))
    return serializer.validated_data


def _plain(errors):
    if isinstance(errors, dict):
        return {str(key): _plain(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_plain(value) for value in errors]
    return str(errors)


class DecimalField(serializers.Field):
    """marshmallow's ``Decimal``: JSON numbers and decimal strings; booleans, NaN and infinity refused."""

    default_error_messages = {
        **COMMON_MESSAGES,
        "invalid": "Not a valid number.",
        "special": "Special numeric values (nan or infinity) are not permitted.",
    }

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        try:
            value = Decimal(str(data))
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("special")
        return value

    def to_representation(self, value) -> str:
        return str(value)


class BlockNumberField(IntegerField):
    default_error_messages = {**IntegerField.default_error_messages, "negative": "Must be greater than or equal to 0."}

    def to_internal_value(self, data) -> int:
        value = super().to_internal_value(data)
        if value < 0:
            self.fail("negative")
        return value
