"""Hand-written single-row statements for the payment hot path.

Django's SQL compiler costs more CPU than PostgreSQL for the small statements a payment step
runs (docs/performance.md), so the hottest ones are built here once per model and field set and
executed directly. Values still go through each field's own conversions
(``get_db_prep_save`` in, ``get_db_converters`` out), so what is stored and read is exactly what
the ORM would store and read, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from django.db import connection, models
from django.utils import timezone


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _fields(model: type[models.Model]) -> dict[str, models.Field]:
    """Concrete fields by attribute name (``node_id`` for a foreign key ``node``)."""
    return {field.attname: field for field in model._meta.concrete_fields}


def _prep(model: type[models.Model], values: dict) -> tuple[list[str], list]:
    fields = _fields(model)
    columns, params = [], []
    for name, value in values.items():
        field = fields[name]
        columns.append(_quote(field.column))
        params.append(field.get_db_prep_save(value, connection))
    return columns, params


def row_insert(model: type[models.Model], values: dict) -> int:
    """INSERTs one row (fields left out get what the ORM would give them); its primary key."""
    now = timezone.now()
    full = {}
    for name, field in _fields(model).items():
        if field.primary_key:
            continue
        if name in values:
            full[name] = values[name]
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            full[name] = now
        else:
            full[name] = field.get_default()  # as the ORM: the default, "" or None
    columns, params = _prep(model, full)
    sql = (
        f"INSERT INTO {_quote(model._meta.db_table)} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING {_quote(model._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def row_update(model: type[models.Model], pk: int, values: dict) -> int:
    """UPDATEs the given columns of one row; how many rows changed (0 or 1)."""
    columns, params = _prep(model, values)
    assignments = ", ".join(f"{column} = %s" for column in columns)
    sql = f"UPDATE {_quote(model._meta.db_table)} SET {assignments} WHERE {_quote(model._meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, pk])
        return cursor.rowcount


@cache
def _select(model: type[models.Model], where: str, for_update: bool) -> str:
    columns = ", ".join(_quote(field.column) for field in model._meta.concrete_fields)
    lock = " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""
    return f"SELECT {columns} FROM {_quote(model._meta.db_table)} WHERE {where}{lock}"


def instance_from_row(model: type[models.Model], row: Sequence):
    """A model instance from a row of all its concrete columns, converted as the ORM does."""
    fields = model._meta.concrete_fields
    values = []
    for field, value in zip(fields, row, strict=True):
        for converter in field.get_db_converters(connection):
            value = converter(value, field, connection)
        values.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], values)


def row_select(model: type[models.Model], where: str, params: Iterable, for_update: bool = False):
    """The first row matching ``where`` (SQL over the model's own columns) as an instance, or None.

    ``where`` is a fixed string (it keys a cache of the statement); values go in ``params``.
    """
    with connection.cursor() as cursor:
        cursor.execute(_select(model, where, for_update), list(params))
        row = cursor.fetchone()
    return instance_from_row(model, row) if row is not None else None


def rows_select(model: type[models.Model], where: str, params: Iterable, for_update: bool = False) -> list:
    """Every row matching ``where`` as instances (``where`` may end with ORDER BY)."""
    with connection.cursor() as cursor:
        cursor.execute(_select(model, where, for_update), list(params))
        return [instance_from_row(model, row) for row in cursor.fetchall()]
