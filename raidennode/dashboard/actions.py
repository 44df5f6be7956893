"""What an operator can do from the dashboard and the admin lists: each action calls a service.

None of them waits for the chain: a retry or a close writes its operation and returns (a worker
sends the transaction), a redelivery delivers in this thread (between co-hosted nodes that is a
few queries). Each returns a ``Result`` sentence for the admin's messages; a refusal raises a
``ServiceError`` (its message is shown as an error) or ``PermissionDenied``.

Viewing the dashboard needs a staff account; an action also needs the Django permission to
change the kind of row it acts on (superusers have all of them).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.utils import timezone

from channels_app.models import ChainOperation, Channel
from raidennode.errors import Conflict, NotFound, ServiceError
from transfers_app.models import Message

RETRY_PERMISSION = "channels_app.change_chainoperation"
CLOSE_PERMISSION = "channels_app.change_channel"
REDELIVER_PERMISSION = "transfers_app.change_message"
# At most this many messages per redelivery (the service's own batch size).
REDELIVER_LIMIT = 500


@dataclass(frozen=True)
class Result:
    text: str
    level: int = messages.SUCCESS


def _require(user, permission: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied(f"You need the {permission} permission for this action.")


def operation_retry_by_operator(user, operation_id: int) -> Result:
    """Starts a failed chain operation again (``operations.operation_retry``)."""
    from channels_app.services.operations import operation_retry

    _require(user, RETRY_PERMISSION)
    op = ChainOperation.objects.filter(pk=operation_id).first()
    if op is None:
        raise NotFound(f"There is no chain operation #{operation_id}.")
    retry = operation_retry(op)
    return Result(f"Retry of operation #{op.pk} ({op.kind}) requested: operation #{retry.pk} does it.")


def channel_close_by_operator(user, channel_id: int) -> Result:
    """Requests the unilateral close of a hosted node's channel without waiting for it.

    The first half of the API's close (``channels.channel_close``, which then blocks until
    ChannelClosed is applied): under the channel's row lock it checks that the channel is open,
    marks it waiting_for_close and writes the close operation, queued when the transaction
    commits. Not the cooperative settle the API tries first: that exchanges messages and waits.
    """
    from channels_app.services.channels import channel_close_start

    _require(user, CLOSE_PERMISSION)
    channel = Channel.objects.select_related("node", "network_channel__token_network").filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(f"There is no channel #{channel_id}.")
    identifier = channel.network_channel.identifier
    if channel.state != "opened":
        raise Conflict(
            f"Channel {identifier} of {channel.node} is {channel.state}: only an open channel can be closed."
        )
    op = channel_close_start(channel.node, channel)
    return Result(
        f"Close of channel {identifier} of {channel.node} with {channel.partner_address} requested "
        f"(operation #{op.pk}); it shows as closed once ChannelClosed is confirmed."
    )


def messages_redeliver_by_operator(user, message_ids: list[int]) -> Result:
    """Delivers pending messages now rather than at their next scheduled attempt.

    Calls the redelivery duty's service (``messaging.messages_redeliver``) with the latest
    scheduled attempt of these messages as "now": it sends every pending message due by then,
    these included (up to its batch of 500, oldest first).
    """
    from transfers_app.services.messaging import messages_redeliver

    _require(user, REDELIVER_PERMISSION)
    now = timezone.now()
    pending = Message.objects.filter(pk__in=message_ids, status=Message.Status.PENDING)
    latest = pending.aggregate(latest=Max("next_attempt_at"))["latest"]
    if not pending.exists():
        return Result("Nothing to redeliver: no pending message was selected.", messages.INFO)
    sent = messages_redeliver(now=max(latest or now, now), limit=REDELIVER_LIMIT)
    statuses = dict(Message.objects.filter(pk__in=message_ids).order_by().values_list("status").annotate(n=Count("id")))
    still = statuses.get(Message.Status.PENDING, 0)
    text = (
        f"Sent {sent} message(s): {statuses.get(Message.Status.PROCESSED, 0)} of the selected delivered, "
        f"{statuses.get(Message.Status.REJECTED, 0)} rejected, {still} still pending"
    )
    if still:
        return Result(text + " (their error says why; delivery is retried on its own).", messages.WARNING)
    return Result(text + ".")


def report(request, action, *args) -> bool:
    """Runs ``action(request.user, *args)`` and shows its result or refusal; True when it succeeded."""
    try:
        result = action(request.user, *args)
    except (ServiceError, PermissionDenied) as exc:
        messages.error(request, getattr(exc, "message", None) or str(exc))
        return False
    messages.add_message(request, result.level, result.text)
    return True


# --- the same as actions of the admin lists (raidennode.dashboard.install adds them) -------------


@admin.action(description="Retry the selected failed operations")
def retry_operations(modeladmin, request, queryset) -> None:
    for pk in queryset.values_list("pk", flat=True):
        report(request, operation_retry_by_operator, pk)


@admin.action(description="Close the selected channels (on chain, without waiting)")
def close_channels(modeladmin, request, queryset) -> None:
    for pk in queryset.values_list("pk", flat=True):
        report(request, channel_close_by_operator, pk)


@admin.action(description="Redeliver the selected pending messages now")
def redeliver_messages(modeladmin, request, queryset) -> None:
    report(request, messages_redeliver_by_operator, list(queryset.values_list("pk", flat=True)[:REDELIVER_LIMIT]))
