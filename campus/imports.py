"""CSV import of campus data: one generic importer, one small spec per kind.

`run_import(kind=..., source=...)` is the one way in for the management
commands, the admin upload form and the API. Every row is parsed and checked
first; then all good rows are written inside one transaction (each row in its
own savepoint, so business rules such as the timetable overlap check report
against the right line). Unless `skip_invalid` is set, any bad row rolls the
whole import back. Rows are matched to existing records by natural key, so a
re-import of the same file changes nothing and says so.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils.functional import cached_property

from accounts.choices import Role, role_rank
from accounts.services import create_user, record_audit_event
from config.errors import DomainError

from .choices import StudentStatus, Weekday
from .models import (
    Building,
    Course,
    Department,
    Enrolment,
    Room,
    Section,
    Student,
    Teacher,
    Term,
    TimetableSlot,
)
from .services import save_timetable_slot

User = get_user_model()

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class RowInvalid(Exception):
    def __init__(self, problems: dict[str, str] | str):
        super().__init__(str(problems))
        self.problems = problems

    @property
    def reason(self) -> str:
        if isinstance(self.problems, str):
            return self.problems
        return "; ".join(f"{name}: {message}" for name, message in self.problems.items())


@dataclass
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    skip_invalid: bool = False
    dry_run: bool = False
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors or self.skip_invalid

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        counts = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.errors:
            counts += f", {len(self.errors)} invalid" + (" (skipped)" if self.skip_invalid else "")
        if self.dry_run:
            outcome = "dry run, nothing written"
        elif not self.written:
            outcome = "nothing written"
        elif not self.changed:
            outcome = "no changes"
        else:
            outcome = "written"
        return f"{self.kind}: {self.rows} rows; {counts}; {outcome}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [{"line": e.line, "reason": e.reason} for e in self.errors],
            "dry_run": self.dry_run,
            "written": self.written,
            "summary": self.summary(),
        }


# --- Cell parsers: raise ValueError with a message fit for the report --------


def _text(value: str, *, max_length: int | None = None) -> str:
    if max_length and len(value) > max_length:
        raise ValueError(f"at most {max_length} characters")
    return value


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")


def _time(value: str) -> datetime.time:
    try:
        return datetime.time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time (HH:MM)")


def _int(value: str, *, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number")
    if number < minimum:
        raise ValueError(f"must be at least {minimum}")
    return number


_WEEKDAYS = {label.lower(): value for value, label in Weekday.choices}
_WEEKDAYS.update({label.lower()[:3]: value for value, label in Weekday.choices})


def _weekday(value: str) -> int:
    if value.isdigit() and 0 <= int(value) <= 6:
        return int(value)
    try:
        return _WEEKDAYS[value.lower()]
    except KeyError:
        raise ValueError(f"{value!r} is not a weekday (0=Monday..6=Sunday or a day name)")


def _email(value: str) -> str:
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError(f"{value!r} is not an email address")
    return value


class Lookups:
    """Referenced records, each table read once per import."""

    @cached_property
    def buildings(self) -> dict[str, Building]:
        return {b.code.lower(): b for b in Building.objects.all()}

    @cached_property
    def departments(self) -> dict[str, Department]:
        return {d.code.lower(): d for d in Department.objects.all()}

    @cached_property
    def courses(self) -> dict[str, Course]:
        return {c.code.lower(): c for c in Course.objects.all()}

    @cached_property
    def terms(self) -> dict[str, Term]:
        return {t.name.lower(): t for t in Term.objects.all()}

    @cached_property
    def rooms(self) -> dict[str, Room]:
        return {r.code.lower(): r for r in Room.objects.all()}

    @cached_property
    def users(self) -> dict[str, Any]:
        return {u.username.lower(): u for u in User.objects.all()}

    @cached_property
    def students(self) -> dict[str, Student]:
        return {s.student_number.lower(): s for s in Student.objects.all()}

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


# --- Specs ---------------------------------------------------------------------


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

    def parse(self, row: dict[str, str], lookups: Lookups) -> dict[str, Any]:
        raise NotImplementedError

    def key(self, values: dict[str, Any]) -> tuple:
        return tuple(_key_part(values[name]) for name in self.key_fields)

    def existing(self, lookups: Lookups) -> dict[tuple, models.Model]:
        # Foreign keys by id, so building the map costs one query.
        attnames = [self.model._meta.get_field(name).attname for name in self.key_fields]
        return {tuple(_key_part(getattr(obj, attname)) for attname in attnames): obj for obj in self.queryset()}

    def queryset(self):
        return self.model.objects.all()

    def differs(self, obj: models.Model, values: dict[str, Any]) -> bool:
        for name, value in values.items():
            if name in self.m2m:
                if {v.pk for v in value} != set(getattr(obj, name).values_list("pk", flat=True)):
                    return True
            elif isinstance(value, models.Model):
                if getattr(obj, self.model._meta.get_field(name).attname) != value.pk:
                    return True
            elif getattr(obj, name) != value:
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
        obj.full_clean(validate_unique=False, validate_constraints=False)
        obj.save()


def _key_part(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    return value.lower() if isinstance(value, str) else value


def _cells(row: dict[str, str], parsers: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
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


def _need(row: dict[str, str], names: Iterable[str]) -> None:
    missing = {name: "is required" for name in names if not row.get(name)}
    if missing:
        raise RowInvalid(missing)


class SimpleSpec(ImportSpec):
    """Columns map one-to-one onto fields; `parsers` say how to read each cell."""

    def parsers(self, lookups: Lookups) -> dict[str, Callable[[str], Any]]:
        raise NotImplementedError

    def parse(self, row, lookups):
        _need(row, self.required)
        values = _cells(row, self.parsers(lookups))
        return {name: value for name, value in values.items() if value is not None or name in self.nullable}

    nullable: tuple[str, ...] = ()


class BuildingSpec(SimpleSpec):
    kind, model = "buildings", Building
    required, key_fields = ("code", "name"), ("code",)

    def parsers(self, lookups):
        return {"code": lambda v: _text(v, max_length=16), "name": lambda v: _text(v, max_length=120)}


class RoomSpec(SimpleSpec):
    kind, model = "rooms", Room
    required, optional, key_fields = ("code", "building"), ("name", "capacity"), ("code",)

    def parsers(self, lookups):
        return {
            "code": lambda v: _text(v, max_length=32),
            "building": lambda v: lookups.get("buildings", v, "building"),
            "name": lambda v: _text(v, max_length=120),
            "capacity": _int,
        }


class DepartmentSpec(SimpleSpec):
    kind, model = "departments", Department
    required, key_fields = ("code", "name"), ("code",)

    def parsers(self, lookups):
        return {"code": lambda v: _text(v, max_length=16), "name": lambda v: _text(v, max_length=120)}


class CourseSpec(SimpleSpec):
    kind, model = "courses", Course
    required, key_fields = ("code", "title", "department"), ("code",)

    def parsers(self, lookups):
        return {
            "code": lambda v: _text(v, max_length=32),
            "title": lambda v: _text(v, max_length=200),
            "department": lambda v: lookups.get("departments", v, "department"),
        }


class TermSpec(SimpleSpec):
    kind, model = "terms", Term
    required, key_fields = ("name", "start_date", "end_date"), ("name",)

    def parsers(self, lookups):
        return {"name": lambda v: _text(v, max_length=64), "start_date": _date, "end_date": _date}

    def parse(self, row, lookups):
        values = super().parse(row, lookups)
        if values["end_date"] < values["start_date"]:
            raise RowInvalid({"end_date": "is before start_date"})
        return values


class StudentSpec(SimpleSpec):
    """username (optional) links an existing account with the student role."""

    kind, model = "students", Student
    required, optional = ("student_number", "first_name", "last_name"), ("email", "status", "username")
    key_fields = ("student_number",)
    nullable = ("user",)
    permission = "manage_students"

    def parsers(self, lookups):
        def status(value: str) -> str:
            if value.lower() not in StudentStatus.values:
                raise ValueError(f"{value!r} is not one of {', '.join(StudentStatus.values)}")
            return value.lower()

        return {
            "student_number": lambda v: _text(v, max_length=32),
            "first_name": lambda v: _text(v, max_length=100),
            "last_name": lambda v: _text(v, max_length=100),
            "email": _email,
            "status": status,
            "user": lambda v: student_account(v, lookups),
        }

    def parse(self, row, lookups):
        if "username" in row:
            row = {**row, "user": row["username"]}
        values = super().parse(row, lookups)
        if "email" in row and "email" not in values:
            values["email"] = ""
        return values


def student_account(username: str, lookups: Lookups):
    user = lookups.users.get(username.lower())
    if user is None:
        raise ValueError(f"no user {username!r}")
    if user.role != Role.STUDENT:
        raise ValueError(f"{username!r} has role {user.role}, not student")
    return user


class TeacherSpec(ImportSpec):
    """A teacher row makes (or updates) a staff user and the teacher profile."""

    kind, model = "teachers", Teacher
    required = ("staff_number", "username", "email")
    optional = ("first_name", "last_name", "department")
    key_fields = ("staff_number",)
    user_fields = ("email", "first_name", "last_name")

    def parse(self, row, lookups):
        _need(row, self.required)
        values = _cells(
            row,
            {
                "staff_number": lambda v: _text(v, max_length=32),
                "username": lambda v: _text(v, max_length=150),
                "email": _email,
                "first_name": lambda v: _text(v, max_length=150),
                "last_name": lambda v: _text(v, max_length=150),
                "department": lambda v: lookups.get("departments", v, "department"),
            },
        )
        user = lookups.users.get(values["username"].lower())
        if user is not None and role_rank(user.role) < role_rank(Role.STAFF):
            raise RowInvalid({"username": f"{user.username!r} has role {user.role}; teachers must be staff"})
        values["user"] = user
        return values

    def queryset(self):
        return Teacher.objects.select_related("user", "department")

    def existing(self, lookups):
        return {(t.staff_number.lower(),): t for t in self.queryset()}

    def apply(self, values, obj, *, actor):
        user = values["user"] or (obj.user if obj else None)
        user_changes = {name: values[name] for name in self.user_fields if name in values and values[name] is not None}
        outcome = UNCHANGED
        if user is None:
            user = create_user(
                username=values["username"],
                email=values["email"],
                password=None,
                role=Role.STAFF,
                first_name=values.get("first_name") or "",
                last_name=values.get("last_name") or "",
            )
            outcome = CREATED
        elif any(getattr(user, name) != value for name, value in user_changes.items()):
            for name, value in user_changes.items():
                setattr(user, name, value)
            user.full_clean(exclude=["password"])
            user.save()
            outcome = UPDATED
        teacher_values = {"user": user, "staff_number": values["staff_number"]}
        if "department" in values:
            teacher_values["department"] = values["department"]
        if obj is None:
            obj = Teacher(**teacher_values)
            self.save(obj, actor=actor)
            return CREATED
        if any(getattr(obj, name) != value for name, value in teacher_values.items()):
            for name, value in teacher_values.items():
                setattr(obj, name, value)
            self.save(obj, actor=actor)
            return UPDATED
        return outcome if outcome == UNCHANGED else UPDATED


def _section_ref(row: dict[str, str], lookups: Lookups) -> Section:
    key = (row["course"], row["term"], row["section"])
    try:
        return lookups.get("sections", key, "section")
    except ValueError as exc:
        raise RowInvalid({"section": str(exc)})


class SectionSpec(ImportSpec):
    """teachers: usernames separated by ';' (all staff); left out, the teachers stay as they are."""

    kind, model = "sections", Section
    required, optional = ("course", "term", "code"), ("teachers",)
    key_fields = ("course", "term", "code")
    m2m = ("teachers",)

    def parse(self, row, lookups):
        _need(row, self.required)
        values = _cells(
            row,
            {
                "course": lambda v: lookups.get("courses", v, "course"),
                "term": lambda v: lookups.get("terms", v, "term"),
                "code": lambda v: _text(v, max_length=16),
            },
        )
        if "teachers" in row:
            teachers, unknown = [], []
            for username in filter(None, (part.strip() for part in row["teachers"].split(";"))):
                user = lookups.users.get(username.lower())
                if user is None or role_rank(user.role) < role_rank(Role.STAFF):
                    unknown.append(username)
                else:
                    teachers.append(user)
            if unknown:
                raise RowInvalid({"teachers": f"no staff user {', '.join(unknown)}"})
            values["teachers"] = teachers
        return values

    def queryset(self):
        return Section.objects.prefetch_related("teachers")

    def differs(self, obj, values):
        # The natural key is the whole record; only the teachers can change.
        return "teachers" in values and {u.pk for u in values["teachers"]} != {u.pk for u in obj.teachers.all()}


class EnrolmentSpec(ImportSpec):
    kind, model = "enrolments", Enrolment
    required = ("student_number", "course", "term", "section", "enrolled_on")
    optional = ("left_on",)
    key_fields = ("section", "student")
    permission = "manage_students"

    def parse(self, row, lookups):
        _need(row, self.required)
        values = _cells(
            row,
            {
                "student_number": lambda v: lookups.get("students", v, "student"),
                "enrolled_on": _date,
                "left_on": _date,
            },
        )
        values["student"] = values.pop("student_number")
        values["section"] = _section_ref(row, lookups)
        if values.get("left_on") and values["left_on"] < values["enrolled_on"]:
            raise RowInvalid({"left_on": "is before enrolled_on"})
        return values


class TimetableSpec(ImportSpec):
    """One weekly slot per row; identified by section, weekday, start time and first date."""

    kind, model = "timetable", TimetableSlot
    required = ("course", "term", "section", "room", "weekday", "start_time", "end_time", "valid_from")
    optional = ("valid_until",)
    key_fields = ("section", "weekday", "start_time", "valid_from")

    def parse(self, row, lookups):
        _need(row, self.required)
        values = _cells(
            row,
            {
                "room": lambda v: lookups.get("rooms", v, "room"),
                "weekday": _weekday,
                "start_time": _time,
                "end_time": _time,
                "valid_from": _date,
                "valid_until": _date,
            },
        )
        values["section"] = _section_ref(row, lookups)
        if values["end_time"] <= values["start_time"]:
            raise RowInvalid({"end_time": "is not after start_time"})
        if values.get("valid_until") and values["valid_until"] < values["valid_from"]:
            raise RowInvalid({"valid_until": "is before valid_from"})
        return values

    def save(self, obj, *, actor):
        save_timetable_slot(slot=obj, actor=actor)


IMPORT_SPECS: dict[str, ImportSpec] = {
    spec.kind: spec
    for spec in (
        BuildingSpec(),
        RoomSpec(),
        DepartmentSpec(),
        CourseSpec(),
        TermSpec(),
        StudentSpec(),
        TeacherSpec(),
        SectionSpec(),
        EnrolmentSpec(),
        TimetableSpec(),
    )
}


# --- The importer ----------------------------------------------------------------


class _RollBack(Exception):
    pass


def _read_rows(source: str | Path | IO) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if isinstance(source, (str, Path)):
        text = Path(source).read_text(encoding="utf-8-sig")
    else:
        data = source.read()
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    rows = []
    for raw in reader:
        cleaned = {
            name.strip().lower(): (value or "").strip()
            for name, value in raw.items()
            if name is not None and not isinstance(value, list)
        }
        if any(cleaned.values()) or raw.get(None):
            extra = raw.get(None)
            if extra:
                cleaned["__extra__"] = ",".join(extra)
            rows.append((reader.line_num, cleaned))
    return header, rows


def run_import(
    *,
    kind: str,
    source: str | Path | IO,
    skip_invalid: bool = False,
    dry_run: bool = False,
    actor=None,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> ImportResult:
    """Import one CSV of `kind`; nothing is written if any row is bad (unless skip_invalid) or on dry_run."""
    spec = IMPORT_SPECS[kind]
    result = ImportResult(kind=kind, skip_invalid=skip_invalid, dry_run=dry_run)
    try:
        header, rows = _read_rows(source)
    except (UnicodeDecodeError, csv.Error) as exc:
        result.errors.append(RowError(1, f"the file is not a readable UTF-8 CSV ({exc})"))
        result.skip_invalid = False
        return result
    result.rows = len(rows)
    if len(rows) > settings.CAMPUS_IMPORT_MAX_ROWS:
        result.errors.append(
            RowError(1, f"{len(rows)} rows; at most {settings.CAMPUS_IMPORT_MAX_ROWS} per import, split the file")
        )
        result.skip_invalid = False
        return result
    missing = [name for name in spec.required if name not in header]
    unknown = [name for name in header if name not in spec.required + spec.optional]
    if missing or unknown:
        reasons = []
        if missing:
            reasons.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            reasons.append(f"unknown column(s): {', '.join(unknown)}")
        result.errors.append(RowError(1, "; ".join(reasons)))
        result.skip_invalid = False  # a wrong header is never skippable
        return result

    track = progress or (lambda items, total: items)
    lookups = Lookups()

    # Phase 1: parse every row, without writing.
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple, int] = {}
    for line, row in track(rows, len(rows)):
        try:
            if "__extra__" in row:
                raise RowInvalid("more cells than columns")
            values = spec.parse(row, lookups)
            key = spec.key(values)
        except RowInvalid as exc:
            result.errors.append(RowError(line, exc.reason))
            continue
        if key in seen:
            result.errors.append(RowError(line, f"same record as line {seen[key]}"))
            continue
        seen[key] = line
        parsed.append((line, values))

    # Phase 2: write the good rows; roll everything back when that is the rule.
    existing = spec.existing(lookups)
    try:
        with transaction.atomic():
            for line, values in track(parsed, len(parsed)):
                try:
                    with transaction.atomic():
                        outcome = spec.apply(values, existing.get(spec.key(values)), actor=actor)
                except RowInvalid as exc:
                    result.errors.append(RowError(line, exc.reason))
                    continue
                except DomainError as exc:
                    result.errors.append(RowError(line, exc.message))
                    continue
                except ValidationError as exc:
                    detail = (
                        "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                        if hasattr(exc, "error_dict")
                        else " ".join(exc.messages)
                    )
                    result.errors.append(RowError(line, detail))
                    continue
                except IntegrityError:
                    result.errors.append(RowError(line, "conflicts with an existing record"))
                    continue
                setattr(result, outcome, getattr(result, outcome) + 1)
            if dry_run or (result.errors and not skip_invalid):
                raise _RollBack
            record_audit_event(
                action=f"campus.import.{kind}",
                actor=actor,
                target=kind,
                details={
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "invalid": len(result.errors),
                },
            )
            result.written = True
    except _RollBack:
        result.written = False
    result.errors.sort(key=lambda error: error.line)
    return result
