"""Celery beat's schedule, sent as beat sends it, runs in a real worker.

Beat applies each entry with ``task.apply_async(**options)``; a task whose limits Celery refuses
(a soft time limit above the hard one, with the global default) is never sent at all, and
beat only logs it. The sweeper is the part that matters most: an operation whose task was lost
with a killed worker is only ever run again by it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from channels_app.models import ChainOperation, Channel
from raidennode.celery import app as celery_app
from tests.payments.conftest import pair, wait_until  # noqa: F401 (pair is a fixture)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs the real worker (REDIS_URL)"),
]


def test_every_beat_entry_can_be_sent():
    import channels_app.tasks  # noqa: F401 (registers the tasks)
    import transfers_app.tasks  # noqa: F401

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        task = celery_app.tasks[entry["task"]]
        soft = task.soft_time_limit or celery_app.conf.task_soft_time_limit
        hard = task.time_limit or celery_app.conf.task_time_limit
        assert soft is None or hard is None or soft <= hard, f"beat could never send {name}: soft {soft} > hard {hard}"


def test_the_sweeper_runs_an_operation_whose_task_was_lost(pair, chain_env, token):  # noqa: F811
    """A deposit operation whose task never reached a worker (as when the worker that held it
    was killed) is run by the sweeper that beat sends, and the deposit lands on chain."""
    alice, bob, a, _b = pair
    channel = Channel.objects.select_related("network_channel__token_network").get(node=alice)
    nc = channel.network_channel
    op = ChainOperation.objects.create(
        node=alice,
        kind=ChainOperation.Kind.CHANNEL_DEPOSIT,
        args={
            "token_network": nc.token_network.address,
            "token_address": token,
            "channel_identifier": str(nc.identifier),
            "partner": bob.address,
            "total_deposit": "150",
        },
        serial_key=f"spend:{alice.pk}:{token}",
        subject_key=f"channel:{nc.token_network.address}:{nc.identifier}",
        dedupe_key=f"deposit:{channel.pk}:150",
        channel=channel,
    )
    ChainOperation.objects.filter(pk=op.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

    entry = settings.CELERY_BEAT_SCHEDULE["chain-operations-sweep"]
    celery_app.tasks[entry["task"]].apply_async(**entry.get("options", {}))
    wait_until(lambda: ChainOperation.objects.get(pk=op.pk).status == "succeeded", "the swept deposit", 60)
    assert chain_env.token_balance(nc.token_network.address) == 100 + 150 - 100 + 100  # bob's 100 + alice's 150
