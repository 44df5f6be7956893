"""The embedded stand-in for Celery beat: one thread that ingests, runs duties and sweeps.

The duties of other apps (settings.RAIDEN_EXTRA_DUTIES, e.g. payments' lock expiry) run after
the chain's, without this app importing them.

Used by ``manage.py devnet`` when Celery is eager (no REDIS_URL); hosted deployments run the same
three tasks from Celery beat instead.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils.module_loading import import_string

from raidennode.chain.errors import RpcUnavailable

from .duties import chain_duties_run, gas_reserves_check
from .ingest import chain_ingest_all
from .operations import operations_sweep

logger = logging.getLogger(__name__)


class ChainLoop(threading.Thread):
    def __init__(self, interval: float = 0.25, sweep_every: float = 10.0) -> None:
        super().__init__(name="chain-loop", daemon=True)
        self.interval = interval
        self.sweep_every = sweep_every
        self._stop_event = threading.Event()

    def run(self) -> None:
        last_sweep = time.monotonic()
        extra_duties = [import_string(path) for path in settings.RAIDEN_EXTRA_DUTIES]
        while not self._stop_event.is_set():
            try:
                chain_ingest_all()
                chain_duties_run()
                for duty in extra_duties:
                    duty()
                if time.monotonic() - last_sweep > self.sweep_every:
                    operations_sweep()
                    gas_reserves_check()
                    last_sweep = time.monotonic()
            except RpcUnavailable as exc:
                logger.warning("Ethereum node unreachable: %s", exc)
            except Exception:  # keep the node's duties alive; the next round retries
                logger.exception("chain loop round failed")
            finally:
                close_old_connections()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
