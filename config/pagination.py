from rest_framework.pagination import CursorPagination, PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CreatedCursorPagination(CursorPagination):
    """For the big tables: keyset pages, newest first, without COUNT(*).

    A page is `WHERE key <= last key ORDER BY key DESC, id DESC LIMIT n + 1`
    (DRF skips the rows already shown that share the last key with a small
    offset), which an index on (key DESC, id DESC) answers by reading about
    n + 1 entries however large the table. `next` / `previous` are opaque
    cursors; there is no page number and no total.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-created_at", "-id")


class ScheduledCursorPagination(CreatedCursorPagination):
    """Class sessions, latest start first."""

    ordering = ("-scheduled_start", "-id")


class SeenCursorPagination(CreatedCursorPagination):
    """Face sightings, latest first."""

    ordering = ("-seen_at", "-id")
