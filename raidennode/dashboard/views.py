"""The dashboard page (/admin/dashboard/): GET shows it, POST runs one action and redirects back."""

from __future__ import annotations

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from .actions import (
    CLOSE_PERMISSION,
    REDELIVER_LIMIT,
    REDELIVER_PERMISSION,
    RETRY_PERMISSION,
    channel_close_by_operator,
    messages_redeliver_by_operator,
    operation_retry_by_operator,
    report,
)
from .selectors import HourBucket, dashboard_get, undelivered_messages_queryset

TEMPLATE = "admin/raidennode_dashboard.html"

# The chart's geometry, in SVG user units.
BAR_WIDTH = 22
BAR_GAP = 6
PLOT_HEIGHT = 140
LEFT = 40
TOP = 10
BOTTOM = 24
SERIES = (("succeeded", "#2e7d32"), ("failed", "#c62828"), ("pending", "#9e9e9e"))


def payments_chart(hours: list[HourBucket]) -> dict:
    """Stacked bars (succeeded, failed, pending) of payments per hour, laid out for the template."""
    top = max((bucket.total for bucket in hours), default=0)
    scale = PLOT_HEIGHT / max(top, 1)
    baseline = TOP + PLOT_HEIGHT
    bars = []
    for index, bucket in enumerate(hours):
        x = LEFT + index * (BAR_WIDTH + BAR_GAP)
        y = baseline
        segments = []
        for name, color in SERIES:
            count = getattr(bucket, name)
            if not count:
                continue
            height = count * scale
            y -= height
            segments.append(
                {"series": name, "count": count, "color": color, "y": round(y, 2), "height": round(height, 2)}
            )
        bars.append(
            {
                "start": bucket.start,
                "x": x,
                "label_x": x + BAR_WIDTH / 2,
                "label": bucket.start.strftime("%H") if index % 3 == 0 or index == len(hours) - 1 else "",
                "segments": segments,
                "bucket": bucket,
            }
        )
    return {
        "width": LEFT + len(hours) * (BAR_WIDTH + BAR_GAP),
        "height": TOP + PLOT_HEIGHT + BOTTOM,
        "bar_width": BAR_WIDTH,
        "baseline": baseline,
        "top": TOP,
        "left": LEFT,
        "max": top,
        "bars": bars,
        "series": SERIES,
    }


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _post(request) -> None:
    action = request.POST.get("action")
    if action == "retry":
        operation_id = _int(request.POST.get("operation"))
        if operation_id is None:
            messages.error(request, "Which operation? The form sent no operation id.")
            return
        report(request, operation_retry_by_operator, operation_id)
    elif action == "close":
        channel_id = _int(request.POST.get("channel"))
        if channel_id is None:
            messages.error(request, "Enter the id of the channel to close (the Channels list shows it).")
            return
        report(request, channel_close_by_operator, channel_id)
    elif action == "redeliver":
        ids = list(undelivered_messages_queryset().order_by("id").values_list("pk", flat=True)[:REDELIVER_LIMIT])
        report(request, messages_redeliver_by_operator, ids)
    else:
        messages.error(request, f"Unknown action {action!r}.")


@require_http_methods(["GET", "HEAD", "POST"])
def dashboard_view(request):
    """Staff only (wrapped in ``admin.site.admin_view`` by ``raidennode.dashboard.install``)."""
    if request.method == "POST":
        _post(request)
        return redirect(reverse("admin:raidennode_dashboard"))
    data = dashboard_get()
    user = request.user
    context = {
        **admin.site.each_context(request),
        "title": "Operator dashboard",
        "data": data,
        "chart": payments_chart(data.hours),
        "can_retry": user.has_perm(RETRY_PERMISSION),
        "can_close": user.has_perm(CLOSE_PERMISSION),
        "can_redeliver": user.has_perm(REDELIVER_PERMISSION),
    }
    return TemplateResponse(request, TEMPLATE, context)
