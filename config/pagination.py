from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination


class StrictPageSizeMixin:
    """`?page_size=` that is not a positive integer is a 400 (DRF silently used the default)."""

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                valid = int(raw) > 0
            except ValueError:
                valid = False
            if not valid:
                raise ValidationError({self.page_size_query_param: ["A positive integer is required."]})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
        return parameters


class StandardPagination(StrictPageSizeMixin, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CreatedCursorPagination(StrictPageSizeMixin, CursorPagination):
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
