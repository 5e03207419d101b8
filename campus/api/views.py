"""Campus API: thin viewsets that validate, call a service or selector, and serialize.

Every queryset goes through the model's `visible_to(user)`; what each action
needs is declared in `required_permissions` (see accounts.permissions).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from accounts.permissions import RolePermission, user_has
from config.bodies import validated_body
from config.exceptions import InvalidInput, NotAllowed, NotFound
from config.routes import ApiRoutes

from .. import models, selectors, services
from ..imports import IMPORT_SPECS, run_import
from . import filters, serializers

# The routes the views below declare; urls.py serves them.
routes = ApiRoutes()

CATALOGUE_PERMISSIONS = {
    "list": "view_campus",
    "retrieve": "view_campus",
    "*": "manage_campus",
}
STUDENT_PERMISSIONS = {
    # Scope does the rest: a student sees only their own record.
    "list": "view_campus",
    "retrieve": "view_campus",
    "*": "manage_students",
}

class ListedByFilterset:
    """`search_fields` and `ordering_fields` come from `filterset_class`, declared with its filters."""

    search_fields: ClassVar[list[str]]
    ordering_fields: ClassVar[list[str]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        filterset = getattr(cls, "filterset_class", None)
        if filterset is not None:
            cls.search_fields = filterset.search_fields
            cls.ordering_fields = filterset.ordering_fields

class CampusModelViewSet(ListedByFilterset, viewsets.ModelViewSet):
    """CRUD through `services.save_record` / `delete_record`; reads through `visible_to`."""

    permission_classes = [IsAuthenticated, RolePermission]
    required_permissions = CATALOGUE_PERMISSIONS
    m2m_fields: tuple[str, ...] = ()
    # No default `ordering`: a list comes in its model's Meta.ordering unless ?ordering= asks for
    # another, so the order is written once. A viewset sets one only where its list differs.

    def get_queryset(self):
        queryset = super().get_queryset()
        if hasattr(queryset, "visible_to"):
            queryset = queryset.visible_to(self.request.user)
        return queryset

    def _split(self, validated: dict) -> tuple[dict, dict]:
        data = dict(validated)
        m2m = {name: data.pop(name) for name in self.m2m_fields if name in data}
        return data, m2m

    def save_instance(self, instance, m2m: dict):
        """The service that writes; a model with a rule of its own names its own service."""
        return services.save_record(instance=instance, m2m=m2m, actor=self.request.user, request=self.request)

    def perform_create(self, serializer):
        data, m2m = self._split(serializer.validated_data)
        serializer.instance = self.save_instance(self.queryset.model(**data), m2m)

    def perform_update(self, serializer):
        data, m2m = self._split(serializer.validated_data)
        instance = serializer.instance
        for name, value in data.items():
            setattr(instance, name, value)
        serializer.instance = self.save_instance(instance, m2m)

    def perform_destroy(self, instance):
        services.delete_record(instance=instance, actor=self.request.user, request=self.request)

class ScopedViewSet(ListedByFilterset, viewsets.GenericViewSet):
    """Rows that depend on who asks, from `visible_to(user)` (a selector): no class-wide queryset."""

    permission_classes = [IsAuthenticated, RolePermission]
    visible_to: Callable[[Any], QuerySet]

    def get_queryset(self):
        return self.visible_to(self.request.user)

def crud_viewsets(*resources: tuple[str, QuerySet, type[Serializer], type[filters.ListFilter]]) -> list[type]:
    """Route a viewset for each (prefix, rows, serializer, filterset): a resource that is CRUD and
    nothing of its own is a line here, not a class restating those three names."""
    routed = []
    for prefix, queryset, serializer_class, filterset_class in resources:
        model = queryset.model
        attrs = {"queryset": queryset, "serializer_class": serializer_class, "filterset_class": filterset_class}
        viewset = type(f"{model.__name__}ViewSet", (CampusModelViewSet,), {"__module__": __name__, **attrs})
        routed.append(routes.viewset(prefix, basename=model._meta.model_name)(viewset))
    return routed

# One with an action or a rule of its own is a class below.
CRUD_VIEWSETS = crud_viewsets(
    ("buildings", models.Building.objects.all(), serializers.BuildingSerializer, filters.BuildingFilter),
    ("rooms", selectors.room_list(), serializers.RoomSerializer, filters.RoomFilter),
    ("departments", models.Department.objects.all(), serializers.DepartmentSerializer, filters.DepartmentFilter),
    ("courses", selectors.course_list(), serializers.CourseSerializer, filters.CourseFilter),
    ("terms", models.Term.objects.all(), serializers.TermSerializer, filters.TermFilter),
    ("teachers", selectors.teacher_list(), serializers.TeacherSerializer, filters.TeacherFilter),
)

@routes.viewset("sections", basename="section")
class SectionViewSet(CampusModelViewSet):
    queryset = selectors.section_list()
    serializer_class = serializers.SectionSerializer
    filterset_class = filters.SectionFilter
    m2m_fields = ("teachers",)
    required_permissions = {**CATALOGUE_PERMISSIONS, "roster": "view_campus"}

    @extend_schema(
        parameters=[OpenApiParameter("date", OpenApiTypes.DATE, description="default: today")],
        responses=serializers.StudentSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def roster(self, request, pk=None):
        """Students enrolled on ?date= (default today): the section's teachers, or manage_students."""
        section = self.get_object()
        may_see = user_has(request.user, "manage_students") or selectors.manages_section(request.user, section)
        if not may_see:
            raise NotAllowed("Only the section's teachers see its roster.")
        day = _parse_date(request.query_params.get("date"), "date") or timezone.localdate()
        page = self.paginate_queryset(selectors.students_enrolled_on(section, day))
        return self.get_paginated_response(serializers.StudentSerializer(page, many=True).data)

