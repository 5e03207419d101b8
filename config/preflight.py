"""`python -m config.preflight`: exits non-zero unless PostgreSQL and Redis answer.

The test command runs it first, so tests never silently fall back to SQLite.
"""

from __future__ import annotations

import os
import sys

import dj_database_url
import psycopg
import redis


def main() -> int:
    failures = []
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        failures.append(f"DATABASE_URL must point at PostgreSQL, got {database_url!r}")
    else:
        db = dj_database_url.parse(database_url)
        try:
            psycopg.connect(
                host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
                password=db["PASSWORD"] or None, dbname="postgres", connect_timeout=5,
            ).close()
        except psycopg.Error as exc:
            failures.append(f"PostgreSQL is not reachable: {exc}")
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url.startswith("redis"):
        failures.append(f"REDIS_URL must point at Redis, got {redis_url!r}")
    else:
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            failures.append(f"Redis is not reachable: {exc}")
    for failure in failures:
        print(f"preflight: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
