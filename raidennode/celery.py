"""The Celery application. Broker and results on Redis when REDIS_URL is set, eager otherwise."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "raidennode.settings")

app = Celery("raidennode")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def is_eager() -> bool:
    """Whether tasks run in the calling thread (no REDIS_URL, or a test switched it on)."""
    return bool(app.conf.task_always_eager)
