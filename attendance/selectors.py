"""Read queries reused by the API, the admin, the dashboard and the tasks.

A rate is attended (present + late) over counted (present + late + absent):
excused and unverified records are left out of both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import ExtractIsoWeekDay

from accounts.models import User
from campus.choices import ComplaintStatus
from campus.models import Complaint, Enrolment, Student, sees_whole_campus

from . import report_cache
from .choices import ATTENDED_STATUSES, COUNTED_STATUSES, RecordStatus, SessionStatus
from .models import AttendanceRecord, ClassSession, ExcuseRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from campus.models import Course, Section

    # `.values()` rows read as plain dicts: the reports pop and rename their keys.
    ValueRows = QuerySet[AttendanceRecord, dict[str, Any]]
    SessionRows = QuerySet[ClassSession, dict[str, Any]]

STATUS_KEYS = [status.value for status in RecordStatus]


def rate(attended: int, counted: int) -> float | None:
    return round(attended / counted, 4) if counted else None


def count_annotations(prefix: str = "") -> dict[str, Count]:
    """`n_<status>` counts of records; `prefix` reaches them through a relation ("records__")."""
    return {
        f"n_{status}": Count(f"{prefix}id" if prefix else "pk", filter=Q(**{f"{prefix}status": status}))
        for status in STATUS_KEYS
    }


def _with_rate(row: dict[str, Any]) -> dict[str, Any]:
    counts = {status: row.pop(f"n_{status}", 0) or 0 for status in STATUS_KEYS}
    attended = sum(counts[s] for s in ATTENDED_STATUSES)
    counted = sum(counts[s] for s in COUNTED_STATUSES)
    return {**row, **counts, "total": sum(counts.values()), "rate": rate(attended, counted)}


def session_list() -> QuerySet[ClassSession]:
    """Sessions with what their serializers show: section (course, term) and room."""
    return ClassSession.objects.select_related("section__course", "section__term", "room")


# A session as the sessions list shows it, with its section, course, term and room joined.
SESSION_ROW_FIELDS = (
    "id", "slot_id", "section_id", "section__code", "section__course__code", "section__term__name", "room_id",
    "room__code", "date", "scheduled_start", "scheduled_end", "status", "opened_at", "closed_at",
    "camera_coverage", "unverified_reason",
)


def session_rows(sessions: QuerySet[ClassSession]) -> SessionRows:
    """`sessions` as plain rows of exactly what the list shows (a page of model instances with their
    joined section, course, term and room loaded every timestamp of five tables)."""
    return cast("SessionRows", sessions.values(*SESSION_ROW_FIELDS))


def sessions_on(day: dt.date) -> QuerySet[ClassSession]:
    """The day's sessions with per-status record counts, in start order."""
    return session_list().filter(date=day).annotate(**count_annotations("records__")).order_by("scheduled_start", "id")


def record_list() -> QuerySet[AttendanceRecord]:
    """Records with their session, student and marker fetched by id, one query each.

    Not joined: the page query reads the records table alone, so with an index
    matching its order it stops after one page instead of joining a million rows
    (and PostgreSQL need not plan a seven-table join per request).
    """

    return AttendanceRecord.objects.prefetch_related(
        Prefetch("session", queryset=ClassSession.objects.select_related("section__course", "room")),
        Prefetch("student", queryset=Student.objects.only("id", "student_number", "first_name", "last_name")),
        Prefetch("marked_by", queryset=User.objects.only("id", "username")),
    )


# A record as the lists read it: its own columns and its student's, the rest by id.
RECORD_ROW_FIELDS = (
    "id", "session_id", "student_id", "marked_by_id", "status", "source", "first_seen_at", "last_seen_at",
    "sightings_count", "confidence", "early_leave", "needs_review", "note", "created_at", "updated_at",
    "student__student_number", "student__first_name", "student__last_name",
)


