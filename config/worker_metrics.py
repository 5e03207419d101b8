"""Prometheus metrics of the Celery worker processes (frames processed, faces, stage times).

The web's /metrics sees only the web processes. Frame processing happens in the
worker's child processes, so the worker runs prometheus_client's multiprocess
mode: with `PROMETHEUS_MULTIPROC_DIR` in the worker's environment (it must be
set before the process starts), every child writes its counters to files in
that folder, and the worker's main process serves their sum on
`CELERY_METRICS_PORT`. Both unset: nothing changes.

prometheus_client opens a file in that folder for every metric it creates, and
Django's import creates metrics before any Celery signal fires, so the folder
is made when this module is imported (by `config`, before Django is set up).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from celery.signals import worker_init, worker_process_shutdown

logger = logging.getLogger("campus.metrics")


def multiproc_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def ensure_multiproc_dir() -> None:
    """Makes the metrics folder if the environment names one; a missing folder must not kill the process."""
    folder = multiproc_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)


ensure_multiproc_dir()


def start_exporter(port: int, folder: Path, addr: str = "127.0.0.1") -> int:
    """Serves the summed metrics of every worker process on `port` (0 = any free port); returns the port."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server.server_port


@worker_init.connect
def _serve_worker_metrics(**kwargs) -> None:
    from django.conf import settings

    folder = multiproc_dir()
    port = settings.CELERY_METRICS_PORT
    if folder is None or not port:
        return
    folder.mkdir(parents=True, exist_ok=True)
    # Files of an earlier run would be added to this one's counts; the children
    # are not forked yet, so nothing of this run is lost.
    for stale in folder.glob("*.db"):
        stale.unlink()
    bound = start_exporter(port, folder, settings.CELERY_METRICS_ADDR)
    logger.info("worker metrics served", extra={"port": bound, "folder": str(folder)})


@worker_process_shutdown.connect
def _forget_dead_child(pid=None, **kwargs) -> None:
    if multiproc_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid or os.getpid())
