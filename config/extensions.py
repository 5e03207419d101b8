"""Extension points: where a lower layer calls functions that a higher one provides.

A lower module declares the point (`purgers = ExtensionPoint("retention purgers")`)
and reads it; nothing registers itself. `cameras.composition`, the one module
that imports every app, provides the functions of every point at startup, so
"who calls this?" is answered there, from its imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable)


class ExtensionPoint(Generic[F]):
    """Named functions, provided all at once; read in the order they were provided."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[str, F] = {}

    def provide(self, entries: Mapping[str, F]) -> None:
        """Replaces what the point holds (the composition calls it once per process)."""
        self._entries = dict(entries)

    def entries(self) -> dict[str, F]:
        return dict(self._entries)

    @contextmanager
    def replaced(self, entries: Mapping[str, F]) -> Iterator[ExtensionPoint[F]]:
        """Holds `entries` instead for the block, then restores the provided ones (tests)."""
        saved = self._entries
        self._entries = dict(entries)
        try:
            yield self
        finally:
            self._entries = saved

    def __repr__(self) -> str:
        return f"<ExtensionPoint {self.name}: {', '.join(self._entries) or 'nothing provided'}>"
