"""Writers released at the same moment, for the tests that prove a race is safe."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_at_once(*jobs: Callable[[], object], timeout: float = 30) -> list[BaseException]:
    """Runs each job in its own thread, all released together; returns what the jobs raised.

    Each thread closes its own database connection, so the test database can be dropped afterwards.
    """
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=timeout)
            job()
        except BaseException as exc:  # reported to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors
