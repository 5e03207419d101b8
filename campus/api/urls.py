from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("buildings", views.BuildingViewSet, basename="building")
router.register("rooms", views.RoomViewSet, basename="room")
router.register("departments", views.DepartmentViewSet, basename="department")
router.register("courses", views.CourseViewSet, basename="course")
router.register("terms", views.TermViewSet, basename="term")
router.register("sections", views.SectionViewSet, basename="section")
router.register("students", views.StudentViewSet, basename="student")
router.register("enrolments", views.EnrolmentViewSet, basename="enrolment")
router.register("teachers", views.TeacherViewSet, basename="teacher")
router.register("timetable-slots", views.TimetableSlotViewSet, basename="timetableslot")
router.register("complaints", views.ComplaintViewSet, basename="complaint")
router.register("complaint-comments", views.ComplaintCommentViewSet, basename="complaintcomment")

urlpatterns = [
    path("imports/<slug:kind>", views.ImportView.as_view(), name="campus-import"),
    *router.urls,
]
