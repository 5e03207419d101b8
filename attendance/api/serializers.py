from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from campus.models import Course, Section, Student
from config.serializers import StrictModelSerializer, StrictSerializer, iso_datetime

from ..choices import MANUAL_STATUSES
from ..models import AttendanceChange, AttendanceRecord, ClassSession, ExcuseRequest
from ..selectors import STATUS_KEYS, RecordRelations


class SessionSerializer(StrictModelSerializer):
    section = serializers.SerializerMethodField()
    room = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta:
        model = ClassSession
        fields = [
            "id",
            "slot",
            "section",
            "room",
            "date",
            "scheduled_start",
            "scheduled_end",
            "status",
            "opened_at",
            "closed_at",
            "camera_coverage",
            "unverified_reason",
            "counts",
        ]

    def get_section(self, obj) -> dict:
        section = obj.section
        return {"id": section.pk, "code": section.code, "course": section.course.code, "term": section.term.name}

    def get_room(self, obj) -> dict:
        return {"id": obj.room_id, "code": obj.room.code}

    def get_counts(self, obj) -> dict | None:
        # Present on list and detail querysets, which annotate n_<status>.
        if not hasattr(obj, "n_present"):
            return None
        return {status: getattr(obj, f"n_{status}") for status in STATUS_KEYS}


def session_rows_data(rows: list[dict[str, Any]]) -> list[dict]:
    """A page of `selectors.session_rows` as `ClassSessionListSerializer` shows sessions (a test compares them)."""
    zone = timezone.get_current_timezone()
    return [
        {
            "id": row["id"],
            "slot": row["slot_id"],
            "section": {"id": row["section_id"], "code": row["section__code"], "course": row["section__course__code"],
                        "term": row["section__term__name"]},
            "room": {"id": row["room_id"], "code": row["room__code"]},
            "date": row["date"].isoformat(),
            "scheduled_start": iso_datetime(row["scheduled_start"], zone),
            "scheduled_end": iso_datetime(row["scheduled_end"], zone),
            "status": row["status"],
            "opened_at": iso_datetime(row["opened_at"], zone),
            "closed_at": iso_datetime(row["closed_at"], zone),
            "camera_coverage": None if row["camera_coverage"] is None else float(row["camera_coverage"]),
            "unverified_reason": row["unverified_reason"],
        }
        for row in rows
    ]


class ClassSessionListSerializer(SessionSerializer):
    """The sessions list: a session without its per-status counts (read them on the session itself)."""

    class Meta(SessionSerializer.Meta):
        fields = [name for name in SessionSerializer.Meta.fields if name != "counts"]


class ChangeSerializer(StrictModelSerializer):
    changed_by = serializers.CharField(source="changed_by.username", default=None, allow_null=True, read_only=True)

    class Meta:
        model = AttendanceChange
        fields = ["id", "changed_by", "from_status", "to_status", "changed_at", "reason"]


def _session_part(session: Mapping[str, Any]) -> dict[str, Any]:
    """A record's session as records show it, from a row of `selectors.record_relations`."""
    return {
        "id": session["id"],
        "date": session["date"].isoformat(),
        "section_id": session["section_id"],
        "section": f"{session['section__course__code']}-{session['section__code']}",
        "room": session["room__code"],
        "scheduled_start": session["scheduled_start"].isoformat(),
    }


def _student_part(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record's student from the record's row (`selectors.record_rows` joins it)."""
    # The name as Student.full_name gives it.
    name = f"{row['student__first_name']} {row['student__last_name']}".strip()
    return {"id": row["student_id"], "student_number": row["student__student_number"], "name": name}


def _record_data(
    row: Mapping[str, Any], session: dict[str, Any], student: dict[str, Any], marker: str | None, zone: dt.tzinfo
) -> dict:
    """One record's representation from its columns (a `selectors.record_rows` row, or a model's
    `__dict__`, which holds the same names) and its relations' parts."""
    return {
        "id": row["id"],
        "session": session,
        "student": student,
        "status": row["status"],
        "source": row["source"],
        "first_seen_at": iso_datetime(row["first_seen_at"], zone),
        "last_seen_at": iso_datetime(row["last_seen_at"], zone),
        "sightings_count": row["sightings_count"],
        "confidence": None if row["confidence"] is None else float(row["confidence"]),
        "early_leave": row["early_leave"],
        "needs_review": row["needs_review"],
        "marked_by": marker,
        "note": row["note"],
        "created_at": iso_datetime(row["created_at"], zone),
        "updated_at": iso_datetime(row["updated_at"], zone),
    }


def record_rows_data(rows: list[dict[str, Any]], relations: RecordRelations) -> list[dict]:
    """A page of record rows as `RecordSerializer` shows records; each session is built once."""
    sessions = {pk: _session_part(session) for pk, session in relations.sessions.items()}
    zone = timezone.get_current_timezone()
    return [
        _record_data(row, sessions[row["session_id"]], _student_part(row), relations.markers.get(row["marked_by_id"]),
                     zone)
        for row in rows
    ]


