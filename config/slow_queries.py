"""Logs every database query slower than SLOW_QUERY_MS as one structured line.

A wrapper is added to each connection when it is created (web requests,
Celery tasks and commands alike), so no middleware is needed. The fields
(duration_ms, sql, alias, request_id) come out as JSON keys under the
production JSON formatter.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db.backends.signals import connection_created

logger = logging.getLogger("campus.slow_query")

MAX_SQL_CHARS = 2000


def log_slow_queries(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        if duration_ms >= settings.SLOW_QUERY_MS:
            logger.warning(
                "slow query",
                extra={
                    "duration_ms": duration_ms,
                    "sql": sql[:MAX_SQL_CHARS],
                    "many": many,
                    "alias": context["connection"].alias,
                    "slow": True,
                },
            )


def _add_wrapper(sender, connection, **kwargs) -> None:
    if log_slow_queries not in connection.execute_wrappers:
        connection.execute_wrappers.append(log_slow_queries)


def install() -> None:
    connection_created.connect(_add_wrapper, dispatch_uid="config.slow_queries")