def record_rows(records: QuerySet[AttendanceRecord]) -> ValueRows:
    """`records` as plain rows, each joined with its student: a list page builds no model instances
    (they cost more than its queries). Two tables plan in a tenth of a millisecond; the session's
    section, course and room come by id (`record_relations`), as a seven-table join took 5 ms to plan."""
    return cast("ValueRows", records.values(*RECORD_ROW_FIELDS))


@dataclass(frozen=True)
class RecordRelations:
    """What a page of record rows points at beyond its students, by id, as plain rows."""

    sessions: dict[int, Mapping[str, Any]]
    markers: dict[int, str]


def record_relations(rows: list[dict[str, Any]]) -> RecordRelations:
    """The sessions (with section, course and room) and markers of `rows`, one query each; none
    for the markers when no row has one."""
    session_ids = {row["session_id"] for row in rows}
    marker_ids = {row["marked_by_id"] for row in rows if row["marked_by_id"] is not None}
    sessions = ClassSession.objects.filter(pk__in=session_ids).values(
        "id", "date", "section_id", "section__code", "section__course__code", "room__code", "scheduled_start"
    ) if session_ids else []
    markers = User.objects.filter(pk__in=marker_ids).values_list("id", "username") if marker_ids else []
    return RecordRelations(sessions={row["id"]: row for row in sessions}, markers=dict(markers))


def records_visible_to(
    user: User | AnonymousUser, *, section: Section | None = None, course: Course | None = None
) -> QuerySet[AttendanceRecord]:
    """The records `user` may see, optionally of one section or one course."""
    records = AttendanceRecord.objects.visible_to(user)
    if section is not None:
        records = records.filter(session__section=section)
    elif course is not None:
        records = records.filter(session__section__course=course)
    return records


def session_is_visible_to(user: User | AnonymousUser, session: ClassSession) -> bool:
    return ClassSession.objects.visible_to(user).filter(pk=session.pk).exists()


def excuses_visible_to(user: User | AnonymousUser) -> QuerySet[ExcuseRequest]:
    """The excuse requests `user` may see, with student, session and who filed and decided them."""
    return ExcuseRequest.objects.visible_to(user).select_related("student", "session", "filed_by", "decided_by")


def records_between(
    records: QuerySet[AttendanceRecord], date_from: dt.date | None, date_to: dt.date | None
) -> QuerySet[AttendanceRecord]:
    if date_from:
        records = records.filter(session__date__gte=date_from)
    if date_to:
        records = records.filter(session__date__lte=date_to)
    # Cancelled sessions do not count in any report.
    return records.exclude(session__status=SessionStatus.CANCELLED)


def status_counts(
    *, record_filter: dict[str, Any] | None = None, records: QuerySet[AttendanceRecord] | None = None
) -> dict[str, Any]:
    """Counts per status, total and rate over `records` (or all records matching `record_filter`)."""
    records = records if records is not None else AttendanceRecord.objects.all()
    if record_filter:
        records = records.filter(**record_filter)
    row = records.aggregate(**count_annotations())
    return _with_rate(row)


def records_held_for_review_count(day: dt.date, records: QuerySet[AttendanceRecord] | None = None) -> int:
    """Records of `day`'s sessions waiting for a person (`needs_review`)."""
    records = records if records is not None else AttendanceRecord.objects.all()
    return records.filter(session__date=day, needs_review=True).count()


def open_complaints_count() -> int:
    return Complaint.objects.filter(status__in=[ComplaintStatus.OPEN, ComplaintStatus.IN_PROGRESS]).count()


# --- Reports -----------------------------------------------------------------


def student_report(
    *, student: Student, records: QuerySet[AttendanceRecord], date_from: dt.date | None, date_to: dt.date | None
) -> dict[str, Any]:
    """One student's counts and rate over a range, overall and per section."""
    records = records_between(records.filter(student=student), date_from, date_to)
    per_section = cast(
        "ValueRows",
        records.values("session__section_id", "session__section__code", "session__section__course__code")
        .annotate(**count_annotations())
        .order_by("session__section__course__code", "session__section__code"),
    )
    sections = [
        _with_rate(
            {
                "section_id": row.pop("session__section_id"),
                "section": f"{row.pop('session__section__course__code')}-{row.pop('session__section__code')}",
                **row,
            }
        )
        for row in per_section
    ]
    return {
        "student": {"id": student.pk, "student_number": student.student_number, "name": student.full_name},
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
        # The sections' rows summed: no second pass over the records.
        "overall": _with_rate({f"n_{status}": sum(row[status] for row in sections) for status in STATUS_KEYS}),
        "sections": sections,
    }


