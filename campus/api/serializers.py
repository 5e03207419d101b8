from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.choices import Role
from config.serializers import RelatedValueField, StrictModelSerializer, StrictSerializer

from .. import models
from ..choices import ComplaintStatus

User = get_user_model()


@extend_schema_field({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "09:00"})
class WallClockTimeField(serializers.TimeField):
    """A time of day without a zone ("09:00"); OpenAPI's `time` format would demand an offset."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "%H:%M")
        super().__init__(**kwargs)


class UserBriefSerializer(StrictModelSerializer):
    full_name = serializers.CharField(source="get_full_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "full_name"]


# A record whose created_at and updated_at the database writes, never the client. A comment, not a
# docstring: drf-spectacular would give a docstring as the description of every schema below it.
class TimeStampedSerializer(StrictModelSerializer):
    class Meta:
        read_only_fields = ["created_at", "updated_at"]


class CodeNameSerializer(TimeStampedSerializer):
    """A catalogue entry that is only a code and a name (buildings, departments)."""

    class Meta(TimeStampedSerializer.Meta):
        fields = ["id", "code", "name", "created_at", "updated_at"]


class BuildingSerializer(CodeNameSerializer):
    class Meta(CodeNameSerializer.Meta):
        model = models.Building


class DepartmentSerializer(CodeNameSerializer):
    class Meta(CodeNameSerializer.Meta):
        model = models.Department


class RoomSerializer(TimeStampedSerializer):
    building_code = serializers.CharField(source="building.code", read_only=True)

    class Meta(TimeStampedSerializer.Meta):
        model = models.Room
        fields = ["id", "building", "building_code", "code", "name", "capacity", "created_at", "updated_at"]


class CourseSerializer(TimeStampedSerializer):
    department_code = serializers.CharField(source="department.code", read_only=True)

    class Meta(TimeStampedSerializer.Meta):
        model = models.Course
        fields = ["id", "code", "title", "department", "department_code", "created_at", "updated_at"]


class TermSerializer(TimeStampedSerializer):
    class Meta(TimeStampedSerializer.Meta):
        model = models.Term
        fields = ["id", "name", "start_date", "end_date", "created_at", "updated_at"]


class SectionSerializer(TimeStampedSerializer):
    course_code = serializers.CharField(source="course.code", read_only=True)
    course_title = serializers.CharField(source="course.title", read_only=True)
    term_name = serializers.CharField(source="term.name", read_only=True)
    teachers = serializers.PrimaryKeyRelatedField(
        many=True, queryset=User.objects.filter(is_active=True), required=False
    )
    teacher_details = UserBriefSerializer(source="teachers", many=True, read_only=True)

    def validate_teachers(self, users):
        not_staff = [user.username for user in users if not user.has_role_at_least(Role.STAFF)]
        if not_staff:
            raise serializers.ValidationError(f"Teachers must be staff: {', '.join(not_staff)}.")
        return users

    class Meta(TimeStampedSerializer.Meta):
        model = models.Section
        fields = [
            "id",
            "course",
            "course_code",
            "course_title",
            "term",
            "term_name",
            "code",
            "teachers",
            "teacher_details",
            "created_at",
            "updated_at",
        ]


class StudentSerializer(TimeStampedSerializer):
    has_face_consent = serializers.BooleanField(read_only=True)

    class Meta(TimeStampedSerializer.Meta):
        model = models.Student
        fields = [
            "id",
            "student_number",
            "first_name",
            "last_name",
            "email",
            "user",
            "status",
            "has_face_consent",
            "face_consent_at",
            "face_consent_recorded_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [*TimeStampedSerializer.Meta.read_only_fields, "face_consent_at", "face_consent_recorded_by"]

    def validate_user(self, user):
        if user is not None and user.role != Role.STUDENT:
            raise serializers.ValidationError("Only an account with the student role can be linked to a student.")
        return user


class FaceConsentSerializer(StrictSerializer):
    given = serializers.BooleanField()


class EnrolmentSerializer(TimeStampedSerializer):
    student_number = serializers.CharField(source="student.student_number", read_only=True)
    student_name = serializers.CharField(source="student.full_name", read_only=True)
    section_label = serializers.SerializerMethodField()

    class Meta(TimeStampedSerializer.Meta):
        model = models.Enrolment
        fields = [
            "id",
            "section",
            "section_label",
            "student",
            "student_number",
            "student_name",
            "enrolled_on",
            "left_on",
            "created_at",
            "updated_at",
        ]

    def get_section_label(self, obj: models.Enrolment) -> str:
        return str(obj.section)


class TeacherSerializer(StrictModelSerializer):
    user_details = UserBriefSerializer(source="user", read_only=True)
    department_code = RelatedValueField(source="department.code")

    class Meta:
        model = models.Teacher
        fields = ["id", "user", "user_details", "staff_number", "department", "department_code", "created_at"]
        read_only_fields = ["created_at"]

    def validate_user(self, user):
        if not user.has_role_at_least(Role.STAFF):
            raise serializers.ValidationError("A teacher's account must have the staff or admin role.")
        return user


class TimetableSlotSerializer(TimeStampedSerializer):
    room_code = serializers.CharField(source="room.code", read_only=True)
    start_time = WallClockTimeField()
    end_time = WallClockTimeField()
    section_label = serializers.SerializerMethodField()
    weekday_name = serializers.CharField(source="get_weekday_display", read_only=True)

    class Meta(TimeStampedSerializer.Meta):
        model = models.TimetableSlot
        fields = [
            "id",
            "section",
            "section_label",
            "room",
            "room_code",
            "weekday",
            "weekday_name",
            "start_time",
            "end_time",
            "valid_from",
            "valid_until",
            "created_at",
            "updated_at",
        ]

    def get_section_label(self, obj: models.TimetableSlot) -> str:
        return obj.section.full_code

    def validate(self, attrs):
        start = attrs.get("start_time", getattr(self.instance, "start_time", None))
        end = attrs.get("end_time", getattr(self.instance, "end_time", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"end_time": ["Must be after start_time."]})
        valid_from = attrs.get("valid_from", getattr(self.instance, "valid_from", None))
        valid_until = attrs.get("valid_until", getattr(self.instance, "valid_until", None))
        if valid_from and valid_until and valid_until < valid_from:
            raise serializers.ValidationError({"valid_until": ["Must not be before valid_from."]})
        return attrs


class ComplaintCommentSerializer(StrictModelSerializer):
    author_details = UserBriefSerializer(source="author", read_only=True)

    class Meta:
        model = models.ComplaintComment
        fields = ["id", "complaint", "author", "author_details", "body", "created_at"]
        read_only_fields = ["author", "created_at"]


class ComplaintSerializer(StrictModelSerializer):
    author_details = UserBriefSerializer(source="author", read_only=True)
    assignee_details = UserBriefSerializer(source="assignee", read_only=True, allow_null=True)
    room_code = RelatedValueField(source="room.code")
    comment_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = models.Complaint
        fields = [
            "id",
            "author",
            "author_details",
            "category",
            "title",
            "description",
            "room",
            "room_code",
            "priority",
            "status",
            "assignee",
            "assignee_details",
            "resolved_at",
            "comment_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["author", "status", "assignee", "resolved_at", "created_at", "updated_at"]


class ComplaintTransitionSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=ComplaintStatus.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ComplaintAssignSerializer(StrictSerializer):
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True), allow_null=True)


class ComplaintCommentCreateSerializer(StrictSerializer):
    body = serializers.CharField(max_length=5000)


class ImportUploadSerializer(StrictSerializer):
    file = serializers.FileField()
    skip_invalid = serializers.BooleanField(default=False)
    dry_run = serializers.BooleanField(default=False)


class ImportRowErrorSerializer(StrictSerializer):
    line = serializers.IntegerField()
    reason = serializers.CharField()


class ImportResultSerializer(StrictSerializer):
    kind = serializers.CharField()
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = ImportRowErrorSerializer(many=True)
    dry_run = serializers.BooleanField()
    written = serializers.BooleanField()
    summary = serializers.CharField()
