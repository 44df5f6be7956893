"""The local transport: delivery between nodes hosted by the same deployment, in process.

Delivering a message runs the recipient's handler in the sending thread, right after the sender's
transaction committed; the handler commits its own state and queues its own replies, which this
thread then delivers in turn (a queue per thread, drained by the outermost ``send``). A payment
between co-hosted nodes therefore completes within the API request, with no Celery hop and no
polling. A delivery that fails leaves the message pending in the sender's outbox, and the
periodic redelivery sends it again.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

from .base import DeliveryRefused, Envelope, Transport

logger = logging.getLogger(__name__)


class LocalTransport(Transport):
    def __init__(
        self,
        deliver: Callable[[Envelope], None],
        hosted: Callable[[str], bool],
        failed: Callable[[Envelope, Exception], None],
    ) -> None:
        """``deliver`` processes a message for its co-hosted recipient (in its own transaction);
        ``failed`` records a delivery that did not happen, for a later retry."""
        self._deliver = deliver
        self._hosted = hosted
        self._failed = failed
        self._local = threading.local()

    def reachable(self, address: str) -> bool:
        return self._hosted(address)

    def send(self, envelopes: Sequence[Envelope]) -> None:
        state = self._local
        queue = getattr(state, "queue", None)
        if queue is None:
            queue = state.queue = deque()
            state.draining = False
        queue.extend(envelopes)
        if state.draining:
            return  # the outer send of this thread delivers it
        state.draining = True
        try:
            while queue:
                envelope = queue.popleft()
                try:
                    self._deliver(envelope)
                except DeliveryRefused as exc:
                    self._failed(envelope, exc)
                except Exception as exc:  # the message stays pending; redelivery retries it
                    logger.exception("delivering message %s failed", envelope.message_id)
                    self._failed(envelope, exc)
        finally:
            state.draining = False
