"""Read queries of the cameras app, reused by the API, the admin, tasks and the pipeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from attendance.choices import SessionStatus
from attendance.models import ClassSession
from attendance.policy import EffectivePolicy, policy_for
from campus.selectors import students_enrolled_on

from .choices import CameraStatus, SightingOutcome, UnknownFaceStatus
from .memory import ProcessMemory
from .models import Camera, CameraStatusChange, FaceEnrolment, FaceSighting, Frame, UnknownFace, UnknownFaceGroup

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User
    from campus.models import Student


def camera_list() -> QuerySet[Camera]:
    return Camera.objects.select_related("room", "room__building", "device").order_by("room__code", "name")


def enrolments_of(student: Student) -> QuerySet[FaceEnrolment]:
    return FaceEnrolment.objects.filter(student=student).order_by("created_at", "id")


def frame_list() -> QuerySet[Frame]:
    return Frame.objects.select_related("camera").order_by("-captured_at", "-id")


def sighting_list() -> QuerySet[FaceSighting]:
    """Face sightings, latest first: the table alone (the serializer shows related ids, never joins)."""
    return FaceSighting.objects.order_by("-seen_at", "-id")


SIGHTING_ROW_FIELDS = (
    "id", "frame_id", "camera_id", "room_id", "seen_at", "box", "student_id", "distance", "runner_up_distance",
    "match_reason", "tracked", "session_id", "record_id", "outcome", "visitor", "needs_review",
)


def sighting_rows() -> QuerySet[FaceSighting, dict[str, Any]]:
    """`sighting_list` as plain rows of what the list shows: a page builds no model instances."""
    return cast("QuerySet[FaceSighting, dict[str, Any]]", sighting_list().values(*SIGHTING_ROW_FIELDS))


def unknown_face_list() -> QuerySet[UnknownFace]:
    return UnknownFace.objects.select_related("camera", "camera__room", "group", "sighting").order_by("-seen_at")


def unknown_group_list() -> QuerySet[UnknownFaceGroup]:
    return UnknownFaceGroup.objects.annotate(
        pending=Count("faces", filter=Q(faces__status=UnknownFaceStatus.PENDING))
    ).filter(pending__gt=0).order_by("-last_seen_at")


# Per-process memos (cameras.memory): a frame pipeline asks several times a second.
_open_sessions: ProcessMemory[list[tuple[ClassSession, EffectivePolicy]]] = ProcessMemory(
    "open_sessions", maxsize=1000, ttl=10.0
)
_session_students: ProcessMemory[frozenset[int]] = ProcessMemory("session_students", maxsize=1000, ttl=60.0)


def unknown_groups_visible_to(user: User | AnonymousUser) -> QuerySet[UnknownFaceGroup]:
    """Groups holding at least one unknown face `user` may see."""
    visible = UnknownFace.objects.visible_to(user).values("group_id")
    return unknown_group_list().filter(pk__in=visible)


def open_session_for(room_id: int, at: datetime) -> ClassSession | None:
    """The open session in the room whose attendance window holds `at` (the one started first).

    The room's open sessions and their policies are memoised per process for ten
    seconds. `mark_seen` decides for itself which session a sighting counts for;
    this only orders the matching and keys the pipeline's memory.
    """
    sessions = _open_sessions.get_or_set(("room", room_id), lambda: _room_open_sessions(room_id))
    for session, policy in sessions:
        if at <= session.scheduled_end and policy.in_window(session, at):
            return session
    return None


def _room_open_sessions(room_id: int) -> list[tuple[ClassSession, EffectivePolicy]]:
    sessions = (
        ClassSession.objects.filter(room_id=room_id, status=SessionStatus.OPEN)
        .select_related("section")
        .order_by("scheduled_start", "id")[:5]
    )
    return [(session, policy_for(session)) for session in sessions]


def session_student_ids(session: ClassSession) -> frozenset[int]:
    """Ids of the students enrolled in the session, memoised per process for a minute.

    Keyed by the session and what its class list depends on (section and date).
    """
    return _session_students.get_or_set(
        (session.pk, session.section_id, session.date),
        lambda: frozenset(students_enrolled_on(session.section_id, session.date).values_list("pk", flat=True)),
    )


def session_face_summary(session: ClassSession) -> dict[str, Any]:
    """"31 students recognised, 3 faces unrecognised" for one session."""
    sightings = FaceSighting.objects.filter(session=session)
    recognised = sightings.filter(student__isnull=False).values("student").distinct().count()
    unknown_groups = (
        UnknownFace.objects.filter(sighting__session=session).exclude(group=None).values("group").distinct().count()
    )
    counts = getattr(session, "face_counts", None)
    return {
        "session": session.pk,
        "students_recognised": recognised,
        "unrecognised_people": unknown_groups,
        "faces_detected": counts.faces_detected if counts else 0,
        "faces_recognised": counts.faces_recognised if counts else 0,
        "faces_unrecognised": counts.faces_unrecognised if counts else 0,
        "marked": sightings.filter(outcome=SightingOutcome.MARKED).values("student").distinct().count(),
        "held_for_review": sightings.filter(needs_review=True).count(),
    }


def camera_status_counts() -> dict[str, int]:
    """For the dashboard: enabled cameras by status."""
    rows = Camera.objects.filter(enabled=True).values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(CameraStatus.values, 0)
    for row in rows:
        counts[row["status"]] = row["n"]
    return {"online": counts["online"], "offline": counts["offline"], "error": counts["error"],
            "total": sum(counts.values())}


def room_camera_coverage(room_id: int, start: datetime, end: datetime) -> float | None:
    """Share of [start, end] during which at least one enabled camera of the room was online.

    None when the room has no camera. From the status history, so it also holds for
    sessions long past.
    """
    cameras = list(Camera.objects.filter(room_id=room_id, enabled=True).values_list("pk", flat=True))
    if not cameras:
        return None
    if end <= start:
        return None
    intervals: list[tuple[datetime, datetime]] = []
    for camera_id in cameras:
        before = (
            CameraStatusChange.objects.filter(camera_id=camera_id, at__lte=start).order_by("-at").first()
        )
        changes = list(CameraStatusChange.objects.filter(camera_id=camera_id, at__gt=start, at__lt=end).order_by("at"))
        online_since = start if before is not None and before.status == CameraStatus.ONLINE else None
        for change in changes:
            if change.status == CameraStatus.ONLINE and online_since is None:
                online_since = change.at
            elif change.status != CameraStatus.ONLINE and online_since is not None:
                intervals.append((online_since, change.at))
                online_since = None
        if online_since is not None:
            intervals.append((online_since, end))
    covered = timedelta(0)
    cursor = start
    for begin, finish in sorted(intervals):
        begin = max(begin, cursor)
        if finish > begin:
            covered += finish - begin
            cursor = finish
    return min(1.0, covered / (end - start))


def session_camera_coverage(session: ClassSession) -> float | None:
    """The coverage provider registered with attendance."""
    end = min(session.scheduled_end, session.closed_at or session.scheduled_end)
    if end > timezone.now():
        end = timezone.now()
    return room_camera_coverage(session.room_id, session.scheduled_start, end)


def camera_health() -> dict[str, Any]:
    """/health/full component: ok unless every enabled camera is down."""
    counts = camera_status_counts()
    return {"ok": counts["total"] == 0 or counts["online"] > 0, **counts}
