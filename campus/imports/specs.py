"""One spec per kind of CSV; each says its columns, natural key and how a row maps onto records."""

from __future__ import annotations

from accounts.choices import Role, role_rank
from accounts.services import create_user

from .. import models
from ..choices import StudentStatus
from ..services import save_timetable_slot
from .base import CREATED, UNCHANGED, UPDATED, ImportSpec, SimpleSpec
from .cells import (
    Lookups,
    RowInvalid,
    date,
    email,
    parse_cells,
    require_cells,
    require_not_before,
    text,
    time_of_day,
    weekday,
    whole_number,
)


class CodeAndNameSpec(SimpleSpec):
    """Buildings and departments (`models.CodeAndName`): a code, the key, and a name."""

    required, key_fields = ("code", "name"), ("code",)

    def parsers(self, lookups):
        return {"code": lambda v: text(v, max_length=16), "name": lambda v: text(v, max_length=120)}


class BuildingSpec(CodeAndNameSpec):
    kind, model = "buildings", models.Building


class RoomSpec(SimpleSpec):
    kind, model = "rooms", models.Room
    required, optional, key_fields = ("code", "building"), ("name", "capacity"), ("code",)

    def parsers(self, lookups):
        return {
            "code": lambda v: text(v, max_length=32),
            "building": lambda v: lookups.get("buildings", v, "building"),
            "name": lambda v: text(v, max_length=120),
            "capacity": whole_number,
        }


class DepartmentSpec(CodeAndNameSpec):
    kind, model = "departments", models.Department


class CourseSpec(SimpleSpec):
    kind, model = "courses", models.Course
    required, key_fields = ("code", "title", "department"), ("code",)

    def parsers(self, lookups):
        return {
            "code": lambda v: text(v, max_length=32),
            "title": lambda v: text(v, max_length=200),
            "department": lambda v: lookups.get("departments", v, "department"),
        }


class TermSpec(SimpleSpec):
    kind, model = "terms", models.Term
    required, key_fields = ("name", "start_date", "end_date"), ("name",)

    def parsers(self, lookups):
        return {"name": lambda v: text(v, max_length=64), "start_date": date, "end_date": date}

    def parse(self, row, lookups):
        values = super().parse(row, lookups)
        require_not_before(values, "end_date", "start_date")
        return values


class StudentSpec(SimpleSpec):
    """username (optional) links an existing account with the student role."""

    kind, model = "students", models.Student
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
            "student_number": lambda v: text(v, max_length=32),
            "first_name": lambda v: text(v, max_length=100),
            "last_name": lambda v: text(v, max_length=100),
            "email": email,
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

    kind, model = "teachers", models.Teacher
    required = ("staff_number", "username", "email")
    optional = ("first_name", "last_name", "department")
    key_fields = ("staff_number",)
    user_fields = ("email", "first_name", "last_name")

    def parse(self, row, lookups):
        require_cells(row, self.required)
        values = parse_cells(
            row,
            {
                "staff_number": lambda v: text(v, max_length=32),
                "username": lambda v: text(v, max_length=150),
                "email": email,
                "first_name": lambda v: text(v, max_length=150),
                "last_name": lambda v: text(v, max_length=150),
                "department": lambda v: lookups.get("departments", v, "department"),
            },
        )
        user = lookups.users.get(values["username"].lower())
        if user is not None and role_rank(user.role) < role_rank(Role.STAFF):
            raise RowInvalid({"username": f"{user.username!r} has role {user.role}; teachers must be staff"})
        values["user"] = user
        return values

    def queryset(self):
        return models.Teacher.objects.select_related("user", "department")

    def existing(self, lookups):
        return {(t.staff_number.lower(),): t for t in self.queryset()}

    def differs(self, obj, values):
        if values["user"] is not None and values["user"].pk != obj.user_id:
            return True
        if any(getattr(obj.user, name) != values[name] for name in self.user_fields if values.get(name) is not None):
            return True
        if "department" in values:
            return obj.department_id != (values["department"].pk if values["department"] else None)
        return False

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
            obj = models.Teacher(**teacher_values)
            self.save(obj, actor=actor)
            return CREATED
        if any(getattr(obj, name) != value for name, value in teacher_values.items()):
            for name, value in teacher_values.items():
                setattr(obj, name, value)
            self.save(obj, actor=actor)
            return UPDATED
        return outcome if outcome == UNCHANGED else UPDATED


def _section_ref(row: dict[str, str], lookups: Lookups) -> models.Section:
    key = (row["course"], row["term"], row["section"])
    try:
        return lookups.get("sections", key, "section")
    except ValueError as exc:
        raise RowInvalid({"section": str(exc)})


class SectionSpec(ImportSpec):
    """teachers: usernames separated by ';' (all staff); left out, the teachers stay as they are."""

    kind, model = "sections", models.Section
    required, optional = ("course", "term", "code"), ("teachers",)
    key_fields = ("course", "term", "code")
    m2m = ("teachers",)

    def parse(self, row, lookups):
        require_cells(row, self.required)
        values = parse_cells(
            row,
            {
                "course": lambda v: lookups.get("courses", v, "course"),
                "term": lambda v: lookups.get("terms", v, "term"),
                "code": lambda v: text(v, max_length=16),
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
        return models.Section.objects.prefetch_related("teachers")

    def differs(self, obj, values):
        # The natural key is the whole record; only the teachers can change.
        return "teachers" in values and {u.pk for u in values["teachers"]} != {u.pk for u in obj.teachers.all()}


class EnrolmentSpec(SimpleSpec):
    kind, model = "enrolments", models.Enrolment
    required = ("student_number", "course", "term", "section", "enrolled_on")
    optional = ("left_on",)
    key_fields = ("section", "student")
    nullable = ("left_on",)
    permission = "manage_students"

    def parsers(self, lookups):
        return {
            "student_number": lambda v: lookups.get("students", v, "student"),
            "enrolled_on": date,
            "left_on": date,
        }

    def parse(self, row, lookups):
        values = super().parse(row, lookups)
        values["student"] = values.pop("student_number")
        values["section"] = _section_ref(row, lookups)
        require_not_before(values, "left_on", "enrolled_on")
        return values


class TimetableSpec(SimpleSpec):
    """One weekly slot per row; identified by section, weekday, start time and first date."""

    kind, model = "timetable", models.TimetableSlot
    required = ("course", "term", "section", "room", "weekday", "start_time", "end_time", "valid_from")
    optional = ("valid_until",)
    key_fields = ("section", "weekday", "start_time", "valid_from")
    nullable = ("valid_until",)
    # Row by row: each slot goes through `save_timetable_slot`, which refuses overlaps.
    bulk = False

    def parsers(self, lookups):
        return {
            "room": lambda v: lookups.get("rooms", v, "room"),
            "weekday": weekday,
            "start_time": time_of_day,
            "end_time": time_of_day,
            "valid_from": date,
            "valid_until": date,
        }

    def parse(self, row, lookups):
        values = super().parse(row, lookups)
        values["section"] = _section_ref(row, lookups)
        if values["end_time"] <= values["start_time"]:
            raise RowInvalid({"end_time": "is not after start_time"})
        require_not_before(values, "valid_until", "valid_from")
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