def _per_student(records: QuerySet[AttendanceRecord]) -> list[dict[str, Any]]:
    """One row per student with counts and rate, by name.

    Counted on the records alone (a narrow hash aggregate), then the students' names
    read by id: sorting the joined rows by name before grouping costs ten times more.
    """

    rows = cast("ValueRows", records.order_by().values("student_id").annotate(**count_annotations()))
    counts = {row.pop("student_id"): row for row in rows}
    students = (
        Student.objects.filter(pk__in=list(counts))
        .order_by("last_name", "first_name", "id")
        .values_list("id", "student_number", "first_name", "last_name")
    )
    return [
        _with_rate({"student_id": pk, "student_number": number, "name": f"{first} {last}".strip(), **counts[pk]})
        for pk, number, first, last in students
    ]


def section_report(
    *, section: Section, records: QuerySet[AttendanceRecord], date_from: dt.date | None, date_to: dt.date | None
) -> dict[str, Any]:
    """A section's counts and rate over a range, with one row per student.

    The overall counts are the students' rows summed (no second pass over the
    records); sessions are those of the section with at least one record in scope.
    """
    records = records_between(records.filter(session__section=section), date_from, date_to)
    students = _per_student(records)
    overall = _with_rate({f"n_{status}": sum(row[status] for row in students) for status in STATUS_KEYS})
    sessions = ClassSession.objects.filter(section=section).filter(Exists(records.filter(session_id=OuterRef("pk"))))
    return {
        "section": {"id": section.pk, "code": section.code, "course": section.course.code},
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
        "sessions": sessions.count(),
        "overall": overall,
        "students": students,
    }


def sees_whole_section(user: User, section: Section) -> bool:
    """Whether every record of `section` is visible to `user` (campus-wide duties, or a teacher of it)."""
    return user.has_campus_perm("view_attendance") and (
        sees_whole_campus(user) or section.teachers.filter(pk=user.pk).exists()
    )


def section_report_json_for(
    *, user: User, section: Section, date_from: dt.date | None, date_to: dt.date | None
) -> bytes:
    """`section_report` over what `user` may see, as the API's JSON. Those who see the whole
    section share one report, cached encoded under the section's data version (attendance.report_cache)."""
    if sees_whole_section(user, section):
        return report_cache.cached_section_report(
            section.pk, date_from, date_to,
            lambda: section_report(section=section, records=AttendanceRecord.objects.all(), date_from=date_from,
                                   date_to=date_to),
        )
    records = AttendanceRecord.objects.visible_to(user)
    return report_cache.encode(section_report(section=section, records=records, date_from=date_from, date_to=date_to))


def own_report_json(
    *, user: User, student: Student, date_from: dt.date | None, date_to: dt.date | None,
    build: Callable[[], dict[str, Any]],
) -> bytes:
    """`user`'s own report on `student` as `build()` makes it, as the API's JSON, cached under the
    versions of every section the student was enrolled in (attendance.report_cache)."""
    section_ids = list(Enrolment.objects.filter(student=student).values_list("section_id", flat=True))
    return report_cache.cached_own_report(
        viewer_id=user.pk, student_id=student.pk, section_ids=section_ids, date_from=date_from, date_to=date_to,
        build=build,
    )