class RecordSerializer(StrictModelSerializer):
    """A record from a model instance (`selectors.record_list` loads its relations); lists use
    `record_rows_data`, which gives the same representation from plain rows."""

    student = serializers.SerializerMethodField()
    session = serializers.SerializerMethodField()
    marked_by = serializers.CharField(source="marked_by.username", default=None, allow_null=True, read_only=True)

    class Meta:
        model = AttendanceRecord
        fields = [
            "id",
            "session",
            "student",
            "status",
            "source",
            "first_seen_at",
            "last_seen_at",
            "sightings_count",
            "confidence",
            "early_leave",
            "needs_review",
            "marked_by",
            "note",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, instance):
        marker = instance.marked_by.username if instance.marked_by_id else None
        return _record_data(instance.__dict__, self.get_session(instance), self.get_student(instance), marker,
                            timezone.get_current_timezone())

    def get_student(self, obj) -> dict:
        student = obj.student
        return _student_part(
            {"student_id": student.pk, "student__student_number": student.student_number,
             "student__first_name": student.first_name, "student__last_name": student.last_name}
        )

    def get_session(self, obj) -> dict:
        session = obj.session
        return _session_part(
            {"id": session.pk, "date": session.date, "section_id": session.section_id,
             "section__code": session.section.code, "section__course__code": session.section.course.code,
             "room__code": session.room.code, "scheduled_start": session.scheduled_start}
        )


class RecordDetailSerializer(RecordSerializer):
    changes = ChangeSerializer(many=True, read_only=True)
    evidence = serializers.SerializerMethodField()

    class Meta(RecordSerializer.Meta):
        fields = [*RecordSerializer.Meta.fields, "changes", "evidence"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["changes"] = self.fields["changes"].to_representation(instance.changes.all())
        data["evidence"] = self.get_evidence(instance)
        return data

    def get_evidence(self, obj) -> list[int]:
        # cameras' FaceSighting points at the record (related_name "sightings"); absent without cameras.
        sightings = getattr(obj, "sightings", None)
        return list(sightings.order_by("pk").values_list("pk", flat=True)[:100]) if sightings is not None else []


class MarkSerializer(StrictSerializer):
    student = serializers.PrimaryKeyRelatedField(queryset=Student.objects.all())
    status = serializers.ChoiceField(choices=MANUAL_STATUSES)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class BulkItemSerializer(StrictSerializer):
    student = serializers.PrimaryKeyRelatedField(queryset=Student.objects.all())
    status = serializers.ChoiceField(choices=MANUAL_STATUSES)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class BulkMarkSerializer(StrictSerializer):
    marks = BulkItemSerializer(many=True, allow_empty=False, max_length=1000)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ExcuseSerializer(StrictModelSerializer):
    student = serializers.SerializerMethodField()
    filed_by = serializers.CharField(source="filed_by.username", default=None, allow_null=True, read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", default=None, allow_null=True, read_only=True)
    session_date = serializers.DateField(source="session.date", read_only=True)

    class Meta:
        model = ExcuseRequest
        fields = [
            "id",
            "student",
            "session",
            "session_date",
            "reason",
            "status",
            "filed_by",
            "decided_by",
            "decided_at",
            "decision_note",
            "created_at",
        ]

    def get_student(self, obj) -> dict:
        return {"id": obj.student_id, "student_number": obj.student.student_number, "name": obj.student.full_name}


class BulkMarkResultSerializer(StrictSerializer):
    count = serializers.IntegerField()
    records = RecordSerializer(many=True)


class ExcuseCreateSerializer(StrictSerializer):
    session = serializers.PrimaryKeyRelatedField(queryset=ClassSession.objects.select_related("section"))
    reason = serializers.CharField(max_length=2000)
    # Staff filing on a student's behalf; a student files for themself.
    student = serializers.PrimaryKeyRelatedField(queryset=Student.objects.all(), required=False)


class DecisionSerializer(StrictSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class RangeSerializer(StrictSerializer):
    date_from = serializers.DateField(required=False, source="from")
    date_to = serializers.DateField(required=False, source="to")

    def __init__(self, *args, require_range: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if require_range:
            self.fields["date_from"].required = True
            self.fields["date_to"].required = True

    def validate(self, attrs):
        start, end = attrs.get("from"), attrs.get("to")
        if start and end:
            if end < start:
                raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
            if (end - start).days > settings.ATTENDANCE_MAX_REPORT_DAYS:
                raise serializers.ValidationError(
                    {"date_to": [f"The range may span at most {settings.ATTENDANCE_MAX_REPORT_DAYS} days."]}
                )
        return attrs


class TrendsQuerySerializer(RangeSerializer):
    """Defaults to the 30 days up to today (or up to `date_to`)."""

    section = serializers.PrimaryKeyRelatedField(queryset=Section.objects.all(), required=False)
    course = serializers.PrimaryKeyRelatedField(queryset=Course.objects.all(), required=False)
    threshold = serializers.FloatField(required=False, min_value=0, max_value=1)

    def validate(self, attrs):
        if attrs.get("section") and attrs.get("course"):
            raise serializers.ValidationError({"section": ["Give a section or a course, not both."]})
        end = attrs.get("to") or timezone.localdate()
        start = attrs.get("from")
        if start is None:
            start = end - dt.timedelta(days=29) if end > dt.date.min + dt.timedelta(days=29) else dt.date.min
        attrs["to"], attrs["from"] = end, start
        return super().validate(attrs)


class ExportQuerySerializer(RangeSerializer):
    section = serializers.PrimaryKeyRelatedField(queryset=Section.objects.all(), required=False)
    course = serializers.PrimaryKeyRelatedField(queryset=Course.objects.all(), required=False)
    student = serializers.PrimaryKeyRelatedField(queryset=Student.objects.all(), required=False)
