from __future__ import annotations

import django_filters as filters

from config.filters import BooleanFilter, FilterSet, IdFilter, IntegerFilter, MultipleChoiceFilter

from ..choices import ExcuseStatus, RecordSource, RecordStatus, SessionStatus
from ..models import AttendanceRecord, ClassSession, ExcuseRequest


class ClassSessionFilter(FilterSet):
    section = IdFilter(field_name="section_id")
    room = IdFilter(field_name="room_id")
    date_from = filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="date", lookup_expr="lte")
    status = MultipleChoiceFilter(choices=SessionStatus.choices)
    course = IntegerFilter(field_name="section__course_id")

    class Meta:
        model = ClassSession
        fields = ["section", "room", "date", "date_from", "date_to", "status", "course"]


class AttendanceRecordFilter(FilterSet):
    session = IdFilter(field_name="session_id")
    student = IdFilter(field_name="student_id")
    section = IntegerFilter(field_name="session__section_id")
    course = IntegerFilter(field_name="session__section__course_id")
    room = IntegerFilter(field_name="session__room_id")
    date_from = filters.DateFilter(field_name="session__date", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="session__date", lookup_expr="lte")
    status = MultipleChoiceFilter(choices=RecordStatus.choices)
    source = MultipleChoiceFilter(choices=RecordSource.choices)
    early_leave = BooleanFilter()
    needs_review = BooleanFilter()

    class Meta:
        model = AttendanceRecord
        fields = ["session", "student", "section", "course", "room", "date_from", "date_to", "status", "source"]


class ExcuseRequestFilter(FilterSet):
    status = MultipleChoiceFilter(choices=ExcuseStatus.choices)
    section = IntegerFilter(field_name="session__section_id")

    class Meta:
        model = ExcuseRequest
        fields = ["student", "session", "section", "status"]
