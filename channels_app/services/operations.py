"""The transaction outbox: creating chain operations, executing them in tasks, waiting for them.

Life of an operation:

1. A service calls ``operation_create`` inside its state transaction. A live operation with the
   same dedupe key is returned instead of a new one (a second identical request attaches).
2. After commit, ``operation_dispatch`` queues the Celery task (or runs it, when eager).
3. The task calls ``operation_execute``: it claims the row (a lease), waits its turn behind
   earlier live operations with the same serial key, and runs the kind's executor. Every
   transaction is signed and recorded (nonce, hash, raw bytes) before it is broadcast, so a
   re-run re-broadcasts the same transaction instead of signing a conflicting one.
4. The API blocks in ``operation_wait`` until the row is finished and maps failures to the
   spec's status codes with ``operation_raise_failure``.

Nonces are assigned per account under a row lock on the Node; a nonce that was never broadcast is
released again when it is the newest one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from raidennode.celery import is_eager
from raidennode.chain.client import ChainClient
from raidennode.chain.errors import (
    ChainError,
    InsufficientEth,
    NonceTooLow,
    RpcUnavailable,
    TransactionReverted,
)
from raidennode.chain.transactions import bumped_fee, decode_transaction, gas_with_margin
from raidennode.errors import (
    Conflict,
    Forbidden,
    InsufficientFunds,
    InternalError,
    InvalidInput,
    RequestTimeout,
    ServiceError,
    ServiceUnavailable,
)
from raidennode.nodes.models import Node
from raidennode.nodes.services import NodeAccount, node_account, notification_set

from ..models import ChainOperation, ChainTransaction, Channel
from .chain import chain

logger = logging.getLogger(__name__)

# How long a claimed operation is protected from being claimed again by another worker.
CLAIM_LEASE = timedelta(seconds=60)
RECEIPT_POLL_INTERVAL = 0.02

LIVE = ChainOperation.LIVE_STATUSES


class OperationFailed(Exception):
    """An executor's final failure: ``code`` selects the API status (see ERROR_STATUS)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransactionNotMined(ChainError):
    """The receipt did not come within RAIDEN_TRANSACTION_TIMEOUT; the operation stays live."""


# error_code -> the ServiceError the API raises for it
ERROR_STATUS: dict[str, type[ServiceError]] = {
    "insufficient_eth": InsufficientFunds,
    "insufficient_funds": InsufficientFunds,
    "conflict": Conflict,
    "reverted": Conflict,
    "forbidden": Forbidden,
    "invalid": InvalidInput,
    "timeout": RequestTimeout,
    "rpc_unavailable": ServiceUnavailable,
    "internal": InternalError,
}


# --- creating and dispatching -------------------------------------------------------------------


def operation_create(
    *,
    node: Node,
    kind: str,
    args: dict,
    serial_key: str,
    subject_key: str | None = None,
    dedupe_key: str | None = None,
    channel: Channel | None = None,
) -> tuple[ChainOperation, bool]:
    """Writes an outbox row in the caller's transaction; (operation, created).

    With a ``dedupe_key``, a live operation with the same key is returned instead (attach).
    The task is queued when the caller's transaction commits.
    """
    if dedupe_key:
        live = ChainOperation.objects.filter(dedupe_key=dedupe_key, status__in=LIVE).first()
        if live is not None:
            return live, False
    try:
        with transaction.atomic():
            op = ChainOperation.objects.create(
                node=node,
                kind=kind,
                args=args,
                serial_key=serial_key,
                subject_key=subject_key,
                dedupe_key=dedupe_key,
                channel=channel,
            )
    except IntegrityError:
        # A concurrent request created the same live operation between our read and insert.
        live = ChainOperation.objects.filter(dedupe_key=dedupe_key, status__in=LIVE).first()
        if live is None:
            raise
        return live, False
    transaction.on_commit(lambda: operation_dispatch(op.pk))
    return op, True


