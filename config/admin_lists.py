"""What the admin's change lists share: yes/no filters and count columns read from an annotation."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q


class YesNoFilter(admin.SimpleListFilter):
    """A two-way list filter: "yes" keeps the rows matching `condition()`, "no" the others."""

    yes_label = "Yes"
    no_label = "No"
    # The query-string values; a filter standing in for Django's own boolean one keeps its "1"/"0".
    yes_value = "yes"
    no_value = "no"

    def condition(self) -> Q:
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return [(self.yes_value, self.yes_label), (self.no_value, self.no_label)]

    def queryset(self, request, queryset):
        if self.value() == self.yes_value:
            return queryset.filter(self.condition())
        if self.value() == self.no_value:
            return queryset.exclude(self.condition())
        return queryset


def count_column(annotation: str, description: str | None = None):
    """A sortable column showing `annotation`, a Count the admin's get_queryset adds (no query per row)."""

    @admin.display(ordering=annotation, description=description or annotation.replace("_", " "))
    def column(modeladmin, obj) -> int:
        return getattr(obj, annotation)

    return column


def flag_filter(field: str, *, title: str, yes_label: str, no_label: str) -> type[YesNoFilter]:
    """A YesNoFilter on a boolean field under Django's own parameter (`<field>__exact`, 1/0), with labels that say
    what the flag means; links written for Django's filter keep working."""
    attributes = {
        "title": title,
        "parameter_name": f"{field}__exact",
        "yes_value": "1",
        "no_value": "0",
        "yes_label": yes_label,
        "no_label": no_label,
        "condition": lambda self: Q(**{field: True}),
    }
    return type(f"{field.title().replace('_', '')}Filter", (YesNoFilter,), attributes)
