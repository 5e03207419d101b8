"""What the admin's change lists share: yes/no filters, count columns read from an annotation, and actions
that run a service on each selected row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q

from config.exceptions import DomainError


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


def service_action(
    call: Callable[[Any, Any], object],
    *,
    description: str,
    done: str,
    allowed: Callable[[Any, Any], bool] | None = None,
):
    """An admin action that runs `call(obj, request)` (a service) on each selected row, then says how many it
    did (`done`, with `{count}`) and, for up to ten others, why the service refused them (their DomainError).
    `allowed(modeladmin, request)`, when given, may refuse the whole action first (it tells the user why)."""

    @admin.action(description=description)
    def action(modeladmin, request, queryset) -> None:
        if allowed is not None and not allowed(modeladmin, request):
            return
        count, refused = 0, []
        for obj in queryset:
            try:
                call(obj, request)
            except DomainError as exc:
                refused.append(f"{obj}: {exc.message}")
            else:
                count += 1
        if count:
            modeladmin.message_user(request, done.format(count=count), messages.SUCCESS)
        for message in refused[:10]:
            modeladmin.message_user(request, message, messages.ERROR)

    return action
