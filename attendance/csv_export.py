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
    """CSV text: the header alone at once (the first byte goes out before any query), then blocks of rows."""
    writer = csv.writer(_Echo())
    block: list[str] = []
    for row in rows:
        block.append(writer.writerow(row))
        if len(block) == 1 or len(block) >= rows_per_chunk:
            yield "".join(block)
            block = []
    if block:
        yield "".join(block)


def csv_response(rows: Iterable[list[str]], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_chunks(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
