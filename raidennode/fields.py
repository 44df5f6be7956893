"""Model fields shared by the apps: uint256 amounts and Ethereum addresses.

Amounts are Python ints everywhere. PostgreSQL stores them as NUMERIC(78, 0), which holds every
uint256 exactly. SQLite (the embedded default) would turn large NUMERIC values into floats, so
there they are stored as decimal text; money arithmetic never happens in SQL on either backend.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

UINT256_MAX = 2**256 - 1


class Uint256Field(models.Field):
    description = "An unsigned 256-bit integer (NUMERIC(78,0) on PostgreSQL)"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", 0)
        super().__init__(*args, **kwargs)

    def db_type(self, connection) -> str:
        if connection.vendor == "postgresql":
            return "numeric(78,0)"
        return "varchar(78)"

    def get_internal_type(self) -> str:
        return "Uint256Field"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return int(value)

    def to_python(self, value):
        if value is None or isinstance(value, int):
            return value
        try:
            if isinstance(value, Decimal):
                if value != value.to_integral_value():
                    raise ValueError
                return int(value)
            return int(str(value), 10)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{value!r} is not an integer") from exc

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        value = self.to_python(value)
        if not 0 <= value <= UINT256_MAX:
            raise ValueError(f"{value} is outside the uint256 range")
        if connection.vendor == "postgresql":
            return Decimal(value)
        return str(value)

    def value_to_string(self, obj) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else str(value)

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(**{"form_class": forms.CharField, **kwargs})


class AddressField(models.CharField):
    """An EIP-55 checksummed address as text (42 characters)."""

    def __init__(self, *args, **kwargs):
        kwargs["max_length"] = 42
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        return name, path, args, kwargs
