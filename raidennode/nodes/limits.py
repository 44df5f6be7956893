"""Per-node limits an operator sets: API requests per minute and the largest payment per token.

Requests are counted per node and wall-clock minute in the cache (Redis when REDIS_URL is set, so
every web process shares one count). Both limits answer 429 with a message that says which
limit was hit.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from raidennode.errors import TooManyRequests

from .models import Node, PaymentLimit


def request_admit(node: Node) -> None:
    """Counts one API request of ``node``; raises TooManyRequests above its requests_per_minute."""
    limit = node.requests_per_minute
    if limit is None:
        return
    now = time.time()
    window = int(now // 60)
    key = f"rate:{node.address}:{window}"
    # add() creates the counter with an expiry; incr() is atomic in Redis
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    if count > limit:
        retry_after = max(1, int(60 - now % 60))
        raise TooManyRequests(
            f"Request limit reached: this node accepts {limit} API requests per minute; try again in {retry_after} s.",
            retry_after=retry_after,
        )


def payment_amount_check(node: Node, token_address: str, amount: int) -> None:
    """Raises TooManyRequests when ``amount`` exceeds the node's largest payment of that token."""
    limit = PaymentLimit.objects.filter(node=node, token_address=token_address).values_list("max_amount", flat=True)
    maximum = next(iter(limit), None)
    if maximum is not None and amount > maximum:
        raise TooManyRequests(
            f"Payment limit exceeded: this node sends at most {maximum} of token {token_address} "
            f"in one payment (asked {amount})."
        )
