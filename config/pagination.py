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
    """For very large tables: stable pages without COUNT(*)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-created_at"
