"""Blocking until confirmed chain events have been applied (Raiden's API semantics)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from raidennode.errors import RequestTimeout

from .ingest import chain_ingest_if_idle

T = TypeVar("T")


def wait_for_chain(predicate: Callable[[], T | None], what: str, timeout: float | None = None) -> T:
    """Returns ``predicate()``'s first truthy value, ingesting confirmed blocks meanwhile.

    The predicate reads the database only. Raises RequestTimeout when ``what`` has not happened
    within RAIDEN_CONFIRMATION_TIMEOUT seconds (the transaction may still be confirmed later).
    """
    timeout = settings.RAIDEN_CONFIRMATION_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    interval = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RequestTimeout(
                f"{what} was not confirmed within {timeout:.0f} seconds; the node keeps watching the chain."
            )
        chain_ingest_if_idle()
        value = predicate()
        if value:
            return value
        time.sleep(interval)
        interval = min(interval * 2, 0.25)
