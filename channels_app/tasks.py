"""Celery tasks of the chain: they take ids and primitives and call one service each.

All are idempotent (acks_late: a task may run twice after a worker is lost) and time-limited.
"""

from __future__ import annotations

import random

from celery import shared_task

from raidennode.celery import is_eager
from raidennode.chain.errors import RpcUnavailable

from .services.duties import chain_duties_run as duties_run
from .services.duties import gas_reserves_check
from .services.ingest import chain_ingest as ingest
from .services.operations import operation_dispatch, operation_execute, operation_execute_blocking, operations_sweep


@shared_task(name="channels_app.tasks.chain_operation_execute", time_limit=900, soft_time_limit=850)
def chain_operation_execute(operation_id: int) -> str:
    """Executes one chain operation (see services.operations); returns its outcome.

    When an earlier operation with the same serial key is still running, a worker hands the
    operation back to the queue for a moment instead of blocking a worker slot on it.
    """
    if is_eager():
        return operation_execute_blocking(operation_id)
    outcome = operation_execute(operation_id)
    if outcome == "deferred":
        operation_dispatch(operation_id, countdown=0.05 + random.random() * 0.2)
    return outcome


@shared_task(name="channels_app.tasks.chain_ingest", time_limit=120, soft_time_limit=100, ignore_result=True)
def chain_ingest() -> int:
    """Applies newly confirmed chain events; the number of logs applied."""
    total = 0
    try:
        while True:
            result = ingest()
            if result is None or not result.advanced:
                return total
            total += result.logs
    except RpcUnavailable:
        return total


@shared_task(name="channels_app.tasks.chain_duties_run", time_limit=120, soft_time_limit=100, ignore_result=True)
def chain_duties_run() -> int:
    try:
        return duties_run()
    except RpcUnavailable:
        return 0


@shared_task(name="channels_app.tasks.chain_operations_sweep", time_limit=60, soft_time_limit=50, ignore_result=True)
def chain_operations_sweep() -> int:
    return operations_sweep()


@shared_task(
    name="channels_app.tasks.chain_gas_reserves_check", time_limit=120, soft_time_limit=100, ignore_result=True
)
def chain_gas_reserves_check() -> int:
    """Notifies nodes whose ETH is below their gas reserve (GET /notifications)."""
    try:
        return gas_reserves_check()
    except RpcUnavailable:
        return 0
