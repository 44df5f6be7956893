"""Celery tasks of payments: they take ids and primitives and call one service each."""

from __future__ import annotations

from celery import shared_task

from .services.duties import transfer_duties_run as duties_run


@shared_task(name="transfers_app.tasks.transfer_duties_run", time_limit=120, soft_time_limit=100, ignore_result=True)
def transfer_duties_run() -> int:
    """Expires our overdue locks and withdraws and redelivers due messages (idempotent)."""
    return duties_run()
