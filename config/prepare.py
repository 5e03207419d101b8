"""Creates every folder the processes need, before any of them starts.

`python -m config.prepare` (run by `make run` before migrate and the process
manager). Settings only name the folders; creating them at import would make
every `manage.py` call, an image build included, leave folders behind owned by
whoever ran it. Idempotent; prints nothing unless something fails.
"""

from __future__ import annotations

import os
from pathlib import Path


def needed_folders() -> list[Path]:
    """The folders of this configuration: local state, uploads, static files, backups, broker, worker metrics."""
    from django.conf import settings

    folders = [
        Path(settings.VAR_DIR),
        Path(settings.MEDIA_ROOT),
        Path(settings.STATIC_ROOT),
        Path(settings.BACKUP_DIR),
    ]
    broker = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for option in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if broker.get(option):
            folders.append(Path(broker[option]))
    if settings.CACHES["default"]["BACKEND"] == "diskcache.DjangoCache":
        folders.append(Path(settings.CACHES["default"]["LOCATION"]))
    # The frame worker's metrics folder (see the Procfile and config/worker_metrics.py).
    folders.append(Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(settings.VAR_DIR) / "prometheus-worker"))
    return folders


def prepare() -> list[Path]:
    folders = needed_folders()
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    prepare()
