"""Reading one CSV cell or row: parsers that say what is wrong, and the referenced records."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils.functional import cached_property

from ..choices import Weekday
from ..models import (
    Building,
    Course,
    Department,
    Room,
    Section,
    Student,
    Term,
)

User = get_user_model()


class RowInvalid(Exception):
    def __init__(self, problems: dict[str, str] | str):
        super().__init__(str(problems))
        self.problems = problems

    @property
    def reason(self) -> str:
        if isinstance(self.problems, str):
            return self.problems
        return "; ".join(f"{name}: {message}" for name, message in self.problems.items())


# --- Cell parsers: raise ValueError with a message fit for the report --------


def text(value: str, *, max_length: int | None = None) -> str:
    if max_length and len(value) > max_length:
        raise ValueError(f"at most {max_length} characters")
    return value


def date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")


def time_of_day(value: str) -> datetime.time:
    try:
        return datetime.time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time (HH:MM)")


def whole_number(value: str, *, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number")
    if number < minimum:
        raise ValueError(f"must be at least {minimum}")
    return number


_WEEKDAYS = {label.lower(): value for value, label in Weekday.choices}
_WEEKDAYS.update({label.lower()[:3]: value for value, label in Weekday.choices})


def weekday(value: str) -> int:
    if value.isdigit() and 0 <= int(value) <= 6:
        return int(value)
    try:
        return _WEEKDAYS[value.lower()]
    except KeyError:
        raise ValueError(f"{value!r} is not a weekday (0=Monday..6=Sunday or a day name)")


def email(value: str) -> str:
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError(f"{value!r} is not an email address")
    return value


_Row = TypeVar("_Row", bound=models.Model)


def _table(model: type[_Row], field: str) -> cached_property[dict[str, _Row]]:
    """Every row of `model` by its `field`, lowercased (a CSV names records in any case); read once."""

    def read(lookups: Lookups) -> dict[str, _Row]:
        return {getattr(row, field).lower(): row for row in model._default_manager.all()}

    return cached_property(read)


class Lookups:
    """Referenced records, each table read once per import."""

    buildings = _table(Building, "code")
    departments = _table(Department, "code")
    courses = _table(Course, "code")
    terms = _table(Term, "name")
    rooms = _table(Room, "code")
    users = _table(User, "username")
    students = _table(Student, "student_number")

    @cached_property
    def sections(self) -> dict[tuple[str, str, str], Section]:
        return {
            (s.course.code.lower(), s.term.name.lower(), s.code.lower()): s
            for s in Section.objects.select_related("course", "term")
        }

    def get(self, table: str, key: str | tuple, label: str) -> Any:
        lookup_key = tuple(k.lower() for k in key) if isinstance(key, tuple) else key.lower()
        try:
            return getattr(self, table)[lookup_key]
        except KeyError:
            shown = "/".join(key) if isinstance(key, tuple) else key
            raise ValueError(f"no {label} {shown!r}")


def key_part(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    return value.lower() if isinstance(value, str) else value


def parse_cells(row: dict[str, str], parsers: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    """Parse present, non-blank cells; collect every problem of the row at once."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, parse in parsers.items():
        if name not in row:
            continue
        raw = row[name]
        if raw == "":
            values[name] = None
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            problems[name] = str(exc)
    if problems:
        raise RowInvalid(problems)
    return values


def require_cells(row: dict[str, str], names: Iterable[str]) -> None:
    missing = {name: "is required" for name in names if not row.get(name)}
    if missing:
        raise RowInvalid(missing)


def require_not_before(values: dict[str, Any], later: str, earlier: str) -> None:
    """RowInvalid when the `later` date (where given) comes before the `earlier` one."""
    if values.get(later) is not None and values[later] < values[earlier]:
        raise RowInvalid({later: f"is before {earlier}"})
