"""Camera coverage of a session: the composition provides cameras' provider; attendance never imports cameras."""

from __future__ import annotations

import logging
from collections.abc import Callable

from config.extensions import ExtensionPoint

from ..models import ClassSession

logger = logging.getLogger("campus.attendance")


CoverageProvider = Callable[[ClassSession], "float | None"]
# `fn(session) -> float | None`: fraction (0..1) of the session the room's cameras were healthy.
coverage_providers: ExtensionPoint[CoverageProvider] = ExtensionPoint("coverage providers")


def assess_coverage(session: ClassSession) -> tuple[float | None, str]:
    """(coverage, problem). Coverage is the lowest any provider reports; None when no provider knows the room."""
    values: list[float] = []
    for provider in coverage_providers.entries().values():
        try:
            value = provider(session)
        except Exception:  # a provider's bug must not block closing, nor make anyone absent
            logger.exception("coverage provider failed", extra={"session_id": session.pk})
            return None, "Camera health could not be determined (the coverage provider failed)."
        if value is not None:
            values.append(min(1.0, max(0.0, float(value))))
    return (min(values) if values else None), ""
