"""The admin's paginator for the big tables: never a COUNT(*) of a million rows, never a made-up number.

An unfiltered list of a large table shows PostgreSQL's own row estimate
(`pg_class.reltuples`, kept by ANALYZE and autovacuum) as "about 1,070,000"; a
filtered one counts at most COUNT_CAP + 1 rows (a LIMITed count) and says
"more than 10,000" past that. Small tables are counted exactly.
`templates/admin/pagination.html` shows `count_label` where there is one.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class HonestCountPaginator(Paginator):
    COUNT_CAP = 10_000

    count_label = ""

    def _estimate(self) -> int | None:
        """The planner's row count of the table when the list is the whole table (PostgreSQL only)."""
        query = getattr(self.object_list, "query", None)
        if query is None or query.where or query.distinct or query.combinator:
            return None
        connection = connections[self.object_list.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [query.model._meta.db_table])
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] > self.COUNT_CAP else None

    @cached_property
    def count(self) -> int:
        estimate = self._estimate()
        if estimate is not None:
            rounded = round(estimate, 3 - len(str(estimate)))  # three significant figures: an estimate
            self.count_label = f"about {rounded:,}"
            return rounded
        counted = self.object_list[: self.COUNT_CAP + 1].count()
        if counted > self.COUNT_CAP:
            self.count_label = f"more than {self.COUNT_CAP:,}"
        return counted
