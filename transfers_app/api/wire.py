"""Output shapes of the payment resources (spec 3.2, 3.3, 3.4): strings and EIP-55 addresses."""

from __future__ import annotations

from datetime import UTC, datetime

from ..models import Payment
from ..selectors import PaymentEventRow, PendingTransferRow


def log_time(moment: datetime) -> str:
    """ISO-8601 in UTC without an offset, milliseconds as Raiden's SQLite stores them."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.replace(microsecond=naive.microsecond // 1000 * 1000).isoformat()


def payment_to_wire(payment: Payment, token_address: str) -> dict:
    """The 7-key payment object answered by POST /payments."""
    return {
        "initiator_address": payment.initiator,
        "target_address": payment.target,
        "token_address": token_address,
        "amount": str(payment.amount),
        "identifier": str(payment.payment_identifier),
        "secret": payment.secret,
        "secret_hash": payment.secrethash,
    }


def payment_event_to_wire(row: PaymentEventRow) -> dict:
    if row.role == Payment.Role.TARGET:
        return {
            "event": "EventPaymentReceivedSuccess",
            "amount": str(row.amount),
            "initiator": row.initiator,
            "identifier": str(row.identifier),
            "log_time": log_time(row.finished_at),
            "token_address": row.token_address,
        }
    if row.status == Payment.Status.SUCCEEDED:
        return {
            "event": "EventPaymentSentSuccess",
            "amount": str(row.amount),
            "target": row.target,
            "identifier": str(row.identifier),
            "log_time": log_time(row.finished_at),
            "token_address": row.token_address,
        }
    return {
        "event": "EventPaymentSentFailed",
        "reason": row.failure_reason,
        "target": row.target,
        "log_time": log_time(row.finished_at),
        "token_address": row.token_address,
    }


def pending_transfer_to_wire(row: PendingTransferRow) -> dict:
    return {
        "payment_identifier": str(row.identifier),
        "token_address": row.token_address,
        "token_network_address": row.token_network_address,
        "channel_identifier": str(row.channel_identifier),
        "initiator": row.initiator,
        "target": row.target,
        "transferred_amount": str(row.transferred_amount),
        "locked_amount": str(row.locked_amount),
        "role": row.role,
    }