def course_report(
    *, course: Course, records: QuerySet[AttendanceRecord], date_from: dt.date | None, date_to: dt.date | None
) -> dict[str, Any]:
    """A course's counts and rate over a range, with one row per section."""
    records = records_between(records.filter(session__section__course=course), date_from, date_to)
    per_section = cast(
        "ValueRows",
        records.values("session__section_id", "session__section__code")
        .annotate(**count_annotations())
        .order_by("session__section__code"),
    )
    return {
        "course": {"id": course.pk, "code": course.code, "title": course.title},
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
        "overall": status_counts(records=records),
        "sections": [
            _with_rate(
                {"section_id": row.pop("session__section_id"), "section": row.pop("session__section__code"), **row}
            )
            for row in per_section
        ],
    }


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def trends(
    *, records: QuerySet[AttendanceRecord], date_from: dt.date, date_to: dt.date, threshold: float
) -> dict[str, Any]:
    """Daily rate, weekday pattern and students below `threshold` over `records` in a range."""
    records = records_between(records, date_from, date_to)
    daily = cast("ValueRows", records.values("session__date").annotate(**count_annotations()).order_by("session__date"))
    weekday = (
        records.annotate(iso_weekday=ExtractIsoWeekDay("session__date"))
        .values("iso_weekday")
        .annotate(**count_annotations())
        .order_by("iso_weekday")
    )
    students = [row for row in _per_student(records) if row["rate"] is not None and row["rate"] < threshold]
    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "threshold": threshold,
        "daily": [_with_rate({"date": row.pop("session__date").isoformat(), **row}) for row in daily],
        "weekday": [
            _with_rate(
                {"weekday": WEEKDAYS[row["iso_weekday"] - 1], **{k: v for k, v in row.items() if k != "iso_weekday"}}
            )
            for row in weekday
        ],
        "students_below": sorted(students, key=lambda row: (row["rate"], row["name"])),
    }


# --- CSV export ----------------------------------------------------------------

CSV_HEADER = [
    "date",
    "course",
    "section",
    "room",
    "scheduled_start",
    "student_number",
    "student_name",
    "status",
    "source",
    "first_seen_at",
    "last_seen_at",
    "sightings",
    "early_leave",
    "marked_by",
    "note",
]


def _iso(value: dt.date | dt.time | None) -> str:
    return value.isoformat() if value else ""


EXPORT_BLOCK_ROWS = 500
EXPORT_FIRST_BLOCK_ROWS = 50


def export_rows(records: QuerySet[AttendanceRecord]) -> Iterator[list[str]]:
    """The header and one row per record of `records` (a few sessions' worth), in one ordered query."""
    yield CSV_HEADER
    rows = records.order_by(
        "session__date", "session__scheduled_start", "session_id", "student__student_number"
    ).values_list(*EXPORT_FIELDS)
    for row in rows.iterator(chunk_size=2000):
        yield _export_row(row)