def operation_dispatch(operation_id: int, countdown: float | None = None) -> None:
    """Queues the task that executes the operation (runs it now when Celery is eager)."""
    from ..tasks import chain_operation_execute

    options = {"args": [operation_id], "task_id": f"chain-op-{operation_id}-{time.monotonic_ns()}"}
    if countdown:
        options["countdown"] = countdown
    try:
        chain_operation_execute.apply_async(**options)
    except Exception:  # the broker is down: the sweeper re-drives pending operations
        logger.exception("could not queue chain operation %s; the sweeper will retry", operation_id)


# --- waiting ------------------------------------------------------------------------------------


def operation_wait(op: ChainOperation, timeout: float | None = None) -> ChainOperation:
    """Blocks until ``op`` is finished and returns it reloaded.

    Raises ServiceUnavailable when the Ethereum node is unreachable (the operation is retried
    later) and RequestTimeout when the transaction is not mined in time (it may still be).
    """
    timeout = settings.RAIDEN_TRANSACTION_TIMEOUT + 30 if timeout is None else timeout
    deadline = time.monotonic() + timeout
    interval = 0.005
    while True:
        op.refresh_from_db(fields=["status", "error_code", "error_message", "result", "claimed_until"])
        if op.is_finished:
            return op
        if op.error_code == "rpc_unavailable":
            raise ServiceUnavailable(
                f"The Ethereum node is not reachable ({op.error_message}); the node will retry "
                f"this {op.get_kind_display()} when it is back."
            )
        if op.error_code == "timeout":
            raise RequestTimeout(
                f"The transaction of this {op.get_kind_display()} was not mined in time; the node keeps watching it."
            )
        if time.monotonic() > deadline:
            raise RequestTimeout(f"The {op.get_kind_display()} did not finish in time; the node keeps working on it.")
        time.sleep(interval)
        interval = min(interval * 2, 0.1)


def operation_raise_failure(op: ChainOperation) -> None:
    """Raises the API error of a failed operation; returns when it succeeded."""
    if op.status == ChainOperation.Status.FAILED:
        raise ERROR_STATUS.get(op.error_code, Conflict)(op.error_message)


def operation_run(op: ChainOperation) -> ChainOperation:
    """Waits for ``op`` and raises its failure: what a blocking API call does."""
    op = operation_wait(op)
    operation_raise_failure(op)
    return op


# --- executing ----------------------------------------------------------------------------------


def _claim(operation_id: int) -> ChainOperation | None:
    now = timezone.now()
    claimed = ChainOperation.objects.filter(
        Q(status=ChainOperation.Status.PENDING)
        | Q(status=ChainOperation.Status.RUNNING, claimed_until__lt=now)
        | Q(status=ChainOperation.Status.RUNNING, claimed_until__isnull=True),
        pk=operation_id,
    ).update(status=ChainOperation.Status.RUNNING, claimed_until=now + CLAIM_LEASE, updated_at=now)
    if not claimed:
        return None
    op = ChainOperation.objects.select_related("node", "channel").get(pk=operation_id)
    ChainOperation.objects.filter(pk=op.pk).update(attempts=op.attempts + 1)
    return op


def _sharing_keys(keys: list[str]) -> Q:
    return Q(serial_key__in=keys) | Q(subject_key__in=keys)


def _keys(row) -> list[str]:
    return [key for key in (row["serial_key"], row["subject_key"]) if key]


def _has_live_predecessor(op_id: int, keys: list[str]) -> bool:
    return ChainOperation.objects.filter(_sharing_keys(keys), status__in=LIVE, pk__lt=op_id).exists()


