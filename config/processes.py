"""Stopping the child processes that the benchmarks and the test tools start (servers, workers, ffmpeg)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any], *, timeout: float, group: bool = False) -> None:
    """Stops `process` if it still runs: SIGTERM, `timeout` seconds to exit cleanly, then SIGKILL and a wait.

    With `group`, the signals go to its whole process group (a child started with
    `start_new_session=True`), so gunicorn's or Celery's own workers stop with their master.
    """
    if process.poll() is not None:
        return
    _send(process, signal.SIGTERM, group=group)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _send(process, signal.SIGKILL, group=group)
        process.wait(timeout=timeout)  # reaped: no zombie, and its ports and files are released


def _send(process: subprocess.Popen[Any], signum: int, *, group: bool) -> None:
    if not group:
        process.send_signal(signum)  # a no-op once the process has exited
        return
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(process.pid, signum)
