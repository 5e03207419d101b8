"""What the benchmarks that use the database do before anything else loads."""

from __future__ import annotations

import os


def setup_django() -> None:
    """Per-core figures (numpy's BLAS must not spread one match over every core, so this runs
    before numpy loads), the project's settings with DEBUG's defaults, and the app registry."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")

    import django

    django.setup()