def export_range_rows(
    records: QuerySet[AttendanceRecord], *, date_from: dt.date, date_to: dt.date, section: Section | None = None,
    course: Course | None = None, student: Student | None = None,
) -> Iterator[list[str]]:
    """The header, then one row per record in the range: session by session, students by id.

    Read in blocks of about EXPORT_BLOCK_ROWS rows, each a query that stops early:
    a large session is paged by student id over the (session, student) unique
    index, small sessions are read several at a time. No query sorts a year of
    records before the first row goes out, and a client that hangs up stops the
    export at the next block. `records` is what the user may see; it is filtered here.
    """
    yield CSV_HEADER
    # The range, the cancelled sessions, the section and the course bound the sessions; every block
    # reads records of listed sessions only, so it filters on none of them again (each would join
    # the sessions into every block's query).
    sessions = ClassSession.objects.filter(date__gte=date_from, date__lte=date_to).exclude(
        status=SessionStatus.CANCELLED
    )
    if section is not None:
        sessions = sessions.filter(section=section)
    if course is not None:
        sessions = sessions.filter(section__course=course)
    if student is not None:
        records = records.filter(student=student)
        sessions = sessions.filter(pk__in=records.values("session_id"))
    session_ids = list(sessions.order_by("date", "scheduled_start", "id").values_list("pk", flat=True))
    rows = records.values_list(*EXPORT_RECORD_FIELDS, "session_id", "student_id")
    sessions_read, rows_read, position = 0, 0, 0
    # The first block is small and the blocks double up to EXPORT_BLOCK_ROWS: the first rows go
    # out after a short read, and a client that hangs up at once costs little.
    block_rows = min(EXPORT_FIRST_BLOCK_ROWS, EXPORT_BLOCK_ROWS)
    while position < len(session_ids):
        per_session = rows_read / sessions_read if sessions_read else EXPORT_BLOCK_ROWS
        if per_session >= EXPORT_BLOCK_ROWS / 2:
            # A large session (or the first): keyset blocks over (session, student).
            session_id, last_student = session_ids[position], 0
            position += 1
            described = _describe_sessions([session_id])
            while True:
                block = list(
                    rows.filter(session_id=session_id, student_id__gt=last_student).order_by("student_id")[:block_rows]
                )
                rows_read += len(block)
                for row in block:
                    yield _export_row((*described[session_id], *row))
                if len(block) < block_rows:
                    break
                last_student = block[-1][-1]
                block_rows = min(block_rows * 2, EXPORT_BLOCK_ROWS)
            sessions_read += 1
        else:
            # Small sessions: as many per query as should make one block.
            take = max(1, min(500, int(EXPORT_BLOCK_ROWS / max(per_session, 1))))
            chunk = session_ids[position : position + take]
            position += len(chunk)
            described = _describe_sessions(chunk)
            # Students in id order within a session; the sessions in `session_ids`' order (a block is small).
            by_session: dict[int, list[tuple[Any, ...]]] = {}
            for row in rows.filter(session_id__in=chunk).order_by("session_id", "student_id"):
                by_session.setdefault(row[-2], []).append(row)
            for session_id in chunk:
                for row in by_session.get(session_id, ()):
                    rows_read += 1
                    yield _export_row((*described[session_id], *row))
            sessions_read += len(chunk)


def _describe_sessions(session_ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """The export's session columns of `session_ids`, read once for the records of a block: the
    blocks read the records' own columns (and their student's and marker's), as joining the
    session, section, course and room into every block took 5 ms to plan, per block."""
    columns = (name.removeprefix("session__") for name in EXPORT_SESSION_FIELDS)
    described = ClassSession.objects.filter(pk__in=session_ids).values_list("pk", *columns)
    return {pk: tuple(rest) for pk, *rest in described}


EXPORT_SESSION_FIELDS = (
    "session__date",
    "session__section__course__code",
    "session__section__code",
    "session__room__code",
    "session__scheduled_start",
)
EXPORT_RECORD_FIELDS = (
    "student__student_number",
    "student__first_name",
    "student__last_name",
    "status",
    "source",
    "first_seen_at",
    "last_seen_at",
    "sightings_count",
    "early_leave",
    "marked_by__username",
    "note",
)
EXPORT_FIELDS = EXPORT_SESSION_FIELDS + EXPORT_RECORD_FIELDS


def _export_row(row: tuple[Any, ...]) -> list[str]:
    (day, course, section, room, start, number, first, last, status, source, first_seen, last_seen, n, early, by,
     note) = row[: len(EXPORT_FIELDS)]
    return [
        day.isoformat(),
        course,
        section,
        room,
        _iso(start),
        number,
        f"{first} {last}".strip(),
        status,
        source,
        _iso(first_seen),
        _iso(last_seen),
        str(n),
        "yes" if early else "no",
        by or "",
        note,
    ]


def day_summary(day: dt.date) -> dict[str, Any]:
    """One day's attendance over the campus: counts, rate, sessions, students below the low-rate threshold."""
    records = AttendanceRecord.objects.all()
    counts = status_counts(records=records_between(records, day, day))
    trend = trends(records=records, date_from=day, date_to=day, threshold=settings.ATTENDANCE_LOW_RATE_THRESHOLD)
    return {
        "date": day.isoformat(),
        "sessions": sessions_on(day).count(),
        **counts,
        "students_below": len(trend["students_below"]),
    }