def _finish(op: ChainOperation, status: str, *, result: dict | None = None, code: str = "", message: str = "") -> None:
    now = timezone.now()
    ChainOperation.objects.filter(pk=op.pk).update(
        status=status,
        result=result or {},
        error_code=code,
        error_message=message,
        finished_at=now,
        updated_at=now,
        claimed_until=None,
    )
    if status == ChainOperation.Status.FAILED and op.kind == ChainOperation.Kind.CHANNEL_CLOSE and op.channel_id:
        # Nothing reached the chain: the channel is usable again, whoever asked for the close
        # (the API, an operator, a client that is gone) and whether or not anybody waits for it.
        Channel.objects.filter(pk=op.channel_id, local_state=Channel.LocalState.WAITING_FOR_CLOSE).update(
            local_state=Channel.LocalState.NONE
        )
    if is_eager():
        return
    keys = [key for key in (op.serial_key, op.subject_key) if key]
    successor = (
        ChainOperation.objects.filter(_sharing_keys(keys), status=ChainOperation.Status.PENDING, pk__gt=op.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if successor is not None:
        operation_dispatch(successor)


def _release(op: ChainOperation, code: str, message: str, retry_in: float) -> None:
    """Leaves a live operation for a later attempt, noting why (the API reports it)."""
    ChainOperation.objects.filter(pk=op.pk).update(
        error_code=code,
        error_message=message,
        claimed_until=timezone.now() + timedelta(seconds=retry_in),
        updated_at=timezone.now(),
    )


def operation_execute(operation_id: int) -> str:
    """Runs one operation to its end; returns 'succeeded', 'failed', 'deferred' or 'busy'.

    'deferred': an earlier operation with the same serial key is still live (try again soon).
    'busy': another worker holds the claim, or the operation is already finished.
    Never raises for a chain failure: failures are recorded on the row.
    """
    from .executors import EXECUTORS

    row = ChainOperation.objects.filter(pk=operation_id).values("serial_key", "subject_key", "status").first()
    if row is None or row["status"] not in LIVE:
        return "busy"
    if _has_live_predecessor(operation_id, _keys(row)):
        return "deferred"
    op = _claim(operation_id)
    if op is None:
        return "busy"
    try:
        context = OperationContext(op, chain(), node_account(op.node))
        result = EXECUTORS[op.kind](context) or {}
    except OperationFailed as exc:
        _finish(op, ChainOperation.Status.FAILED, code=exc.code, message=exc.message)
        return "failed"
    except InsufficientEth as exc:
        message = _insufficient_eth_message(op, exc)
        _finish(op, ChainOperation.Status.FAILED, code="insufficient_eth", message=message)
        # The user hears of it even when no API call is waiting (a duty's operation).
        notification_set(op.node, "missing_gas_reserve", "Not enough ETH for a transaction", message, "critical")
        return "failed"
    except TransactionReverted as exc:
        _finish(op, ChainOperation.Status.FAILED, code="reverted", message=exc.reason or "transaction reverted")
        return "failed"
    except RpcUnavailable as exc:
        _release(op, "rpc_unavailable", str(exc), retry_in=5)
        return "deferred"
    except TransactionNotMined as exc:
        _release(op, "timeout", str(exc), retry_in=0)
        return "deferred"
    except ChainError as exc:
        _finish(op, ChainOperation.Status.FAILED, code="conflict", message=str(exc))
        return "failed"
    except Exception as exc:  # a bug: fail the operation so that nobody waits for it forever
        logger.exception("chain operation %s (%s) crashed", op.pk, op.kind)
        _finish(op, ChainOperation.Status.FAILED, code="internal", message=f"{exc.__class__.__name__}: {exc}")
        return "failed"
    _finish(op, ChainOperation.Status.SUCCEEDED, result=result)
    return "succeeded"


def _insufficient_eth_message(op: ChainOperation, exc: Exception) -> str:
    return (
        f"Transaction failed due to insufficient ETH balance of {op.node.address} for the "
        f"{op.get_kind_display()}. Please top up your ETH account. ({exc})"
    )


def operation_execute_blocking(operation_id: int, timeout: float = 600.0) -> str:
    """``operation_execute`` that waits its turn in this thread (eager Celery, devnet loop)."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = operation_execute(operation_id)
        if outcome != "deferred":
            return outcome
        row = ChainOperation.objects.filter(pk=operation_id).values("error_code", "status").first()
        if row is None or row["status"] not in LIVE or row["error_code"] in ("rpc_unavailable", "timeout"):
            return outcome  # the sweeper takes it from here
        if time.monotonic() > deadline:
            return outcome
        time.sleep(0.02)


def operations_sweep(stale_after: timedelta = timedelta(seconds=30)) -> int:
    """Re-dispatches live operations nobody is working on (lost task, crashed worker)."""
    now = timezone.now()
    stale = ChainOperation.objects.filter(status__in=LIVE).filter(
        Q(claimed_until__lt=now) | Q(claimed_until__isnull=True, updated_at__lt=now - stale_after)
    )
    ids = list(stale.values_list("pk", flat=True)[:100])
    for operation_id in ids:
        operation_dispatch(operation_id)
    return len(ids)


# --- sending transactions -----------------------------------------------------------------------


def _next_nonce(node: Node) -> int:
    """The lowest nonce this deployment may hand out next (call with the Node row locked).

    While transactions of ours are unconfirmed, that is the counter: never reuse a nonce handed
    out. Otherwise it is one past the highest nonce that reached the chain, which also heals a
    counter that ran ahead of dropped transactions. The caller takes the maximum with the
    chain's pending count (transactions sent from elsewhere), read before the lock: this floor
    makes a stale read harmless.
    """
    recorded = ChainTransaction.objects.filter(node=node).exclude(status=ChainTransaction.Status.DROPPED)
    if recorded.filter(status__in=[ChainTransaction.Status.SIGNED, ChainTransaction.Status.SENT]).exists():
        return node.next_nonce
    highest = recorded.order_by("-nonce").values_list("nonce", flat=True).first()
    return 0 if highest is None else highest + 1


@dataclass
class OperationContext:
    """What an executor works with: its operation, the chain and the sending node's account."""

    op: ChainOperation
    client: ChainClient
    account: NodeAccount

    @property
    def address(self) -> str:
        return self.account.address

    def has_transaction(self, step: str) -> bool:
        """Whether this operation signed a transaction for ``step`` (on an earlier attempt)."""
        return (
            ChainTransaction.objects.filter(operation=self.op, step=step)
            .exclude(status=ChainTransaction.Status.DROPPED)
            .exists()
        )

    def transact(self, step: str, to: str, data: bytes, value: int = 0) -> dict:
        """Sends one transaction of this operation (once, whatever the re-runs) and returns its
        receipt. Raises TransactionReverted, InsufficientEth, RpcUnavailable, TransactionNotMined."""
        existing = ChainTransaction.objects.filter(operation=self.op, step=step).first()
        if existing is not None and existing.status != ChainTransaction.Status.DROPPED:
            return self._finish_transaction(existing)
        for _ in range(3):
            tx = self._sign_and_record(step, to, data, value, existing)
            try:
                self.client.send_raw(bytes.fromhex(tx.raw_transaction))
            except NonceTooLow:
                if self.client.receipt(tx.transaction_hash) is not None:
                    break  # mined already (a re-run after a crash)
                self._drop(tx)  # someone else used the nonce; sign again with a new one
                existing = tx
                continue
            except InsufficientEth:
                self._drop(tx)
                raise
            ChainTransaction.objects.filter(pk=tx.pk, status=ChainTransaction.Status.SIGNED).update(
                status=ChainTransaction.Status.SENT
            )
            break
        else:
            raise OperationFailed("conflict", "could not find a free nonce for the transaction")
        return self._finish_transaction(tx)

    def _sign_and_record(
        self, step: str, to: str, data: bytes, value: int, previous: ChainTransaction | None
    ) -> ChainTransaction:
        gas = gas_with_margin(self.client.estimate_gas(self.address, to, data, value))
        max_fee, priority = self.client.fees()
        if self.client.balance(self.address) < gas * max_fee + value:
            raise InsufficientEth(
                f"the account holds less than the {gas * max_fee + value} wei this transaction may cost"
            )
        chain_nonce = self.client.nonce(self.address, "pending")
        with transaction.atomic():
            node = Node.objects.select_for_update().get(pk=self.op.node_id)
            nonce = max(chain_nonce, _next_nonce(node))
            signed = self.account.sign_transaction(
                chain_id=self.client.chain_id,
                nonce=nonce,
                to=to,
                data=data,
                gas=gas,
                max_fee_per_gas=max_fee,
                max_priority_fee_per_gas=priority,
                value=value,
            )
            if previous is not None:
                previous.delete()
            tx = ChainTransaction.objects.create(
                operation=self.op,
                node=node,
                step=step,
                nonce=nonce,
                transaction_hash=signed.transaction_hash,
                raw_transaction=signed.raw.hex(),
            )
            node.next_nonce = nonce + 1
            node.save(update_fields=["next_nonce"])
        return tx

    def _receipt_of_any(self, tx: ChainTransaction) -> dict | None:
        """The receipt of the transaction or of a version of it a fee bump replaced (with
        ``transaction_hash`` set to the one that was mined)."""
        for transaction_hash in (tx.transaction_hash, *reversed(tx.replaced_hashes)):
            receipt = self.client.receipt(transaction_hash)
            if receipt is not None:
                receipt["transaction_hash"] = transaction_hash
                return receipt
        return None

    def _fee_bump(self, tx: ChainTransaction) -> None:
        """Replaces a transaction that is not mined in time: same nonce, same call, fees raised
        (``bumped_fee``). Recorded before it is broadcast, like every transaction."""
        fields = decode_transaction(bytes.fromhex(tx.raw_transaction))
        max_fee, priority = self.client.fees()
        fields["max_fee_per_gas"] = bumped_fee(fields["max_fee_per_gas"], max_fee)
        fields["max_priority_fee_per_gas"] = bumped_fee(fields["max_priority_fee_per_gas"], priority)
        if self.client.balance(self.address) < fields["gas"] * fields["max_fee_per_gas"] + fields["value"]:
            logger.warning("no ETH to raise the fee of %s; waiting for it as it is", tx.transaction_hash)
            return
        signed = self.account.sign_transaction(**fields)
        tx.replaced_hashes = [*tx.replaced_hashes, tx.transaction_hash]
        tx.transaction_hash, tx.raw_transaction = signed.transaction_hash, signed.raw.hex()
        ChainTransaction.objects.filter(pk=tx.pk).update(
            replaced_hashes=tx.replaced_hashes, transaction_hash=tx.transaction_hash, raw_transaction=tx.raw_transaction
        )
        logger.info("raised the fee of nonce %s of %s: %s", tx.nonce, self.address, tx.transaction_hash)
        try:
            self.client.send_raw(signed.raw)
        except NonceTooLow:
            pass  # a version was mined meanwhile: the receipt loop finds it

    def _drop(self, tx: ChainTransaction) -> None:
        """Gives back a nonce that never reached the chain, when nothing was signed after it."""
        with transaction.atomic():
            node = Node.objects.select_for_update().get(pk=tx.node_id)
            if node.next_nonce == tx.nonce + 1:
                node.next_nonce = tx.nonce
                node.save(update_fields=["next_nonce"])
            ChainTransaction.objects.filter(pk=tx.pk).update(status=ChainTransaction.Status.DROPPED)

    def _finish_transaction(self, tx: ChainTransaction) -> dict:
        if tx.status in (ChainTransaction.Status.SIGNED, ChainTransaction.Status.SENT):
            receipt = self._receipt_of_any(tx)
            if receipt is None:
                try:  # re-broadcast the recorded bytes: a no-op when the node already has them
                    self.client.send_raw(bytes.fromhex(tx.raw_transaction))
                except NonceTooLow:
                    pass
            deadline = time.monotonic() + settings.RAIDEN_TRANSACTION_TIMEOUT
            bump_at = time.monotonic() + settings.RAIDEN_FEE_BUMP_AFTER
            while receipt is None:
                if time.monotonic() > deadline:
                    raise TransactionNotMined(f"transaction {tx.transaction_hash} not mined yet")
                if time.monotonic() > bump_at:
                    self._fee_bump(tx)
                    bump_at = time.monotonic() + settings.RAIDEN_FEE_BUMP_AFTER
                time.sleep(RECEIPT_POLL_INTERVAL)
                receipt = self._receipt_of_any(tx)
            status = ChainTransaction.Status.MINED if receipt["status"] == 1 else ChainTransaction.Status.REVERTED
            ChainTransaction.objects.filter(pk=tx.pk).update(
                status=status,
                block_number=receipt["block_number"],
                gas_used=receipt["gas_used"],
                transaction_hash=receipt["transaction_hash"],
            )
            tx.transaction_hash = receipt["transaction_hash"]
            tx.status = status
            tx.block_number = receipt["block_number"]
        else:
            receipt = self.client.receipt(tx.transaction_hash) or {
                "status": 1 if tx.status == ChainTransaction.Status.MINED else 0,
                "block_number": tx.block_number,
                "logs": [],
                "gas_used": tx.gas_used,
                "contract_address": None,
            }
        if tx.status == ChainTransaction.Status.REVERTED:
            raise TransactionReverted(self.client.revert_reason(tx.transaction_hash), tx.transaction_hash)
        receipt["transaction_hash"] = tx.transaction_hash
        return receipt


# --- retrying (operators) -----------------------------------------------------------------------


def operation_retry(op: ChainOperation) -> ChainOperation:
    """Starts a failed operation again and returns the operation that now does the work.

    The retry is a new operation with the failed one's node, kind, arguments, keys and channel,
    queued when the caller's transaction commits; the failed row stays as it was (its error and
    transactions are history) and gets ``result["retried_by"]``. A new row rather than the failed
    one reset to pending: ``transact`` would find the failed row's reverted transaction again and
    raise its revert instead of sending, and a new id puts the retry behind every live operation
    it shares a key with, so it runs in creation order like any other. When a live operation
    with the same dedupe key exists already, that one is returned (``operation_create`` attaches).

    Retrying a close marks its channel ``waiting_for_close`` again while it is open on chain, as
    ``channel_close`` does, so no payment uses a channel that is being closed.

    Locks, in this order: the channel row (a close only), then the failed operation's row, so
    two operators retrying at once start one operation. Raises Conflict when the operation is
    not failed or was retried already.
    """
    from ..models import NetworkChannel

    with transaction.atomic():
        if op.kind == ChainOperation.Kind.CHANNEL_CLOSE and op.channel_id is not None:
            channel = Channel.objects.select_for_update().select_related("network_channel").get(pk=op.channel_id)
            if (
                channel.network_channel.state == NetworkChannel.State.OPENED
                and channel.local_state == Channel.LocalState.NONE
            ):
                channel.local_state = Channel.LocalState.WAITING_FOR_CLOSE
                channel.save(update_fields=["local_state", "updated_at"])
        failed = ChainOperation.objects.select_for_update().select_related("node").get(pk=op.pk)
        if failed.status != ChainOperation.Status.FAILED:
            raise Conflict(f"Operation #{failed.pk} is {failed.status}: only a failed operation can be retried.")
        if "retried_by" in failed.result:
            raise Conflict(f"Operation #{failed.pk} was retried already, as operation #{failed.result['retried_by']}.")
        retry, _ = operation_create(
            node=failed.node,
            kind=failed.kind,
            args=failed.args,
            serial_key=failed.serial_key,
            subject_key=failed.subject_key,
            dedupe_key=failed.dedupe_key,
            channel=failed.channel,
        )
        ChainOperation.objects.filter(pk=failed.pk).update(result={**failed.result, "retried_by": retry.pk})
    return retry
