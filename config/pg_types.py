"""PostgreSQL timestamps read by psycopg's compiled parser, not Django's pure-Python one.

Django reads `timestamptz` through a subclass of psycopg's *Python* loader (so that it can
attach the connection's zone), and the compiled loader of psycopg's binary package is never
used (Django ticket #36960, psycopg issue #1273). A records page holds 200 timestamps; parsing
them in Python was a fifth of the page's CPU. The loader below parses with the compiled loader
and attaches the zone exactly as Django's does, so every value read is the same.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.postgres import types
from psycopg.pq import Format

TIMESTAMPTZ_OID = types["timestamptz"].oid
# psycopg's own registry gives its compiled loader when the binary package is installed, else
# the Python one: either parses the same text.
_PARSER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


class CompiledTimestamptzLoader(Loader):
    """Django's `BaseTzLoader` behaviour (the value in `timezone`, naive when it is None) on
    psycopg's compiled parser. Django checks `timezone` before each cursor and keeps a loader
    whose zone is its own."""

    timezone: dt.tzinfo | None = None

    def __init__(self, oid: int, context: Any = None):
        super().__init__(oid, context)
        self._parse = _PARSER(oid, context).load

    def load(self, data: Any) -> dt.datetime:
        return self._parse(data).replace(tzinfo=self.timezone)


@lru_cache
def _loader_for(zone: dt.tzinfo | None) -> type[CompiledTimestamptzLoader]:
    return type("CompiledTimestamptzLoader", (CompiledTimestamptzLoader,), {"timezone": zone})


def use_compiled_timestamp_loader(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: registers the loader on the psycopg connection once (a
    pooled connection keeps it when handed out again)."""
    if connection.vendor != "postgresql" or connection.connection is None:
        return
    loader = _loader_for(connection.timezone)
    adapters = connection.connection.adapters
    if adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is not loader:
        adapters.register_loader(TIMESTAMPTZ_OID, loader)
