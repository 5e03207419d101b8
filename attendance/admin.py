"""Attendance admin: sessions with their records, policies, excuses, the change log, and a dashboard page.

Records are read-only forms here: a correction (one record, reason required) and
marking a whole session go through `attendance.services`, as from the API, so the
change log, the audit and the rules hold. Rows are scoped by `visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_permissions import RoleModelAdmin, RolePermissionsMixin, admin_page, render_admin_page
from accounts.permissions import user_has
from campus.models import Enrolment, Student
from config.admin_lists import flag_filter, service_action
from config.admin_pagination import HonestCountPaginator
from config.exceptions import DomainError

from . import charts, dashboard, selectors, services
from .choices import MANUAL_STATUSES
from .csv_export import csv_response
from .models import AttendanceChange, AttendancePolicy, AttendanceRecord, ClassSession, ExcuseRequest

MANUAL_CHOICES = [(status.value, status.label) for status in MANUAL_STATUSES]




def left_early_label(record) -> str:
    return "left early" if record is not None and record.early_leave else ""


class AttendanceRecordInline(RolePermissionsMixin, admin.TabularInline):
    view_permission = "view_attendance"
    model = AttendanceRecord
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["student", "status", "source", "first_seen_at", "last_seen_at", "left_early", "marked_by", "note",
              "correct_link"]
    readonly_fields = fields
    verbose_name_plural = "attendance records"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("student", "marked_by")

    @admin.display(description="early leave")
    def left_early(self, record) -> str:
        return left_early_label(record)

    @admin.display(description="")
    def correct_link(self, record) -> str:
        if record is None or record.pk is None:  # the inline's empty template row
            return ""
        url = reverse("admin:attendance_attendancerecord_correct", args=[record.pk])
        return format_html('<a href="{}">Correct</a>', url)


class CorrectionForm(forms.Form):
    status = forms.ChoiceField(choices=MANUAL_CHOICES)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
        help_text="Required. Kept in the record's change log and the audit log.",
    )
    note = forms.CharField(required=False, max_length=2000, help_text="Optional note shown on the record.")

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the record is changed.")
        return reason


class SessionMarkForm(forms.Form):
    """One status select per enrolled student; only the changed ones are sent to the service."""

    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.TextInput(attrs={"size": 60}),
        help_text="Required when you change a status the system or someone else already set.",
    )

    def __init__(self, *args, students, current, **kwargs):
        super().__init__(*args, **kwargs)
        self.students = students
        for student in students:
            self.fields[f"student_{student.pk}"] = forms.ChoiceField(
                choices=[("", "— not marked —"), *MANUAL_CHOICES], required=False, label=student.full_name,
                initial=current.get(student.pk, ""),
            )

    def rows(self):
        for student in self.students:
            yield student, self[f"student_{student.pk}"]


def _weekday_bars(rows: list[dict]) -> list[tuple[str, float | None]]:
    """Monday to Friday always (empty days show as gaps), the weekend when it has classes."""
    by_day = {row["weekday"]: row["rate"] for row in rows}
    days = list(selectors.WEEKDAYS[:5]) + [day for day in selectors.WEEKDAYS[5:] if day in by_day]
    return [(day[:3], by_day.get(day)) for day in days]


@admin.register(ClassSession)
class ClassSessionAdmin(RoleModelAdmin):
    view_permission = "view_attendance"
    change_permission = "mark_attendance"
    add_permission = "manage_campus"
    list_display = ["date", "time_range", "section", "room", "status", "coverage", "records_count", "mark_link"]
    list_filter = [
        "status",
        ("date", admin.DateFieldListFilter),
        ("room", admin.RelatedOnlyFieldListFilter),
        ("section__course", admin.RelatedOnlyFieldListFilter),
    ]
    date_hierarchy = "date"
    list_select_related = ["section__course", "section__term", "room"]
    search_fields = ["section__code", "section__course__code", "room__code"]
    autocomplete_fields = ["section", "room"]
    fields = ["section", "room", "date", "scheduled_start", "scheduled_end", "timetable_slot", "status", "opened_at",
              "closed_at", "coverage", "unverified_reason"]
    readonly_fields = ["timetable_slot", "status", "opened_at", "closed_at", "coverage", "unverified_reason"]
    inlines = [AttendanceRecordInline]
    actions = ["open_sessions", "close_sessions", "export_csv"]
    change_list_template = "admin/attendance/classsession/change_list.html"
    change_form_template = "admin/attendance/classsession/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user).annotate(records_total=Count("records"))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # a session's class, room and times are fixed once it exists
            return [*self.readonly_fields, "section", "room", "when", "date", "scheduled_start", "scheduled_end"]
        return self.readonly_fields

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["section", "room", "date", "scheduled_start", "scheduled_end"]})]
        # Compact, so the records below are on the first screen at 1366x768.
        return [
            (None, {"fields": [("section", "room"), ("when", "status"), ("timetable_slot", "coverage")]}),
            ("Details", {"classes": ["collapse"], "fields": ["opened_at", "closed_at", "unverified_reason"]}),
        ]

    @admin.display(description="when")
    def when(self, obj) -> str:
        start, end = timezone.localtime(obj.scheduled_start), timezone.localtime(obj.scheduled_end)
        return f"{start:%a %d %b %Y}, {start:%H:%M}–{end:%H:%M}"

    def has_change_permission(self, request, obj=None) -> bool:
        # Teachers use the actions and the marking page; the form itself stays read-only for them.
        return super().has_change_permission(request, obj) and (obj is None or request.user.is_superuser)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # cancel instead: records and evidence hang off a session

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not user_has(request.user, "mark_attendance"):
            for name in ("open_sessions", "close_sessions"):
                actions.pop(name, None)
        return actions

    @admin.display(description="time", ordering="scheduled_start")
    def time_range(self, obj) -> str:
        start, end = timezone.localtime(obj.scheduled_start), timezone.localtime(obj.scheduled_end)
        return f"{start:%H:%M}–{end:%H:%M}"

    @admin.display(description="timetable slot")
    def timetable_slot(self, obj) -> str:
        return obj.slot.describe() if obj.slot_id else "ad hoc (no timetable slot)"

    @admin.display(description="camera coverage", ordering="camera_coverage")
    def coverage(self, obj) -> str:
        return "no camera" if obj.camera_coverage is None else f"{obj.camera_coverage:.0%}"

    @admin.display(description="")
    def mark_link(self, obj) -> str:
        return format_html('<a href="{}">Mark</a>', reverse("admin:attendance_classsession_mark", args=[obj.pk]))

    @admin.display(description="records", ordering="records_total")
    def records_count(self, obj) -> int:
        return obj.records_total

    open_sessions = service_action(
        lambda session, request: services.open_session(session=session, by=request.user),
        description="Open the selected sessions",
        done="Opened {count} session(s).",
    )
    close_sessions = service_action(
        lambda session, request: services.close_session(session=session, by=request.user),
        description="Close the selected sessions (marks absentees)",
        done="Closed {count} session(s).",
    )

    @admin.action(description="Export the selected sessions' records as CSV")
    def export_csv(self, request, queryset):
        records = AttendanceRecord.objects.visible_to(request.user).filter(session__in=queryset.values("pk"))
        return csv_response(request, selectors.export_rows(records), f"attendance_{timezone.localdate():%Y%m%d}.csv")

    # --- Dashboard page -----------------------------------------------------

    def get_urls(self):
        name = f"{self.opts.app_label}_dashboard"
        return [
            admin_page(self, "dashboard/", self.dashboard_view, name=name, permission="view_reports"),
            admin_page(self, "<int:pk>/mark/", self.mark_view, name="attendance_classsession_mark",
                       permission="mark_attendance"),
            *super().get_urls(),
        ]

    def mark_view(self, request, pk: int):
        """Marks a whole session at once through `services.mark_bulk` (all or nothing)."""
        session = get_object_or_404(selectors.session_list().visible_to(request.user), pk=pk)
        students = list(
            Student.objects.filter(
                pk__in=Enrolment.objects.filter(section_id=session.section_id).current_on(session.date)
                .values("student_id")
            ).order_by("last_name", "first_name")
        )
        current = dict(session.records.values_list("student_id", "status"))
        form = SessionMarkForm(request.POST or None, students=students, current=current)
        if request.method == "POST" and form.is_valid():
            marks = [
                {"student": student, "status": form.cleaned_data[f"student_{student.pk}"]}
                for student in students
                if form.cleaned_data[f"student_{student.pk}"]
                and form.cleaned_data[f"student_{student.pk}"] != current.get(student.pk)
            ]
            try:
                services.mark_bulk(session=session, marks=marks, by=request.user, reason=form.cleaned_data["reason"])
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Marked {len(marks)} student(s).", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:attendance_classsession_change", args=[session.pk]))
        return render_admin_page(self, request, "admin/attendance/classsession/mark.html",
                                 title=f"Mark attendance: {session}", session=session, form=form, current=current)

    def changelist_view(self, request, extra_context=None):
        url = reverse(f"{self.admin_site.name}:{self.opts.app_label}_dashboard")
        return super().changelist_view(request, extra_context={**(extra_context or {}), "dashboard_url": url})

    def dashboard_view(self, request):
        today = timezone.localdate()
        try:
            days = min(365, max(7, int(request.GET["days"])))
        except (KeyError, ValueError):
            days = 0
        if days:
            date_from = today - dt.timedelta(days=days - 1)
        else:  # by default (and on day one): the current week, Monday to Sunday, with its empty days
            date_from = today - dt.timedelta(days=today.weekday())
            days = 7
        threshold = settings.ATTENDANCE_LOW_RATE_THRESHOLD
        records = AttendanceRecord.objects.visible_to(request.user)
        trend = selectors.trends(records=records, date_from=date_from, date_to=today, threshold=threshold)
        by_day = {row["date"]: row["rate"] for row in trend["daily"]}
        points = [
            (
                (date_from + dt.timedelta(days=n)).strftime("%a %d" if days <= 14 else "%d %b"),
                by_day.get((date_from + dt.timedelta(days=n)).isoformat()),
            )
            for n in range(days)
        ]
        days_with_data = len(trend["daily"])
        page = Paginator(trend["students_below"], 25).get_page(request.GET.get("page"))
        return render_admin_page(
            self,
            request,
            "admin/attendance/dashboard.html",
            title="Attendance dashboard",
            days=days,
            date_from=date_from,
            today=today,
            summary=dashboard.summary(user=request.user),
            threshold=threshold,
            days_with_data=days_with_data,
            daily_chart=charts.rate_line_chart(
                points, title=f"Daily attendance rate from {date_from:%d %b}, {days} days", threshold=threshold
            ),
            weekday_chart=charts.rate_bar_chart(
                _weekday_bars(trend["weekday"]),
                title="Attendance rate by weekday",
                threshold=threshold,
            ),
            students_page=page,
            range_query=f"days={request.GET.get('days')}&" if request.GET.get("days") else "",
        )


# The dashboard and "today" link to Django's own parameter, needs_review__exact=1.
NeedsReviewFilter = flag_filter(
    "needs_review", title="held for review", yes_label="Held for review", no_label="Not held"
)
LeftEarlyFilter = flag_filter("early_leave", title="early leave", yes_label="Left early", no_label="Stayed")


@admin.register(AttendanceRecord)
class AttendanceRecordAdmin(RoleModelAdmin):
    view_permission = "view_attendance"
    list_display = ["student", "session", "status", "source", "first_seen_at", "left_early", "held", "marked_by",
                    "correct_link"]
    list_filter = [NeedsReviewFilter, "status", "source", LeftEarlyFilter,
                   ("session__date", admin.DateFieldListFilter)]
    list_select_related = ["session__section__course", "session__section__term", "student", "marked_by"]
    search_fields = ["student__student_number", "student__last_name"]
    paginator = HonestCountPaginator  # a million rows: no COUNT(*) per page
    fields = ["session", "student", "status", "source", "first_seen_at", "last_seen_at", "sightings_count",
              "left_early", "held", "marked_by", "note"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="early leave", ordering="early_leave")
    def left_early(self, record) -> str:
        return left_early_label(record)

    @admin.display(description="review", ordering="needs_review")
    def held(self, record) -> str:
        return "held for review" if record.needs_review else ""

    @admin.display(description="")
    def correct_link(self, record) -> str:
        return format_html('<a href="{}">Correct</a>', reverse("admin:attendance_attendancerecord_correct",
                                                              args=[record.pk]))

    def get_urls(self):
        page = admin_page(self, "<int:pk>/correct/", self.correct_view, name="attendance_attendancerecord_correct",
                          permission="edit_attendance")
        return [page, *super().get_urls()]

    def correct_view(self, request, pk: int):
        """Corrects one record through `services.mark_manually`: a reason is required and audited."""
        record = get_object_or_404(selectors.record_list().visible_to(request.user), pk=pk)
        form = CorrectionForm(request.POST or None, initial={"status": record.status, "note": record.note})
        if request.method == "POST" and form.is_valid():
            try:
                services.mark_manually(
                    session=record.session, student=record.student, status=form.cleaned_data["status"],
                    by=request.user, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{record.student.full_name}: now {form.cleaned_data['status']}.",
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:attendance_classsession_change", args=[record.session_id]))
        return render_admin_page(self, request, "admin/attendance/attendancerecord/correct.html",
                                 title=f"Correct the record of {record.student.full_name}", record=record, form=form,
                                 changes=record.changes.select_related("changed_by")[:20])


@admin.register(AttendancePolicy)
class AttendancePolicyAdmin(RoleModelAdmin):
    view_permission = "view_attendance"
    change_permission = add_permission = delete_permission = "manage_campus"
    list_display = [
        "__str__",
        "late_after_minutes",
        "early_arrival_minutes",
        "absent_if_not_seen",
        "early_leave_minutes",
    ]
    list_select_related = ["course"]
    autocomplete_fields = ["course"]


@admin.register(ExcuseRequest)
class ExcuseRequestAdmin(RoleModelAdmin):
    view_permission = "view_attendance"
    change_permission = "edit_attendance"
    list_display = ["student", "session", "reason_short", "status", "created_at", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["student", "session__section__course", "session__section__term", "decided_by"]
    search_fields = ["student__student_number", "student__last_name", "reason"]
    fields = ["student", "session", "reason", "status", "filed_by", "decided_by", "decided_at", "decision_note"]
    readonly_fields = fields
    actions = ["approve", "refuse"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="reason")
    def reason_short(self, excuse) -> str:
        return excuse.reason if len(excuse.reason) <= 80 else excuse.reason[:79] + "…"

    def _decide(self, request, queryset, approve: bool) -> None:
        done = 0
        for excuse in queryset:
            try:
                services.decide_excuse(excuse=excuse, approve=approve, by=request.user, note="Decided in the admin.")
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{excuse.student.full_name}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{'Approved' if approve else 'Refused'} {done} request(s).", messages.SUCCESS)

    @admin.action(description="Approve (the records become excused)", permissions=["change"])
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Refuse", permissions=["change"])
    def refuse(self, request, queryset):
        self._decide(request, queryset, approve=False)


@admin.register(AttendanceChange)
class AttendanceChangeAdmin(RoleModelAdmin):
    """Read-only: the change log is written by the marking services."""

    view_permission = "view_attendance"
    list_display = ["changed_at", "record", "changed_by", "from_status", "to_status", "reason"]
    list_select_related = [
        "record__student",
        "record__session__section__course",
        "record__session__section__term",
        "changed_by",
    ]
    readonly_fields = ["record", "changed_by", "from_status", "to_status", "changed_at", "reason"]

    def get_queryset(self, request):
        visible = AttendanceRecord.objects.visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(record_id__in=visible)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
