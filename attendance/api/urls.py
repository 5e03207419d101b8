from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("attendance/sessions", views.ClassSessionViewSet, basename="attendance-session")
router.register("attendance/records", views.AttendanceRecordViewSet, basename="attendance-record")
router.register("attendance/excuses", views.ExcuseRequestViewSet, basename="attendance-excuse")

urlpatterns = [
    path("attendance/me", views.MyAttendanceView.as_view(), name="attendance-me"),
    path("attendance/reports/students/<int:pk>", views.StudentReportView.as_view(), name="attendance-report-student"),
    path("attendance/reports/sections/<int:pk>", views.SectionReportView.as_view(), name="attendance-report-section"),
    path("attendance/reports/courses/<int:pk>", views.CourseReportView.as_view(), name="attendance-report-course"),
    path("attendance/reports/export", views.ExportView.as_view(), name="attendance-export"),
    path("dashboard/summary", views.DashboardSummaryView.as_view(), name="dashboard-summary"),
    path("analytics/trends", views.TrendsView.as_view(), name="analytics-trends"),
    *router.urls,
]
