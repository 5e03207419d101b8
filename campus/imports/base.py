"""The shape of an import spec; plain specs map columns onto fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models
from django.utils import timezone

from .cells import Lookups, key_part, parse_cells, require_cells

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class ImportSpec:
    """What one kind of CSV looks like and how a row maps onto a record.

    `parse` turns a row into field values (or raises RowInvalid), `key` gives
    the natural key, and the default `apply` writes a plain model by key.
    """

    kind: str
    model: type[models.Model]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    key_fields: tuple[str, ...] = ()
    m2m: tuple[str, ...] = ()
    # The named permission needed to run this import (API and admin check it).
    permission = "manage_campus"
    # Plain records with no per-row rule are written in batches (bulk_create / bulk_update).
    bulk = False

    def parse(self, row: dict[str, str], lookups: Lookups) -> dict[str, Any]:
        raise NotImplementedError

    def key(self, values: dict[str, Any]) -> tuple:
        return tuple(key_part(values[name]) for name in self.key_fields)

    def existing(self, lookups: Lookups) -> dict[tuple, models.Model]:
        # Foreign keys by id, so building the map costs one query.
        attnames = [self.model._meta.get_field(name).attname for name in self.key_fields]
        return {tuple(key_part(getattr(obj, attname)) for attname in attnames): obj for obj in self.queryset()}

    def queryset(self):
        return self.model.objects.all()

    def differs(self, obj: models.Model, values: dict[str, Any]) -> bool:
        for name, value in values.items():
            if name in self.m2m:
                if {v.pk for v in value} != set(getattr(obj, name).values_list("pk", flat=True)):
                    return True
            elif not self._same(obj, name, value):
                return True
        return False

    def apply(self, values: dict[str, Any], obj: models.Model | None, *, actor) -> str:
        if obj is not None and not self.differs(obj, values):
            return UNCHANGED
        outcome = CREATED if obj is None else UPDATED
        obj = obj or self.model()
        m2m = {name: values[name] for name in self.m2m if name in values}
        for name, value in values.items():
            if name not in self.m2m:
                setattr(obj, name, value)
        self.save(obj, actor=actor)
        for name, value in m2m.items():
            getattr(obj, name).set(value)
        return outcome

    def save(self, obj: models.Model, *, actor) -> None:
        self.clean(obj)
        obj.save()

    def clean(self, obj: models.Model) -> None:
        # Foreign keys were resolved from the database while parsing; checking
        # them again would cost a query per row. Uniqueness is the natural key's job.
        foreign_keys = [f.name for f in self.model._meta.concrete_fields if f.is_relation]
        obj.full_clean(exclude=foreign_keys, validate_unique=False, validate_constraints=False)

    def prepare(self, values: dict[str, Any], obj: models.Model | None) -> tuple[models.Model, str, set[str]]:
        """The validated, unsaved instance for a new or changed row, and the fields that changed."""
        if obj is None:
            obj, outcome, changed = self.model(), CREATED, set(values)
        else:
            outcome = UPDATED
            changed = {name for name, value in values.items() if not self._same(obj, name, value)}
        for name, value in values.items():
            setattr(obj, name, value)
        self.clean(obj)
        return obj, outcome, changed

    def _same(self, obj: models.Model, name: str, value: Any) -> bool:
        if isinstance(value, models.Model):
            return getattr(obj, self.model._meta.get_field(name).attname) == value.pk
        return getattr(obj, name) == value

    def write_batch(self, prepared: list[tuple[models.Model, str, set[str]]]) -> None:
        new = [obj for obj, outcome, _ in prepared if outcome == CREATED]
        if new:
            self.model.objects.bulk_create(new)
        changed = [obj for obj, outcome, _ in prepared if outcome == UPDATED]
        if changed:
            # Only the columns that changed somewhere in the batch: bulk_update
            # writes one CASE per column, which is slow for wide batches.
            names = set().union(*(names for _, outcome, names in prepared if outcome == UPDATED))
            now = timezone.now()
            for obj in changed:
                obj.updated_at = now
            self.model.objects.bulk_update(changed, sorted(names | {"updated_at"}))


class SimpleSpec(ImportSpec):
    """Columns map one-to-one onto fields; `parsers` say how to read each cell."""

    bulk = True

    def parsers(self, lookups: Lookups) -> dict[str, Callable[[str], Any]]:
        raise NotImplementedError

    def parse(self, row, lookups):
        require_cells(row, self.required)
        values = parse_cells(row, self.parsers(lookups))
        return {name: value for name, value in values.items() if value is not None or name in self.nullable}

    nullable: tuple[str, ...] = ()
