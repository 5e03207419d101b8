"""Cameras, the frames they send, the faces found in them, and enrolled face embeddings.

Embeddings are stored only as Fernet ciphertext (`cameras.biometrics`): a dump of
these tables shows no vector. Stream passwords are ciphertext too.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from campus.models import sees_whole_campus, taught_section_ids
from config.fields import acting_user, choice_check
from config.models import TimeStampedModel

from .choices import (
    CameraStatus,
    FrameSource,
    FrameState,
    SightingOutcome,
    SourceKind,
    UnknownFaceStatus,
)

DETECT_MAX_SIDE_LIMIT = 8192


class CameraQuerySet(models.QuerySet):
    def pulled(self) -> CameraQuerySet:
        return self.filter(enabled=True).exclude(source_kind=SourceKind.PUSH)


class Camera(TimeStampedModel):
    name = models.CharField(max_length=100)
    room = models.ForeignKey("campus.Room", on_delete=models.PROTECT, related_name="cameras")
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices, default=SourceKind.PUSH)
    # Stored without user:password; those live in the two fields below.
    url = models.CharField(max_length=500, blank=True)
    username = models.CharField(max_length=150, blank=True)
    password_ciphertext = models.BinaryField(null=True, blank=True, editable=False)
    # The URL's query string (`?user=...&pwd=...`), encrypted like the password: cameras
    # put secrets under any key, so every query value is treated as one. `url` holds none.
    url_query_ciphertext = models.BinaryField(null=True, blank=True, editable=False)
    sample_interval_seconds = models.FloatField(default=2.0, validators=[MinValueValidator(0.2)])
    # A camera far from its students (a lecture hall in 1080p) needs detection at full size:
    # at 960 px HOG misses faces under about 150 px of the original frame.
    detect_max_side = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(DETECT_MAX_SIDE_LIMIT)],
        help_text="Detect faces on a copy whose longer side is at most this many pixels; 0 = full size; "
        "empty = the FACE_DETECT_MAX_SIDE setting. Smaller is faster, larger finds smaller faces.",
    )
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=CameraStatus.choices, default=CameraStatus.OFFLINE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    device = models.ForeignKey(
        "devices.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="cameras"
    )

    objects = CameraQuerySet.as_manager()

    class Meta:
        ordering = ["room_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["room", "name"], name="cameras_camera_unique_name_in_room"),
            choice_check("source_kind", SourceKind, name="cameras_camera_kind_valid"),
            choice_check("status", CameraStatus, name="cameras_camera_status_valid"),
            models.CheckConstraint(condition=Q(sample_interval_seconds__gte=0.2), name="cameras_camera_interval_min"),
            models.CheckConstraint(
                condition=Q(detect_max_side__isnull=True) | Q(detect_max_side__lte=DETECT_MAX_SIDE_LIMIT),
                name="cameras_camera_detect_max_side_limit",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_detect_max_side(self) -> int:
        return settings.FACE_DETECT_MAX_SIDE if self.detect_max_side is None else self.detect_max_side

    @property
    def has_password(self) -> bool:
        return bool(self.password_ciphertext)

    @property
    def has_url_query(self) -> bool:
        return bool(self.url_query_ciphertext)


class CameraStatusChange(models.Model):
    """Every status move of a camera: the history behind session camera coverage."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=10, choices=CameraStatus.choices)
    at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["camera_id", "at"]
        indexes = [models.Index(fields=["camera", "at"], name="cameras_status_camera_at")]

    def __str__(self) -> str:
        return f"camera {self.camera_id} {self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class FaceEnrolment(TimeStampedModel):
    student = models.ForeignKey("campus.Student", on_delete=models.CASCADE, related_name="face_enrolments")
    embedding_ciphertext = models.BinaryField(editable=False)
    engine_name = models.CharField(max_length=40)
    engine_version = models.CharField(max_length=40)
    # Kept only while FACE_ENROLMENT_PHOTO_RETENTION_DAYS says (0: never stored).
    photo = models.FileField(upload_to="faces/enrolments/%Y/%m/", blank=True)
    photo_delete_after = models.DateTimeField(null=True, blank=True)
    face_box = models.JSONField(default=list)
    face_size_px = models.PositiveIntegerField(default=0)
    sharpness = models.FloatField(default=0.0)
    created_by = acting_user()

    class Meta:
        ordering = ["student_id", "created_at"]
        indexes = [models.Index(fields=["engine_name", "engine_version"], name="cameras_enrol_engine")]

    def __str__(self) -> str:
        return f"face {self.pk} of student {self.student_id}"


class FrameQuerySet(models.QuerySet):
    def claimable(self) -> FrameQuerySet:
        return self.filter(state__in=[FrameState.PENDING, FrameState.PROCESSING])


