"""How many times a late-acked task message has been handed to a worker.

With `acks_late`, a task whose worker dies (OOM kill, segfault in a native
library) goes back to the queue and runs again. A message that kills every
worker it reaches would loop for ever, so each delivery is counted in the
shared cache (Redis) under the task id and its retry number, and
`CampusTask.before_start` drops the message once the count passes
`CELERY_MAX_DELIVERIES`. A counter in the message headers cannot work here:
Redis restores the original message, so a header written by the dying
worker is lost with it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("campus.tasks")

# Long enough to outlive every redelivery (visibility timeout x the cap).
COUNTER_TTL_SECONDS = 2 * 24 * 3600


def max_deliveries() -> int:
    return settings.CELERY_MAX_DELIVERIES


def delivery_key(task_id: str, retries: int) -> str:
    return f"celery:deliveries:{task_id}:{retries}"


def count_delivery(*, task_id: str, retries: int) -> int:
    """Adds one delivery of this task id (and retry number); returns the total so far."""
    key = delivery_key(task_id, retries)
    try:
        cache.add(key, 0, COUNTER_TTL_SECONDS)
        return cache.incr(key)
    except Exception:
        # Without the cache we cannot count; running the task beats dropping it.
        logger.warning("could not count task delivery", exc_info=True, extra={"task_id": task_id})
        return 1