@routes.viewset("students", basename="student")
class StudentViewSet(CampusModelViewSet):
    queryset = models.Student.objects.all()
    serializer_class = serializers.StudentSerializer
    filterset_class = filters.StudentFilter
    required_permissions = STUDENT_PERMISSIONS

    @extend_schema(request=serializers.FaceConsentSerializer, responses=serializers.StudentSerializer)
    @action(detail=True, methods=["post"], url_path="face-consent")
    def face_consent(self, request, pk=None):
        """Record or withdraw consent to face recognition (who and when is kept)."""
        student = self.get_object()
        body = validated_body(serializers.FaceConsentSerializer, request)
        student = services.record_face_consent(
            student=student, given=body["given"], actor=request.user, request=request
        )
        return Response(self.get_serializer(student).data)

@routes.viewset("enrolments", basename="enrolment")
class EnrolmentViewSet(CampusModelViewSet):
    queryset = selectors.enrolment_list()
    serializer_class = serializers.EnrolmentSerializer
    filterset_class = filters.EnrolmentFilter
    ordering = ["section_id", "student__last_name"]
    required_permissions = STUDENT_PERMISSIONS

@routes.viewset("timetable-slots", basename="timetableslot")
class TimetableSlotViewSet(CampusModelViewSet):
    queryset = selectors.timetable_slot_list()
    serializer_class = serializers.TimetableSlotSerializer
    filterset_class = filters.TimetableSlotFilter
    ordering = ["weekday", "start_time", "room__code"]

    def save_instance(self, instance, m2m: dict):
        # Its own service: a slot must not overlap another in its room or section.
        return services.save_timetable_slot(slot=instance, actor=self.request.user, request=self.request)

