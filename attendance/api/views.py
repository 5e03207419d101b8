"""Attendance API: validate, call one service or selector, serialize.

Every read goes through `visible_to(user)`; what each action needs is declared
in `required_permissions` (see accounts.permissions).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import RolePermission, require
from campus import selectors as campus_selectors
from campus.models import Course, Student
from config.bodies import validated_body
from config.exceptions import NotFound
from config.pagination import CreatedCursorPagination, ScheduledCursorPagination
from config.routes import ApiRoutes

from .. import dashboard, selectors, services
from ..csv_export import csv_response
from ..models import AttendanceRecord, ClassSession
from . import filters, serializers

# The routes the views below declare; urls.py serves them.
routes = ApiRoutes()

OWN = "view_own_attendance"


RANGE_PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="First day (inclusive)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Last day (inclusive)."),
]
# The export refuses a request without both ends (an unbounded CSV); the schema must say so.
REQUIRED_RANGE_PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, required=True, description="First day (inclusive)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, required=True, description="Last day (inclusive)."),
]
REPORT = OpenApiResponse(OpenApiTypes.OBJECT, description="Counts per status, total and rate (attended / counted).")


@routes.viewset("attendance/sessions", basename="attendance-session")
class ClassSessionViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = {"list": OWN, "retrieve": OWN, "*": "mark_attendance"}
    serializer_class = serializers.SessionSerializer
    pagination_class = ScheduledCursorPagination
    filterset_class = filters.ClassSessionFilter
    search_fields: list[str] = []
    ordering_fields = ["scheduled_start", "date"]

    def get_queryset(self):
        if self.action == "list":
            # Counting every record of every session on the page costs more than the page: the list leaves it out.
            return selectors.session_rows(ClassSession.objects.visible_to(self.request.user))
        sessions = selectors.session_list().visible_to(self.request.user).order_by("-scheduled_start", "-id")
        return sessions.annotate(**selectors.count_annotations("records__"))

    def get_serializer_class(self):
        return serializers.ClassSessionListSerializer if self.action == "list" else serializers.SessionSerializer

    def list(self, request, *args, **kwargs):
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(serializers.session_rows_data(rows))

    def _refreshed(self, session: ClassSession) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=session.pk)).data)

    @extend_schema(request=None, responses=serializers.SessionSerializer)
    @action(detail=True, methods=["post"])
    def open(self, request, pk=None):
        session = services.open_session(session=self.get_object(), by=request.user)
        return self._refreshed(session)

    @extend_schema(request=None, responses=serializers.SessionSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        result = services.close_session(session=self.get_object(), by=request.user)
        return self._refreshed(result.session)

    @extend_schema(request=serializers.DecisionSerializer, responses=serializers.SessionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = validated_body(serializers.DecisionSerializer, request)
        return self._refreshed(services.cancel_session(session=self.get_object(), by=request.user, reason=data["note"]))

    @extend_schema(request=serializers.MarkSerializer, responses=serializers.RecordSerializer)
    @action(detail=True, methods=["post"])
    def marks(self, request, pk=None):
        session = self.get_object()
        data = validated_body(serializers.MarkSerializer, request)
        # The body's fields are the service's own arguments (student, status, reason, note).
        record = services.mark_manually(session=session, by=request.user, **data)
        record = selectors.record_list().get(pk=record.pk)
        return Response(serializers.RecordSerializer(record).data)

    @extend_schema(request=serializers.BulkMarkSerializer, responses=serializers.BulkMarkResultSerializer)
    @action(detail=True, methods=["post"], url_path="bulk-marks")
    def bulk_marks(self, request, pk=None):
        session = self.get_object()
        data = validated_body(serializers.BulkMarkSerializer, request)
        records = services.mark_bulk(session=session, marks=data["marks"], by=request.user, reason=data["reason"])
        fresh = selectors.record_list().filter(pk__in=[r.pk for r in records]).order_by("student__student_number")
        return Response({"count": len(records), "records": serializers.RecordSerializer(fresh, many=True).data})


@routes.viewset("attendance/records", basename="attendance-record")
class AttendanceRecordViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = {"list": OWN, "retrieve": OWN}
    pagination_class = CreatedCursorPagination
    filterset_class = filters.AttendanceRecordFilter
    search_fields: list[str] = []
    ordering_fields: list[str] = []

    def get_queryset(self):
        if self.action == "list":
            return selectors.record_rows(AttendanceRecord.objects.visible_to(self.request.user))
        return selectors.record_list().visible_to(self.request.user).prefetch_related("changes__changed_by")

    def get_serializer_class(self):
        return serializers.RecordDetailSerializer if self.action == "retrieve" else serializers.RecordSerializer

    def list(self, request, *args, **kwargs):
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(serializers.record_rows_data(rows, selectors.record_relations(rows)))


def _student_of(user) -> Student:
    student = getattr(user, "student_profile", None)
    if student is None:
        raise NotFound("No student record is linked to your account.", code="no_student_profile")
    return student


def _range(request, *, require_range: bool = False) -> tuple[dt.date | None, dt.date | None]:
    query = serializers.RangeSerializer(data=request.query_params, require_range=require_range)
    query.is_valid(raise_exception=True)
    return query.validated_data.get("from"), query.validated_data.get("to")


@routes.view("attendance/me", name="attendance-me")
class MyAttendanceView(APIView):
    """A student's own attendance: counts and rate over a range, and the latest records."""

    permission_classes = [IsAuthenticated, require(OWN)]

    @extend_schema(parameters=RANGE_PARAMETERS, responses=REPORT)
    def get(self, request):
        student = _student_of(request.user)
        date_from, date_to = _range(request)

        def build() -> dict:
            records = selectors.records_visible_to(request.user)
            report = selectors.student_report(student=student, records=records, date_from=date_from, date_to=date_to)
            latest = selectors.records_between(AttendanceRecord.objects.filter(student=student), date_from, date_to)
            rows = list(selectors.record_rows(latest.order_by("-session__scheduled_start", "-id")[:20]))
            return {**report, "latest": serializers.record_rows_data(rows, selectors.record_relations(rows))}

        # The report comes encoded (cached so until the student's sections change), and goes out as it is.
        report = selectors.own_report_json(user=request.user, student=student, date_from=date_from, date_to=date_to,
                                           build=build)
        return HttpResponse(report, content_type="application/json")


