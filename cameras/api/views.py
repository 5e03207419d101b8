"""Cameras API: thin views that validate, call a service or selector, and serialize."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import UserJWTAuthentication
from accounts.permissions import RolePermission, require
from attendance import selectors as attendance_selectors
from campus import selectors as campus_selectors
from campus.models import Student
from config.bodies import validated_body
from config.exceptions import NotFound
from config.pagination import SeenCursorPagination
from config.routes import ApiRoutes
from devices.authentication import DeviceCredentialAuthentication

from .. import intake, selectors, services
from ..choices import FrameSource, UnknownFaceStatus
from ..permissions import CanPushFrames
from . import filters, serializers

# The routes the views below declare; urls.py serves them.
routes = ApiRoutes()

CAMERA_PERMISSIONS = {"list": "view_cameras", "retrieve": "view_cameras", "*": "manage_cameras"}
REVIEW_PERMISSIONS = {"*": "review_faces"}


@routes.viewset("cameras", basename="camera")
class CameraViewSet(viewsets.ModelViewSet):
    """Cameras; `POST cameras/{id}/frames` is the push endpoint for staff and the camera's edge device."""

    serializer_class = serializers.CameraSerializer
    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = CAMERA_PERMISSIONS
    filterset_class = filters.CameraFilter
    search_fields = ["name"]
    ordering_fields = ["name", "status", "last_frame_at"]

    def get_queryset(self):
        return selectors.camera_list()

    # A device credential is accepted too; it carries no campus permission, so it
    # gets past `CanPushFrames` (its own camera's push endpoint) and nothing else.
    authentication_classes = [DeviceCredentialAuthentication, UserJWTAuthentication, SessionAuthentication]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.create_camera(actor=self.request.user, request=self.request, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.update_camera(
            camera=serializer.instance, actor=self.request.user, request=self.request, **data
        )

    def perform_destroy(self, instance):
        services.delete_camera(camera=instance, actor=self.request.user, request=self.request)

    def get_permissions(self):
        if self.action == "frames" and self.request.method == "POST":
            return [IsAuthenticated(), CanPushFrames()]
        return super().get_permissions()

    @extend_schema(methods=["GET"], request=None, responses=serializers.FrameSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": serializers.FramePushSerializer},
        responses={202: serializers.FrameReceiptSerializer, 200: serializers.FrameReceiptSerializer},
        description="202 with the frame id when the frame is queued (or was already, `duplicate`); 200 with "
        "`frame: null`, state `skipped`, reason `no_motion` when the scene has not changed since the "
        "camera's last processed frame: nothing is stored for it.",
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="frames",
        parser_classes=[MultiPartParser, FormParser, JSONParser],
        required_permissions={"frames": "view_cameras"},
    )
    def frames(self, request, pk=None):
        """GET: the camera's frames. POST: a JPEG/PNG frame (multipart `image`, optional `captured_at`)."""
        camera = self.get_object()
        if request.method == "GET":
            queryset = selectors.frame_list().filter(camera=camera)
            page = self.paginate_queryset(queryset)
            return self.get_paginated_response(serializers.FrameSerializer(page, many=True).data)
        payload = validated_body(serializers.FramePushSerializer, request)
        data = payload["image"].read()
        receipt = intake.receive_frame(
            camera=camera, data=data, captured_at=payload.get("captured_at"), source=FrameSource.PUSH
        )
        return Response(
            serializers.FrameReceiptSerializer(receipt).data,
            status=status.HTTP_200_OK if receipt.frame is None else status.HTTP_202_ACCEPTED,
        )


SESSION_FACE_FIELDS = (
    "session",
    "students_recognised",
    "unrecognised_people",
    "faces_detected",
    "faces_recognised",
    "faces_unrecognised",
    "marked",
    "held_for_review",
)
ERASURE_COUNTS = inline_serializer(
    "BiometricErasure", {"deleted": drf_serializers.DictField(child=drf_serializers.IntegerField())}
)


def _student_for(request, student_id: int) -> Student:
    student = campus_selectors.students_visible_to(request.user).filter(pk=student_id).first()
    if student is None:
        raise NotFound("No such student.")
    return student


@routes.view("students/<int:student_id>/faces", name="student-faces")
class StudentFacesView(APIView):
    """GET: a student's enrolments (metadata only). POST: enrol one photo (multipart `image`)."""

    parser_classes = [MultiPartParser, FormParser]
    authentication_classes = [UserJWTAuthentication, SessionAuthentication]

    def get_permissions(self):
        if self.request.method == "GET":
            return [IsAuthenticated(), require("view_students")()]
        return [IsAuthenticated(), require("enroll_faces")()]

    @extend_schema(
        responses=inline_serializer("FaceEnrolmentList", {"results": serializers.FaceEnrolmentSerializer(many=True)})
    )
    def get(self, request, student_id: int):
        student = _student_for(request, student_id)
        enrolments = selectors.enrolments_of(student)
        return Response({"results": serializers.FaceEnrolmentSerializer(enrolments, many=True).data})

    # Multipart only: a url-encoded form cannot carry the photo (the schema offered it).
    @extend_schema(
        request={"multipart/form-data": serializers.EnrolmentUploadSerializer},
        responses={201: serializers.FaceEnrolmentSerializer},
    )
    def post(self, request, student_id: int):
        student = _student_for(request, student_id)
        payload = validated_body(serializers.EnrolmentUploadSerializer, request)
        enrolment = services.enrol_face(
            student=student, image_bytes=payload["image"].read(), actor=request.user, request=request,
            replace=payload["replace"],
        )
        return Response(serializers.FaceEnrolmentSerializer(enrolment).data, status=status.HTTP_201_CREATED)


@routes.view("students/<int:student_id>/faces/<int:enrolment_id>", name="student-face-detail")
class StudentFaceDetailView(APIView):
    """DELETE one enrolment (the last one erases all of the student's biometric data)."""

    authentication_classes = [UserJWTAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, require("enroll_faces")]

    @extend_schema(responses=ERASURE_COUNTS)
    def delete(self, request, student_id: int, enrolment_id: int):
        student = _student_for(request, student_id)
        enrolment = get_object_or_404(selectors.enrolments_of(student), pk=enrolment_id)
        counts = services.delete_enrolment(enrolment=enrolment, actor=request.user, request=request)
        return Response({"deleted": counts})


@routes.view("students/<int:student_id>/faces/erase", name="student-faces-erase")
class StudentBiometricsEraseView(APIView):
    """POST: remove every embedding, photo and crop of the student (audited)."""

    authentication_classes = [UserJWTAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, require("enroll_faces")]

    @extend_schema(request=None, responses=ERASURE_COUNTS)
    def post(self, request, student_id: int):
        student = _student_for(request, student_id)
        counts = services.erase_biometrics(student=student, actor=request.user, request=request)
        return Response({"deleted": counts})


@routes.viewset("face-sightings", basename="facesighting")
class FaceSightingViewSet(viewsets.ReadOnlyModelViewSet):
    """Sightings are kept a year: keyset pages, latest first, no COUNT(*)."""

    serializer_class = serializers.FaceSightingSerializer
    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = {"*": "view_cameras"}
    pagination_class = SeenCursorPagination
    filterset_class = filters.FaceSightingFilter
    ordering_fields = ["seen_at"]

    def get_queryset(self):
        return selectors.sighting_rows() if self.action == "list" else selectors.sighting_list()

    def list(self, request, *args, **kwargs):
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(serializers.sighting_rows_data(rows))


def _assign(request, faces: list) -> Response:
    """Enrols `faces` as the body's student: one face or a look-alike group answer alike."""
    student = validated_body(serializers.AssignSerializer, request)["student"]
    enrolment = services.assign_unknown_faces(faces=faces, student=student, actor=request.user, request=request)
    return Response({"enrolment": serializers.FaceEnrolmentSerializer(enrolment).data})


def _dismiss(request, faces: list) -> Response:
    return Response({"dismissed": services.dismiss_unknown_faces(faces=faces, actor=request.user, request=request)})


@routes.viewset("unknown-faces", basename="unknownface")
class UnknownFaceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Faces nobody matched, for review: view the crop, assign to a student (enrols it) or dismiss."""

    serializer_class = serializers.UnknownFaceSerializer
    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = REVIEW_PERMISSIONS
    filterset_fields = ["status", "group", "camera"]

    def get_queryset(self):
        return selectors.unknown_face_list().visible_to(self.request.user)

    @action(detail=True, methods=["get"])
    def crop(self, request, pk=None):
        face = self.get_object()
        if not face.crop:
            raise NotFound("The crop has been deleted.")
        return FileResponse(face.crop.open("rb"), content_type="image/jpeg")

    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        return _assign(request, [self.get_object()])

    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return _dismiss(request, [self.get_object()])


@routes.viewset("unknown-face-groups", basename="unknownfacegroup")
class UnknownFaceGroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Groups of look-alike unknown faces: label a person once."""

    serializer_class = serializers.UnknownFaceGroupSerializer
    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = REVIEW_PERMISSIONS

    def get_queryset(self):
        return selectors.unknown_groups_visible_to(self.request.user)

    def _pending(self, group):
        faces = group.faces.visible_to(self.request.user).filter(status=UnknownFaceStatus.PENDING)
        return list(faces.select_related("sighting"))

    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        return _assign(request, self._pending(self.get_object()))

    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return _dismiss(request, self._pending(self.get_object()))


@routes.view("sessions/<int:session_id>/faces", name="session-faces")
class SessionFacesView(APIView):
    """ "31 students recognised, 3 faces unrecognised" for one class session."""

    authentication_classes = [UserJWTAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, require("view_attendance")]

    @extend_schema(
        responses=inline_serializer(
            "SessionFaceSummary", {name: drf_serializers.IntegerField() for name in SESSION_FACE_FIELDS}
        )
    )
    def get(self, request, session_id: int):
        session = attendance_selectors.session_list().visible_to(request.user).filter(pk=session_id).first()
        if session is None:
            raise NotFound("No such session.")
        return Response(selectors.session_face_summary(session))
