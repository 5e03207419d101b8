"""One CSV download for the API's export and the admin's action: rows in, a streamed response out."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse


class _Echo:
    """A file-like object whose write returns the line, for csv.writer over a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_chunks(rows: Iterable[list[str]], rows_per_chunk: int = 500) -> Iterator[str]:
    """CSV text: the header alone at once (the first byte goes out before any query), then blocks
    of rows that grow from 50 to `rows_per_chunk`: the first rows go out soon, and a long export
    is not written a row at a time."""
    writer = csv.writer(_Echo())
    iterator = iter(rows)
    for header in iterator:
        yield writer.writerow(header)
        break
    block: list[str] = []
    size = min(50, rows_per_chunk)
    for row in iterator:
        block.append(writer.writerow(row))
        if len(block) >= size:
            yield "".join(block)
            block, size = [], min(size * 2, rows_per_chunk)
    if block:
        yield "".join(block)


def csv_response(rows: Iterable[list[str]], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_chunks(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