@routes.viewset("attendance/excuses", basename="attendance-excuse")
class ExcuseRequestViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = {"list": OWN, "retrieve": OWN, "create": OWN, "*": "edit_attendance"}
    serializer_class = serializers.ExcuseSerializer
    filterset_class = filters.ExcuseRequestFilter
    search_fields: list[str] = []
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return selectors.excuses_visible_to(self.request.user)

    @extend_schema(request=serializers.ExcuseCreateSerializer, responses={201: serializers.ExcuseSerializer})
    def create(self, request, *args, **kwargs):
        data = validated_body(serializers.ExcuseCreateSerializer, request)
        student = data.get("student") or _student_of(request.user)
        if not selectors.session_is_visible_to(request.user, data["session"]):
            raise NotFound("No such session.")
        excuse = services.file_excuse(student=student, session=data["session"], reason=data["reason"], by=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=excuse.pk)).data, status=status.HTTP_201_CREATED)

    def _decide(self, request, approve: bool) -> Response:
        data = validated_body(serializers.DecisionSerializer, request)
        excuse = services.decide_excuse(
            excuse=self.get_object(), approve=approve, by=request.user, note=data["note"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=excuse.pk)).data)

    @extend_schema(request=serializers.DecisionSerializer, responses=serializers.ExcuseSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, approve=True)

    @extend_schema(request=serializers.DecisionSerializer, responses=serializers.ExcuseSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        return self._decide(request, approve=False)


class ReportView(APIView):
    permission_classes = [IsAuthenticated, require("view_reports")]

    def records(self):
        return selectors.records_visible_to(self.request.user)


# The report on one course, student or section over the records the user may see, in ?from..?to.
# (A comment, not a docstring: drf-spectacular would publish a docstring as each operation's description.)
class SubjectReportView(ReportView):
    def report(self, pk: int) -> dict:
        raise NotImplementedError

    def period(self) -> dict:
        """The ?from..?to range (read after the subject: an unknown one is a 404 first)."""
        date_from, date_to = _range(self.request)
        return {"date_from": date_from, "date_to": date_to}

    @extend_schema(parameters=RANGE_PARAMETERS, responses=REPORT)
    def get(self, request, pk: int):
        return Response(self.report(pk))


@routes.view("attendance/reports/courses/<int:pk>", name="attendance-report-course")
class CourseReportView(SubjectReportView):
    def report(self, pk: int) -> dict:
        course = get_object_or_404(Course, pk=pk)
        return selectors.course_report(course=course, records=self.records(), **self.period())


@routes.view("attendance/reports/students/<int:pk>", name="attendance-report-student")
class StudentReportView(SubjectReportView):
    def report(self, pk: int) -> dict:
        student = get_object_or_404(campus_selectors.students_visible_to(self.request.user), pk=pk)
        return selectors.student_report(student=student, records=self.records(), **self.period())


@routes.view("attendance/reports/sections/<int:pk>", name="attendance-report-section")
class SectionReportView(SubjectReportView):
    # The report comes encoded (a section's is cached so), and goes out as it is.
    @extend_schema(parameters=RANGE_PARAMETERS, responses=REPORT)
    def get(self, request, pk: int):
        section = get_object_or_404(campus_selectors.sections_visible_to(request.user), pk=pk)
        report = selectors.section_report_json_for(user=request.user, section=section, **self.period())
        return HttpResponse(report, content_type="application/json")


@routes.view("attendance/reports/export", name="attendance-export")
class ExportView(ReportView):
    """CSV of the records in a date range, streamed row by row."""

    @extend_schema(
        parameters=[
            *REQUIRED_RANGE_PARAMETERS,
            OpenApiParameter("section", int),
            OpenApiParameter("course", int),
            OpenApiParameter("student", int),
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request):
        query = serializers.ExportQuerySerializer(data=request.query_params, require_range=True)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        rows = selectors.export_range_rows(
            self.records(), date_from=data["from"], date_to=data["to"], section=data.get("section"),
            course=data.get("course"), student=data.get("student"),
        )
        return csv_response(request, rows, f"attendance_{data['from']}_{data['to']}.csv")


@routes.view("dashboard/summary", name="dashboard-summary")
class DashboardSummaryView(APIView):
    permission_classes = [IsAuthenticated, require("view_reports")]

    @extend_schema(responses=OpenApiResponse(OpenApiTypes.OBJECT, description="Today's attendance summary."))
    def get(self, request):
        return HttpResponse(dashboard.summary_json(user=request.user), content_type="application/json")


@routes.view("analytics/trends", name="analytics-trends")
class TrendsView(APIView):
    permission_classes = [IsAuthenticated, require("view_reports")]

    @extend_schema(
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("section", int),
            OpenApiParameter("course", int),
            OpenApiParameter("threshold", float, description="Students below this rate are listed (0..1)."),
        ],
        responses=OpenApiResponse(OpenApiTypes.OBJECT, description="Daily rates, weekday pattern, students below."),
    )
    def get(self, request):
        query = serializers.TrendsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        date_from, date_to = data["from"], data["to"]
        section, course = data.get("section"), data.get("course")
        records = selectors.records_visible_to(request.user, section=section, course=course)
        scope: dict = {"kind": "campus"}
        if section is not None:
            scope = {"kind": "section", "id": section.pk}
        elif course is not None:
            scope = {"kind": "course", "id": course.pk}
        threshold = data.get("threshold", settings.ATTENDANCE_LOW_RATE_THRESHOLD)
        report = selectors.trends(records=records, date_from=date_from, date_to=date_to, threshold=threshold)
        return Response({"scope": scope, **report})