@routes.viewset("complaints", basename="complaint")
class ComplaintViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Students file and follow their own complaints; handlers see all, assign and move them."""

    required_permissions = {
        "list": "file_complaint",
        "retrieve": "file_complaint",
        "create": "file_complaint",
        "update": "file_complaint",
        "partial_update": "file_complaint",
        "comments": "file_complaint",
        "transition": "handle_complaints",
        "assign": "handle_complaints",
        "destroy": "manage_campus",
    }
    serializer_class = serializers.ComplaintSerializer
    filterset_class = filters.ComplaintFilter
    ordering = ["-created_at", "-id"]
    visible_to = staticmethod(selectors.complaints_visible_to)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.file_complaint(author=self.request.user, request=self.request, **data)
        serializer.instance.comment_count = 0

    def perform_update(self, serializer):
        complaint = services.update_complaint(
            complaint=serializer.instance,
            actor=self.request.user,
            changes=dict(serializer.validated_data),
            request=self.request,
        )
        serializer.instance = self.get_queryset().get(pk=complaint.pk)

    def perform_destroy(self, instance):
        services.delete_record(instance=instance, actor=self.request.user, request=self.request)

    def _complaint_and_body(self, request, body_serializer) -> tuple[models.Complaint, dict]:
        """For an action on one complaint: the complaint (its 404 or 403 comes first), then the body."""
        return self.get_object(), validated_body(body_serializer, request)

    def _fresh(self, complaint: models.Complaint) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=complaint.pk)).data)

    @extend_schema(request=serializers.ComplaintTransitionSerializer, responses=serializers.ComplaintSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the complaint: {"status": "in_progress" | "resolved" | "rejected", "note": "..."}."""
        complaint, body = self._complaint_and_body(request, serializers.ComplaintTransitionSerializer)
        complaint = services.change_complaint_status(
            complaint=complaint, to_status=body["status"], note=body["note"], actor=request.user, request=request
        )
        return self._fresh(complaint)

    @extend_schema(request=serializers.ComplaintAssignSerializer, responses=serializers.ComplaintSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        complaint, body = self._complaint_and_body(request, serializers.ComplaintAssignSerializer)
        complaint = services.assign_complaint(
            complaint=complaint, assignee=body["assignee"], actor=request.user, request=request
        )
        return self._fresh(complaint)

    @extend_schema(methods=["GET"], responses=serializers.ComplaintCommentSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=serializers.ComplaintCommentCreateSerializer,
        responses={201: serializers.ComplaintCommentSerializer},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def comments(self, request, pk=None):
        """The complaint's comments (GET) or a new one by its author or a handler (POST)."""
        complaint = self.get_object()
        if request.method == "POST":
            body = validated_body(serializers.ComplaintCommentCreateSerializer, request)
            comment = services.add_complaint_comment(
                complaint=complaint, author=request.user, body=body["body"], request=request
            )
            return Response(serializers.ComplaintCommentSerializer(comment).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.comments_on(complaint))
        return self.get_paginated_response(serializers.ComplaintCommentSerializer(page, many=True).data)

@routes.viewset("complaint-comments", basename="complaintcomment")
class ComplaintCommentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet):
    required_permissions = {"*": "file_complaint"}
    serializer_class = serializers.ComplaintCommentSerializer
    filterset_class = filters.ComplaintCommentFilter
    ordering = ["created_at", "id"]
    visible_to = staticmethod(selectors.complaint_comments_visible_to)

    def perform_create(self, serializer):
        complaint = serializer.validated_data["complaint"]
        if not selectors.complaint_is_visible_to(self.request.user, complaint):
            raise InvalidInput("No such complaint.", details={"complaint": ["No such complaint."]})
        serializer.instance = services.add_complaint_comment(
            complaint=complaint, author=self.request.user, body=serializer.validated_data["body"], request=self.request
        )

@routes.view("imports/<slug:kind>", name="campus-import")
class ImportView(APIView):
    """POST multipart `file` (+ skip_invalid, dry_run) to /imports/<kind>; same service as the command."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = serializers.ImportUploadSerializer

    @extend_schema(request=serializers.ImportUploadSerializer, responses=serializers.ImportResultSerializer)
    def post(self, request, kind: str):
        if kind not in IMPORT_SPECS:
            raise NotFound("Unknown import kind.", details={"kinds": sorted(IMPORT_SPECS)})
        if not user_has(request.user, IMPORT_SPECS[kind].permission):
            raise NotAllowed(f"Importing {kind} needs the {IMPORT_SPECS[kind].permission} permission.")
        body = validated_body(serializers.ImportUploadSerializer, request)
        result = run_import(
            kind=kind,
            source=body["file"],
            skip_invalid=body["skip_invalid"],
            dry_run=body["dry_run"],
            actor=request.user,
        )
        if not result.ok:
            raise InvalidInput(
                f"{len(result.errors)} bad row(s); nothing was imported.",
                code="import_invalid",
                details=result.as_dict(),
            )
        return Response(result.as_dict())

def _parse_date(value: str | None, name: str) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("Bad date.", details={name: ["Use YYYY-MM-DD."]})
