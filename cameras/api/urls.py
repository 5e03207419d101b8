from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("cameras", views.CameraViewSet, basename="camera")
router.register("face-sightings", views.FaceSightingViewSet, basename="facesighting")
router.register("unknown-faces", views.UnknownFaceViewSet, basename="unknownface")
router.register("unknown-face-groups", views.UnknownFaceGroupViewSet, basename="unknownfacegroup")

urlpatterns = [
    path("students/<int:student_id>/faces", views.StudentFacesView.as_view(), name="student-faces"),
    path("students/<int:student_id>/faces/erase", views.StudentBiometricsEraseView.as_view(),
         name="student-faces-erase"),
    path("students/<int:student_id>/faces/<int:enrolment_id>", views.StudentFaceDetailView.as_view(),
         name="student-face-detail"),
    path("sessions/<int:session_id>/faces", views.SessionFacesView.as_view(), name="session-faces"),
    *router.urls,
]
