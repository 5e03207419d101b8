"""The admin's "Today" panel: what the signed-in person has to do today, each linked to its list.

It lives in cameras, the top app, because it gathers every app's work (sessions and excuses from
attendance, complaints from campus, unknown faces from cameras) and `config` imports no app.

Every count goes through the models' `visible_to(user)`, so a teacher sees the
sections they teach and a campus-wide user sees the campus (README: "Who sees what").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from attendance import selectors
from attendance.choices import ExcuseStatus, SessionStatus
from attendance.models import AttendanceRecord, ClassSession, ExcuseRequest
from campus.choices import ComplaintStatus
from campus.models import Complaint, Section, sees_whole_campus

from .choices import UnknownFaceStatus
from .models import UnknownFace

SESSIONS_SHOWN = 8


def _can_view(request, model) -> bool:
    return admin.site.is_registered(model) and admin.site.get_model_admin(model).has_view_permission(request)


def _sessions(user, now: dt.datetime):
    today = timezone.localdate(now)
    visible = ClassSession.objects.visible_to(user).values("pk")
    sessions = selectors.session_list().filter(pk__in=visible).exclude(status=SessionStatus.CANCELLED)
    teaches = Section.objects.filter(teachers=user).exists()
    if teaches or not sees_whole_campus(user):
        sessions = sessions.filter(section__teachers=user)
    current = list(
        sessions.filter(scheduled_start__lte=now, scheduled_end__gt=now).order_by("scheduled_start")[:SESSIONS_SHOWN]
    )
    upcoming = list(
        sessions.filter(scheduled_start__gt=now, date__lte=today + dt.timedelta(days=1))
        .order_by("scheduled_start")[:SESSIONS_SHOWN]
    )
    return current, upcoming, teaches


def today_panel(request) -> dict[str, Any]:
    user = request.user
    now = timezone.now()
    panel: dict[str, Any] = {"date": timezone.localdate(now), "tasks": []}
    if _can_view(request, ClassSession):
        current, upcoming, teaches = _sessions(user, now)
        records = AttendanceRecord.objects.visible_to(user)
        counts = selectors.status_counts(records=records, record_filter={"session__date": panel["date"]})
        panel.update(current=current, upcoming=upcoming, teaches=teaches, counts=counts, show_sessions=True)
        panel["sessions_url"] = reverse("admin:attendance_classsession_changelist") + (
            f"?date__gte={panel['date']:%Y-%m-%d}&date__lt={panel['date'] + dt.timedelta(days=1):%Y-%m-%d}"
        )
        records_url = reverse("admin:attendance_attendancerecord_changelist")
        panel["records_url"] = records_url
        panel["dashboard_url"] = reverse("admin:attendance_dashboard")
        panel["tasks"].append({
            "label": "Records held for review",
            "count": records.filter(needs_review=True).count(),
            "url": records_url + "?needs_review__exact=1",
        })
    if _can_view(request, ExcuseRequest):
        panel["tasks"].append({
            "label": "Pending excuse requests",
            "count": ExcuseRequest.objects.visible_to(user).filter(status=ExcuseStatus.PENDING).count(),
            "url": reverse("admin:attendance_excuserequest_changelist") + "?status__exact=pending",
        })
    if _can_view(request, UnknownFace):
        panel["tasks"].append({
            "label": "Unknown faces awaiting review",
            "count": UnknownFace.objects.visible_to(user).filter(status=UnknownFaceStatus.PENDING).count(),
            "url": reverse("admin:cameras_unknownface_changelist") + "?status__exact=pending",
        })
    if _can_view(request, Complaint):
        open_statuses = [ComplaintStatus.OPEN, ComplaintStatus.IN_PROGRESS]
        panel["tasks"].append({
            "label": "Open complaints",
            "count": Complaint.objects.visible_to(user).filter(status__in=open_statuses).count(),
            "url": reverse("admin:campus_complaint_changelist") + "?status__in=open,in_progress",
        })
    return panel
