"""Attendance admin: sessions with their records, policies, excuses, the change log, and a dashboard page.

Records are read-only here: every change goes through `attendance.services`,
which the admin actions call, so the change log and the rules hold.
"""

from __future__ import annotations

import csv
import datetime as dt

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts.permissions import user_has
from config.errors import DomainError

from . import charts, dashboard, selectors, services
from .models import AttendanceChange, AttendancePolicy, AttendanceRecord, ClassSession, ExcuseRequest


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(records, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in selectors.export_rows(records)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class AttendanceRecordInline(admin.TabularInline):
    model = AttendanceRecord
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = [
        "student",
        "status",
        "source",
        "first_seen_at",
        "last_seen_at",
        "sightings_count",
        "early_leave",
        "marked_by",
        "note",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("student", "marked_by")


@admin.register(ClassSession)
class ClassSessionAdmin(admin.ModelAdmin):
    list_display = ["date", "scheduled_start", "section", "room", "status", "camera_coverage", "records_count"]
    list_filter = [
        "status",
        ("date", admin.DateFieldListFilter),
        ("room", admin.RelatedOnlyFieldListFilter),
        ("section__course", admin.RelatedOnlyFieldListFilter),
    ]
    date_hierarchy = "date"
    list_select_related = ["section__course", "section__term", "room"]
    search_fields = ["section__code", "section__course__code", "room__code"]
    raw_id_fields = ["slot", "section", "room"]
    readonly_fields = ["status", "opened_at", "closed_at", "camera_coverage", "unverified_reason", "created_at"]
    inlines = [AttendanceRecordInline]
    actions = ["open_sessions", "close_sessions", "export_csv"]
    change_list_template = "admin/attendance/classsession/change_list.html"
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(records_total=Count("records"))

    @admin.display(description="records", ordering="records_total")
    def records_count(self, obj) -> int:
        return obj.records_total

    def _run(self, request, queryset, fn, verb: str) -> None:
        done, failed = 0, []
        for session in queryset:
            try:
                fn(session=session, by=request.user)
                done += 1
            except DomainError as exc:
                failed.append(f"{session}: {exc.message}")
        if done:
            self.message_user(request, f"{verb} {done} session(s).", messages.SUCCESS)
        for message in failed[:10]:
            self.message_user(request, message, messages.ERROR)

    @admin.action(description="Open the selected sessions")
    def open_sessions(self, request, queryset):
        self._run(request, queryset, services.open_session, "Opened")

    @admin.action(description="Close the selected sessions (marks absentees)")
    def close_sessions(self, request, queryset):
        self._run(request, queryset, services.close_session, "Closed")

    @admin.action(description="Export the selected sessions' records as CSV")
    def export_csv(self, request, queryset):
        records = AttendanceRecord.objects.visible_to(request.user).filter(session__in=queryset.values("pk"))
        return _csv_response(records, f"attendance_{timezone.localdate():%Y%m%d}.csv")

    # --- Dashboard page -----------------------------------------------------

    def get_urls(self):
        name = f"{self.opts.app_label}_dashboard"
        return [path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name=name), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        url = reverse(f"{self.admin_site.name}:{self.opts.app_label}_dashboard")
        return super().changelist_view(request, extra_context={**(extra_context or {}), "dashboard_url": url})

    def dashboard_view(self, request):
        if not user_has(request.user, "view_reports"):
            raise PermissionDenied
        try:
            days = min(365, max(7, int(request.GET.get("days", 30))))
        except ValueError:
            days = 30
        today = timezone.localdate()
        date_from = today - dt.timedelta(days=days - 1)
        threshold = settings.ATTENDANCE_LOW_RATE_THRESHOLD
        trend = selectors.trends(
            records=AttendanceRecord.objects.visible_to(request.user),
            date_from=date_from,
            date_to=today,
            threshold=threshold,
        )
        by_day = {row["date"]: row["rate"] for row in trend["daily"]}
        points = [
            (
                (date_from + dt.timedelta(days=n)).strftime("%d %b"),
                by_day.get((date_from + dt.timedelta(days=n)).isoformat()),
            )
            for n in range(days)
        ]
        summary = dashboard.summary()
        context = {
            **self.admin_site.each_context(request),
            "title": "Attendance dashboard",
            "opts": self.opts,
            "days": days,
            "summary": summary,
            "threshold": threshold,
            "daily_chart": charts.rate_line_chart(
                points, title=f"Daily attendance rate, last {days} days", threshold=threshold
            ),
            "weekday_chart": charts.rate_bar_chart(
                [(row["weekday"][:3], row["rate"]) for row in trend["weekday"]],
                title="Attendance rate by weekday",
                threshold=threshold,
            ),
            "students_below": trend["students_below"][:50],
        }
        return TemplateResponse(request, "admin/attendance/dashboard.html", context)


@admin.register(AttendanceRecord)
class AttendanceRecordAdmin(admin.ModelAdmin):
    list_display = ["session", "student", "status", "source", "first_seen_at", "early_leave", "needs_review",
                    "marked_by"]
    list_filter = ["needs_review", "status", "source", "early_leave", ("session__date", admin.DateFieldListFilter)]
    list_select_related = ["session__section__course", "session__section__term", "student", "marked_by"]
    search_fields = ["student__student_number", "student__last_name"]
    raw_id_fields = ["session", "student", "marked_by"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # changes go through the marking services (API), which keep the change log

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AttendancePolicy)
class AttendancePolicyAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "late_after_minutes",
        "early_arrival_minutes",
        "absent_if_not_seen",
        "early_leave_minutes",
    ]
    list_select_related = ["course"]
    raw_id_fields = ["course"]


@admin.register(ExcuseRequest)
class ExcuseRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "student", "session", "status", "created_at", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["student", "session__section__course", "session__section__term", "decided_by"]
    search_fields = ["student__student_number", "student__last_name", "reason"]
    raw_id_fields = ["student", "session", "filed_by", "decided_by"]
    readonly_fields = ["status", "filed_by", "decided_by", "decided_at", "decision_note"]
    actions = ["approve", "refuse"]

    def _decide(self, request, queryset, approve: bool) -> None:
        done = 0
        for excuse in queryset:
            try:
                services.decide_excuse(excuse=excuse, approve=approve, by=request.user, note="Decided in the admin.")
                done += 1
            except DomainError as exc:
                self.message_user(request, f"Request {excuse.pk}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{'Approved' if approve else 'Refused'} {done} request(s).", messages.SUCCESS)

    @admin.action(description="Approve (the records become excused)")
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Refuse")
    def refuse(self, request, queryset):
        self._decide(request, queryset, approve=False)

    def has_add_permission(self, request):
        return False  # students file through the API, via services.file_excuse


@admin.register(AttendanceChange)
class AttendanceChangeAdmin(admin.ModelAdmin):
    list_display = ["changed_at", "record", "changed_by", "from_status", "to_status", "reason"]
    list_select_related = [
        "record__student",
        "record__session__section__course",
        "record__session__section__term",
        "changed_by",
    ]
    raw_id_fields = ["record", "changed_by"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
