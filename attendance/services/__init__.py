"""The one place where attendance changes, one module per concern.

Sightings (`mark_seen`), people's marks (`mark_manually`, `mark_bulk`), excuse
decisions, and the session lifecycle driven by the beat tasks
(`open_due_sessions`, `close_finished_sessions`) all go through here. Import
from `attendance.services`.
"""

from __future__ import annotations

from .beat import PLANNER_NAME, BeatResult, close_finished_sessions, open_due_sessions, plan_sessions
from .coverage import CoverageProvider, assess_coverage, coverage_providers
from .excuses import decide_excuse, file_excuse
from .marks import Mark, check_can_mark, mark_bulk, mark_manually
from .sessions import CloseResult, cancel_session, close_session, open_session, transition_session
from .sightings import MarkResult, hold_for_review, mark_seen

__all__ = [
    "PLANNER_NAME",
    "BeatResult",
    "CloseResult",
    "CoverageProvider",
    "Mark",
    "MarkResult",
    "assess_coverage",
    "cancel_session",
    "check_can_mark",
    "close_finished_sessions",
    "close_session",
    "coverage_providers",
    "decide_excuse",
    "file_excuse",
    "hold_for_review",
    "mark_bulk",
    "mark_manually",
    "mark_seen",
    "open_due_sessions",
    "open_session",
    "plan_sessions",
    "transition_session",
]
