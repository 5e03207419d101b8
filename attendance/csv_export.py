"""One CSV download for the API's export and the admin's action: rows in, a streamed response out."""

from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator

from django.http import HttpRequest, StreamingHttpResponse

from config.http import hang_up_check

logger = logging.getLogger("campus.attendance")


class _Echo:
    """A file-like object whose write returns the line, for csv.writer over a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_chunks(
    rows: Iterable[list[str]], rows_per_chunk: int = 500, client_gone: Callable[[], bool] = lambda: False
) -> Iterator[str]:
    """CSV text: the header alone at once (the first byte goes out before any query), then blocks
    of rows that grow from 50 to `rows_per_chunk`: the first rows go out soon, and a long export
    is not written a row at a time. Once `client_gone()`, checked as each block starts and before
    it is sent, no more rows are read (the server would otherwise read on until a write fails)."""
    writer = csv.writer(_Echo())
    iterator = iter(rows)
    for header in iterator:
        yield writer.writerow(header)
        break
    lines = (writer.writerow(row) for row in iterator)
    size, sent = min(50, rows_per_chunk), 0
    while not client_gone():
        block = list(itertools.islice(lines, size))
        if not block:
            return
        if client_gone():
            break
        yield "".join(block)
        sent += len(block)
        size = min(size * 2, rows_per_chunk)
    logger.info("CSV export stopped: the client hung up", extra={"rows_sent": sent})


def csv_response(request: HttpRequest, rows: Iterable[list[str]], filename: str) -> StreamingHttpResponse:
    """`rows` (the header first) as a streamed CSV download that stops when the client hangs up."""
    response = StreamingHttpResponse(_csv_chunks(rows, client_gone=hang_up_check(request)),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
