"""What the apps' status enumerations share: each keeps a table of the moves it allows
(in its choices.py or services), and every refused move is the same Conflict."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from .exceptions import Conflict


def check_transition(transitions: Mapping[str, Collection[str]], current: str, to: str, *, what: str) -> None:
    """Raises Conflict (invalid_transition) unless `transitions` lets a `what` in `current` become `to`."""
    if to not in transitions.get(current, ()):
        raise Conflict(
            f"A {current} {what} cannot become {to}.",
            code="invalid_transition",
            details={"from": current, "to": to},
        )