class Frame(TimeStampedModel):
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="frames")
    captured_at = models.DateTimeField()
    sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=8, choices=FrameSource.choices, default=FrameSource.PUSH)
    state = models.CharField(max_length=12, choices=FrameState.choices, default=FrameState.PENDING)
    reason = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The bytes wait here for a worker; deleted after processing unless FRAME_KEEP_IMAGES.
    image = models.FileField(upload_to="frames/%Y/%m/%d/", blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    faces_detected = models.PositiveSmallIntegerField(default=0)
    motion = models.FloatField(null=True, blank=True)

    objects = FrameQuerySet.as_manager()

    class Meta:
        ordering = ["camera_id", "captured_at"]
        indexes = [
            models.Index(
                fields=["claimed_at"],
                name="cameras_frame_claimable",
                condition=Q(state__in=[FrameState.PENDING, FrameState.PROCESSING]),
            ),
            models.Index(fields=["camera", "captured_at"], name="cameras_frame_camera_time"),
        ]
        constraints = [
            # The same bytes from the same camera are one frame, processed once.
            models.UniqueConstraint(fields=["camera", "sha256"], name="cameras_frame_unique_bytes"),
            choice_check("state", FrameState, name="cameras_frame_state_valid"),
        ]

    def __str__(self) -> str:
        return f"frame {self.pk} of camera {self.camera_id}"


class FaceSighting(TimeStampedModel):
    """One face in one frame: where, whom it matched (or nobody), and what came of it."""

    # Kept when the frame row is purged: the sighting is the attendance record's evidence.
    frame = models.ForeignKey(Frame, null=True, blank=True, on_delete=models.SET_NULL, related_name="sightings")
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="sightings")
    room = models.ForeignKey("campus.Room", on_delete=models.CASCADE, related_name="face_sightings")
    seen_at = models.DateTimeField()
    box = models.JSONField(default=list)
    student = models.ForeignKey(
        "campus.Student", null=True, blank=True, on_delete=models.SET_NULL, related_name="face_sightings"
    )
    distance = models.FloatField(null=True, blank=True)
    runner_up_distance = models.FloatField(null=True, blank=True)
    match_reason = models.CharField(max_length=40, blank=True)
    # Identity carried over from the same face in a recent frame, without a new embedding.
    tracked = models.BooleanField(default=False)
    session = models.ForeignKey(
        "attendance.ClassSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="face_sightings"
    )
    record = models.ForeignKey(
        "attendance.AttendanceRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="sightings"
    )
    outcome = models.CharField(max_length=20, choices=SightingOutcome.choices, default=SightingOutcome.UNKNOWN)
    visitor = models.BooleanField(default=False)
    needs_review = models.BooleanField(default=False)

    class Meta:
        ordering = ["seen_at", "id"]
        constraints = [
            choice_check("outcome", SightingOutcome, name="cameras_sighting_outcome"),
        ]
        indexes = [
            models.Index(fields=["student", "seen_at"], name="cameras_sighting_student_time"),
            models.Index(fields=["session", "outcome"], name="cameras_sighting_session"),
            # The sightings list (a year of them) pages by (seen_at, id) descending: its first page stops early.
            models.Index(fields=["-seen_at", "-id"], name="cameras_sighting_page_idx"),
        ]

    def __str__(self) -> str:
        return f"sighting {self.pk} ({self.outcome})"


class UnknownFaceGroup(TimeStampedModel):
    """Unknown faces that look alike, so staff label the person once."""

    centroid_ciphertext = models.BinaryField(editable=False)
    engine_name = models.CharField(max_length=40)
    engine_version = models.CharField(max_length=40)
    size = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"unknown group {self.pk} ({self.size})"


class UnknownFaceQuerySet(models.QuerySet):
    def visible_to(self, user) -> UnknownFaceQuerySet:
        """review_faces with view_all_students: every face; review_faces (a teacher): faces seen
        during sessions of the sections they teach; anyone else: none."""
        if not (user and user.is_authenticated and getattr(user, "pk", None)):
            return self.none()
        if not user.has_campus_perm("review_faces"):
            return self.none()
        if sees_whole_campus(user):
            return self
        return self.filter(sighting__session__section_id__in=taught_section_ids(user))


class UnknownFace(TimeStampedModel):
    sighting = models.OneToOneField(FaceSighting, on_delete=models.CASCADE, related_name="unknown_face")
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="unknown_faces")
    seen_at = models.DateTimeField()
    crop = models.FileField(upload_to="faces/unknown/%Y/%m/%d/", blank=True)
    embedding_ciphertext = models.BinaryField(editable=False)
    engine_name = models.CharField(max_length=40)
    engine_version = models.CharField(max_length=40)
    group = models.ForeignKey(
        UnknownFaceGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="faces"
    )
    status = models.CharField(max_length=10, choices=UnknownFaceStatus.choices, default=UnknownFaceStatus.PENDING)
    assigned_student = models.ForeignKey(
        "campus.Student", null=True, blank=True, on_delete=models.CASCADE, related_name="assigned_unknown_faces"
    )
    resolved_by = acting_user()
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = UnknownFaceQuerySet.as_manager()

    class Meta:
        ordering = ["-seen_at"]
        constraints = [
            choice_check("status", UnknownFaceStatus, name="cameras_unknown_status"),
        ]
        indexes = [models.Index(fields=["status", "seen_at"], name="cameras_unknown_status_time")]

    def __str__(self) -> str:
        return f"unknown face {self.pk}"


class SessionFaceCount(models.Model):
    """Per class session: faces detected, recognised and not recognised (counted per face per frame)."""

    session = models.OneToOneField("attendance.ClassSession", on_delete=models.CASCADE, related_name="face_counts")
    faces_detected = models.PositiveIntegerField(default=0)
    faces_recognised = models.PositiveIntegerField(default=0)
    faces_unrecognised = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"face counts of session {self.session_id}"
