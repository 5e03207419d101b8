from rest_framework.pagination import CursorPagination, PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CreatedCursorPagination(CursorPagination):
    """For very large tables: stable pages without COUNT(*)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-created_at"
