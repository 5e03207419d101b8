"""Folders: importing the settings makes none; `python -m config.prepare` (the first step
of `make run`) makes every one the processes need, for the embedded configuration."""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def embedded(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "BACKUP_DIR",
                        "PROMETHEUS_MULTIPROC_DIR"}}
    return {**env, "DEBUG": "1", "VAR_DIR": str(tmp_path / "var")}


def test_loading_the_settings_creates_no_folder(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=BASE_DIR,
                            env={**embedded(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_prepare_makes_every_folder_of_the_embedded_configuration(tmp_path):
    result = subprocess.run([sys.executable, "-m", "config.prepare"], cwd=BASE_DIR, env=embedded(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    var = tmp_path / "var"
    for folder in ("media", "static", "backups", "broker/out", "broker/processed", "broker/control", "cache",
                   "prometheus-worker"):
        assert (var / folder).is_dir(), folder
    again = subprocess.run([sys.executable, "-m", "config.prepare"], cwd=BASE_DIR, env=embedded(tmp_path),
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout == ""
