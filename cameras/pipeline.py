"""Frame processing, the worker's side: claim, decode, detect, track, embed, match, decide.

One function, `process_frame_data`, is the pipeline for every way a frame comes in
(pushed, pulled, replayed by ingest_video); intake (`cameras.intake`) has already
validated it and passed the motion gate, and the task (`cameras.tasks.process_frame`)
hands it to `run_frame`, which also decides what an error means for the frame.
Attendance is only ever marked through `attendance.services.mark_seen` (and held
for review, on a two-room conflict, through `hold_for_review`).

The decision rule (README "Cameras"): a match within FACE_STRONG_MATCH_DISTANCE marks
at once on any frame; otherwise FACE_CONSENSUS_SIGHTINGS independent agreeing
sightings within FACE_CONSENSUS_WINDOW_SECONDS mark, dated from the earliest of them.
A sighting is independent when it was embedded (not served from a track), or, if
tracked, when it is at least FACE_TRACK_MAX_GAP_SECONDS from every other one counted.
Tracks still awaiting consensus are embedded again on every frame (engine/tracking.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter as Tally
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from attendance.choices import RecordSource
from attendance.services import hold_for_review, mark_seen
from campus.models import Student
from config.outages import TRANSIENT_ERRORS

from . import gate, metrics
from .biometrics import encrypt_vector
from .choices import FrameState, SightingOutcome
from .engine import FaceBox, FaceEngine, get_engine
from .engine import images as engine_images
from .engine.tracking import FaceTracker
from .frames import claim_frame, fail_frame, release_image, transition
from .memory import ProcessMemory, forget_all
from .models import FaceSighting, Frame, SessionFaceCount, UnknownFace
from .recognition import current_gallery, gallery_version, match_face
from .selectors import open_session_for, session_student_ids
from .services import group_unknown_face

logger = logging.getLogger("cameras.pipeline")

STAGES = ("decode", "detect", "track", "embed", "match", "database")

# Outcomes after which a face's identity is decided: its track may be served from memory.
DECIDED = frozenset({
    SightingOutcome.MARKED, SightingOutcome.UPDATED, SightingOutcome.UNCHANGED,
    SightingOutcome.NOT_ENROLLED, SightingOutcome.NO_SESSION,
})

_tracker: FaceTracker | None = None
# (camera, session) -> [(box, time)] of unknown faces kept lately: one crop per person passing.
_recent_unknown: ProcessMemory[list[tuple[FaceBox, float]]] = ProcessMemory(
    "recent_unknown_faces", maxsize=1000, ttl="FACE_TRACK_MAX_GAP_SECONDS"
)
# (student, session, room) -> (capture time, record id, session id) of this worker's last mark with a record.
# Keyed by the open session too: a sighting in the next class in the same room is never linked to the last one.
_recently_marked: ProcessMemory[tuple[float, int, int]] = ProcessMemory(
    "recently_marked", maxsize=10_000, ttl="FACE_MARK_REFRESH_SECONDS"
)


def tracker() -> FaceTracker:
    global _tracker
    if _tracker is None:
        _tracker = FaceTracker(
            min_iou=settings.FACE_TRACK_MIN_IOU,
            max_gap_seconds=settings.FACE_TRACK_MAX_GAP_SECONDS,
            reverify_seconds=settings.FACE_TRACK_REVERIFY_SECONDS,
        )
    return _tracker


def reset_memory() -> None:
    """Forget tracks and every per-process memory: recent marks and unknown faces, sessions, gallery."""
    tracker().forget()
    forget_all()


@dataclass
class FaceResult:
    box: FaceBox
    student_id: int | None = None
    distance: float | None = None
    runner_up_distance: float | None = None
    reason: str = ""
    tracked: bool = False
    visitor: bool = False
    vector: np.ndarray | None = None
    outcome: str = SightingOutcome.UNKNOWN
    needs_review: bool = False


@dataclass
class FrameReport:
    frame_id: int
    state: str
    reason: str = ""
    faces: list[FaceResult] = field(default_factory=list)
    marked: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def recognised(self) -> int:
        return sum(1 for face in self.faces if face.student_id is not None)

    @property
    def unknown(self) -> int:
        return sum(1 for face in self.faces if face.student_id is None)


class PermanentFrameError(Exception):
    """The frame can never be processed (corrupt, missing bytes): mark it failed, do not retry."""


@contextmanager
def _stage(report: FrameReport, name: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        report.timings_ms[name] = report.timings_ms.get(name, 0.0) + elapsed * 1000
        metrics.STAGE_SECONDS.labels(stage=name).observe(elapsed)


# --- The pipeline -----------------------------------------------------------------


def run_frame(frame_id: int, *, task_id: str | None = None) -> dict | None:
    """The worker's handling of one frame, as the `process_frame` task's result; idempotent.

    A transient error (database, cache) puts the frame back to wait and is raised again, so
    the task's base class retries it with backoff; a frame out of attempts is failed instead.
    Anything else fails the frame with the reason, so it never blocks the queue.
    """
    try:
        report = process_frame_id(frame_id)
    except TRANSIENT_ERRORS as exc:
        if _wait_for_retry(frame_id, exc, task_id=task_id):
            raise
        return None
    except PermanentFrameError as exc:
        frame = Frame.objects.get(pk=frame_id)
        fail_frame(frame, str(exc))
        return {"frame": frame_id, "state": FrameState.FAILED, "reason": str(exc)}
    except Exception as exc:
        logger.exception("frame processing failed", extra={"frame_id": frame_id, "task_id": task_id})
        frame = Frame.objects.filter(pk=frame_id, state=FrameState.PROCESSING).first()
        if frame is not None:
            fail_frame(frame, f"error: {type(exc).__name__}: {str(exc)[:200]}")
        return {"frame": frame_id, "state": FrameState.FAILED, "reason": type(exc).__name__}
    if report is None:
        return None
    return {"frame": frame_id, "state": report.state, "faces": len(report.faces), "marked": report.marked}


def _wait_for_retry(frame_id: int, exc: Exception, *, task_id: str | None) -> bool:
    """Puts a frame that hit `exc` back to `pending`; False when it is out of attempts (then failed)."""
    logger.warning("frame processing hit a transient error; retrying",
                   extra={"frame_id": frame_id, "task_id": task_id, "error": str(exc)[:200]})
    try:
        frame = Frame.objects.filter(pk=frame_id).first()
    except DatabaseError:
        # The database itself is what failed: retried while the task's retries last, and a frame
        # left behind is failed by the stale-frame sweep (`fail_exhausted_frames`).
        return True
    if frame is not None and frame.state == FrameState.PROCESSING:
        if frame.attempts >= settings.FRAME_MAX_ATTEMPTS:
            fail_frame(frame, f"transient_errors: {type(exc).__name__} on {frame.attempts} attempts")
            return False
        transition(frame, FrameState.PENDING, reason=f"retrying after {type(exc).__name__}")
    return True


def process_frame_id(frame_id: int) -> FrameReport | None:
    """Claim a stored frame and run it through the pipeline; None when it is not ours to process."""
    frame = claim_frame(frame_id)
    if frame is None:
        return None
    if not frame.image:
        fail_frame(frame, "missing_image: the frame's bytes are gone")
        return FrameReport(frame.pk, FrameState.FAILED, "missing_image")
    try:
        with frame.image.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        fail_frame(frame, "missing_image: the frame's file is not in storage")
        return FrameReport(frame.pk, FrameState.FAILED, "missing_image")
    return process_frame_data(frame, data)


def process_frame_data(frame: Frame, data: bytes, *, engine: FaceEngine | None = None) -> FrameReport:
    """Runs a claimed frame (state `processing`) through every stage and records the outcome."""
    engine = engine or get_engine()
    camera = frame.camera
    report = FrameReport(frame.pk, FrameState.PROCESSING)
    at = frame.captured_at.timestamp()

    with _stage(report, "decode"):
        try:
            image = engine_images.decode_image(data, max_pixels=settings.FACE_MAX_IMAGE_PIXELS)
        except engine_images.ImageRejected as exc:
            raise PermanentFrameError(f"{exc.reason}: {exc.message}")
    height, width = image.shape[:2]

    with _stage(report, "detect"):
        small, scale = engine_images.downscale(image, camera.effective_detect_max_side)
        detected = engine.detect(small, upsample=settings.FACE_DETECT_UPSAMPLE)
        boxes = [
            (face.box.scaled(1 / scale) if scale != 1.0 else face.box).clipped(height, width) for face in detected
        ]
    faces = [FaceResult(box=box) for box in boxes]
    metrics.FACES_DETECTED.inc(len(faces))

    # Tracks belong to one camera, one class session and one gallery: at a change of
    # class a new student sitting where the last one sat must be matched afresh, and
    # an erased student must not live on in a track.
    session = open_session_for(camera.room_id, frame.captured_at)
    session_id = session.pk if session is not None else None
    track_key = (camera.pk, session_id, gallery_version())

    with _stage(report, "track"):
        to_embed: list[FaceResult] = []
        for face in faces:
            if min(face.box.width, face.box.height) < settings.FACE_MATCH_MIN_SIZE_PX:
                face.outcome, face.reason = SightingOutcome.LOW_QUALITY, "too_small"
                continue
            track = tracker().lookup(track_key, face.box, at)
            if track is not None:
                face.student_id, face.distance, face.tracked, face.reason = (
                    track.student_id, track.distance, True, "tracked"
                )
                metrics.FACES_TRACKED.inc()
            else:
                to_embed.append(face)

    if to_embed:
        with _stage(report, "embed"):
            vectors = engine.embed_many(image, [face.box for face in to_embed])
        for face, vector in zip(to_embed, vectors, strict=True):
            face.vector = np.asarray(vector, dtype=np.float32)

    with _stage(report, "match"):
        session_students = set(session_student_ids(session)) if session is not None else None
        if to_embed:
            gallery = current_gallery(engine)
            for face in to_embed:
                match, visitor = match_face(gallery, face.vector, session_students=session_students)
                face.student_id = match.student_id
                face.distance = None if match.distance == float("inf") else match.distance
                face.runner_up_distance = (
                    None if match.runner_up_distance == float("inf") else match.runner_up_distance
                )
                face.reason, face.visitor = match.reason, visitor
        for face in faces:
            if face.tracked and session_students is not None:
                face.visitor = face.student_id not in session_students

    with _stage(report, "database"):
        marked = _record(frame=frame, faces=faces, session=session, image=image, engine=engine)

    # Only after the transaction: remember the tracks of embedded faces. A face still awaiting
    # consensus gets an unconfirmed track, so it is embedded again on the next frames.
    for face in faces:
        if face.student_id is not None and not face.tracked and face.outcome != SightingOutcome.CONFLICT:
            tracker().remember(track_key, face.box, at, student_id=face.student_id, distance=face.distance or 0.0,
                               confirmed=face.outcome in DECIDED)
    gate.adopt_baseline(camera_id=camera.pk, frame_id=frame.pk, at=at, size=len(data), sha256=frame.sha256)

    recognised = sum(1 for face in faces if face.student_id is not None)
    metrics.FACES_RECOGNISED.inc(recognised)
    metrics.FACES_UNKNOWN.inc(len(faces) - recognised)
    metrics.FRAMES_PROCESSED.inc()
    report.state, report.faces, report.marked = FrameState.DONE, faces, marked
    return report


def _record(*, frame: Frame, faces: list[FaceResult], session, image: np.ndarray, engine: FaceEngine) -> list[int]:
    """Sightings, consensus, conflicts, marks, unknown crops and counts: one transaction."""
    camera = frame.camera
    at = frame.captured_at
    marked: list[int] = []
    with transaction.atomic():
        student_ids = sorted({face.student_id for face in faces if face.student_id is not None})
        # Row locks in id order: two workers with frames of the same student take turns
        # here, so each sees the other's sightings when it counts agreement.
        students = {
            student.pk: student
            for student in Student.objects.select_for_update().filter(pk__in=student_ids).order_by("pk")
        }
        per_student = Tally(face.student_id for face in faces if face.student_id is not None)
        for face in faces:
            if face.student_id is None:
                continue
            student = students.get(face.student_id)
            if student is None or not student.has_face_consent:
                # Consent withdrawn since the gallery was built: treat as nobody.
                face.student_id, face.reason, face.tracked = None, "no_consent", False
                continue
            if per_student[face.student_id] > 1:
                face.outcome, face.needs_review, face.reason = SightingOutcome.CONFLICT, True, "twice_in_frame"

        sightings = FaceSighting.objects.bulk_create(
            [
                FaceSighting(
                    frame=frame, camera=camera, room_id=camera.room_id, seen_at=at, box=face.box.as_list(),
                    student_id=face.student_id, distance=face.distance, runner_up_distance=face.runner_up_distance,
                    match_reason=face.reason[:40], tracked=face.tracked, session=session,
                    outcome=_initial_outcome(face),
                    visitor=face.visitor, needs_review=face.needs_review,
                )
                for face in faces
            ]
        )
        for face, sighting in zip(faces, sightings, strict=True):
            if face.student_id is None or face.needs_review:
                continue
            _decide(face=face, sighting=sighting, student=students[face.student_id], camera=camera, at=at,
                    session=session)
            if face.outcome == SightingOutcome.MARKED:
                marked.append(face.student_id)
        for face, sighting in zip(faces, sightings, strict=True):
            if face.student_id is None and face.vector is not None:
                _keep_unknown(face=face, sighting=sighting, image=image, engine=engine, session=session)
        if session is not None and faces:
            _count(session, faces)
        transition(frame, FrameState.DONE, faces_detected=len(faces), **release_image(frame, write=False))
    return marked


def _initial_outcome(face: FaceResult) -> str:
    if face.student_id is None:
        return face.outcome
    return SightingOutcome.CONFLICT if face.needs_review else SightingOutcome.AWAITING_CONSENSUS


def independent_times(sightings: list[tuple[dt.datetime, bool]], *, gap: float) -> list[dt.datetime]:
    """The times of the sightings that count as independent evidence, earliest first.

    `sightings` are (time, tracked). An embedded sighting always counts (a real
    embedding and match of that frame); a tracked one, served from memory, only when
    at least `gap` seconds from every sighting already counted.
    """
    counted = sorted(at for at, tracked in sightings if not tracked)
    for at, _ in sorted(s for s in sightings if s[1]):
        if all(abs((at - other).total_seconds()) >= gap for other in counted):
            counted.append(at)
            counted.sort()
    return counted


def _decide(*, face: FaceResult, sighting: FaceSighting, student, camera, at, session) -> None:
    """Conflict check, then the strong match or consensus, then mark_seen; writes the outcome on the sighting.

    One query reads the student's sightings around `at` (both windows); the rules run on it.
    The record is dated from the earliest agreeing sighting, not from the one that completed
    the consensus, so present or late is decided by when the student was first seen.
    """
    conflict_window = timedelta(seconds=settings.FACE_CONFLICT_WINDOW_SECONDS)
    window = timedelta(seconds=settings.FACE_CONSENSUS_WINDOW_SECONDS)
    widest = max(conflict_window, window)
    nearby = list(
        FaceSighting.objects.filter(student=student, seen_at__gte=at - widest, seen_at__lte=at + widest)
        .exclude(pk=sighting.pk)
        .values_list("pk", "room_id", "seen_at", "needs_review", "tracked")[:1000]
    )
    in_conflict_window = [row for row in nearby if abs(row[2] - at) <= conflict_window]
    elsewhere = [row[0] for row in in_conflict_window if row[1] != camera.room_id]
    if elsewhere:
        # The same face in two rooms at once: a proxy, a photo, or a wrong match. Nobody is marked,
        # and a mark an earlier sighting already made in the other room is held for review too.
        FaceSighting.objects.filter(pk__in=[*elsewhere, sighting.pk]).update(needs_review=True)
        FaceSighting.objects.filter(pk=sighting.pk).update(outcome=SightingOutcome.CONFLICT)
        face.outcome, face.needs_review = SightingOutcome.CONFLICT, True
        reason = f"Seen by face in two rooms within {settings.FACE_CONFLICT_WINDOW_SECONDS} s; check who was where."
        first_seen = {camera.room_id: at}  # per room, the earliest sighting in the conflict
        for _pk, room_id, seen_at, _review, _tracked in in_conflict_window:
            if room_id != camera.room_id:
                first_seen[room_id] = min(seen_at, first_seen.get(room_id, seen_at))
        for room_id, seen_at in sorted(first_seen.items()):
            hold_for_review(student=student, at=seen_at, room=room_id, reason=reason)
        logger.warning("student seen in two rooms", extra={"student_id": student.pk, "camera_id": camera.pk})
        return
    if any(row[3] for row in in_conflict_window):
        # Still inside a conflict raised by an earlier sighting: keep holding.
        face.outcome, face.needs_review = SightingOutcome.CONFLICT, True
        FaceSighting.objects.filter(pk=sighting.pk).update(outcome=face.outcome, needs_review=True)
        return
    strong = not face.tracked and face.distance is not None and face.distance <= settings.FACE_STRONG_MATCH_DISTANCE
    agreeing = independent_times(
        [(row[2], row[4]) for row in nearby if row[1] == camera.room_id and not row[3] and abs(row[2] - at) <= window]
        + [(at, face.tracked)],
        gap=settings.FACE_TRACK_MAX_GAP_SECONDS,
    )
    if not strong and len(agreeing) < settings.FACE_CONSENSUS_SIGHTINGS:
        face.outcome = SightingOutcome.AWAITING_CONSENSUS
        return
    memory_key = (student.pk, session.pk if session is not None else None, camera.room_id)
    recent = _recently_marked.get(memory_key)
    if recent is not None and 0 <= at.timestamp() - recent[0] < settings.FACE_MARK_REFRESH_SECONDS:
        # Marked by this worker a moment ago in this session: the record needs no new write yet
        # (last seen is refreshed at most every FACE_MARK_REFRESH_SECONDS), only this sighting's link.
        face.outcome = SightingOutcome.UNCHANGED
        FaceSighting.objects.filter(pk=sighting.pk).update(
            outcome=face.outcome, record_id=recent[1], session_id=recent[2]
        )
        return
    confidence = None if face.distance is None else max(0.0, min(1.0, 1.0 - face.distance))
    earliest = min(agreeing) if agreeing else at
    dated = None
    if earliest < at:
        # The earliest agreeing sighting dates the record (first seen, present or late) ...
        dated = mark_seen(student=student, at=earliest, source=RecordSource.FACE, room=camera.room,
                          confidence=confidence)
    # ... and this one brings it up to date (last seen).
    result = mark_seen(student=student, at=at, source=RecordSource.FACE, room=camera.room, confidence=confidence)
    created = dated is not None and dated.outcome == SightingOutcome.MARKED
    face.outcome = SightingOutcome.MARKED if created else result.outcome
    face.visitor = face.visitor or result.outcome == SightingOutcome.NOT_ENROLLED
    updates = {"outcome": face.outcome, "visitor": face.visitor}
    if result.session is not None:
        updates["session"] = result.session
    if result.record is not None:
        updates["record"] = result.record
        # The agreeing sightings that led here are the record's evidence too.
        FaceSighting.objects.filter(
            student=student, room_id=camera.room_id, record__isnull=True, needs_review=False,
            seen_at__gte=at - window, seen_at__lte=at + window,
        ).update(record=result.record)
    FaceSighting.objects.filter(pk=sighting.pk).update(**updates)
    if result.record is not None:
        _recently_marked.set(memory_key, (at.timestamp(), result.record.pk, result.record.session_id))


def _keep_unknown(*, face: FaceResult, sighting: FaceSighting, image: np.ndarray, engine: FaceEngine,
                  session) -> None:
    """A crop for staff review, unless this camera kept one at the same place a moment ago (in this session)."""
    camera_id, at = sighting.camera_id, sighting.seen_at.timestamp()
    key = (camera_id, session.pk if session is not None else None)
    recent = [
        (box, seen) for box, seen in _recent_unknown.get(key) or []
        if 0 <= at - seen <= settings.FACE_TRACK_MAX_GAP_SECONDS
    ]
    if any(box.iou(face.box) >= settings.FACE_TRACK_MIN_IOU for box, _ in recent):
        recent = [(box, seen) if box.iou(face.box) < settings.FACE_TRACK_MIN_IOU else (face.box, at)
                  for box, seen in recent]
        _recent_unknown.set(key, recent)
        return
    recent.append((face.box, at))
    _recent_unknown.set(key, recent)
    unknown = UnknownFace(
        sighting=sighting, camera_id=camera_id, seen_at=sighting.seen_at,
        embedding_ciphertext=encrypt_vector(face.vector), engine_name=engine.name, engine_version=engine.version,
    )
    jpeg = engine_images.encode_jpeg(engine_images.crop(image, face.box), quality=85)
    unknown.crop.save(f"{sighting.pk}.jpg", ContentFile(jpeg), save=False)
    unknown.save()
    group_unknown_face(unknown=unknown, vector=face.vector)


def _count(session, faces: list[FaceResult]) -> None:
    """One upsert per frame (INSERT ... ON CONFLICT, PostgreSQL and SQLite alike)."""
    recognised = sum(1 for face in faces if face.student_id is not None)
    table = SessionFaceCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (session_id, faces_detected, faces_recognised, faces_unrecognised, updated_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id) DO UPDATE SET "
            "faces_detected = {t}.faces_detected + excluded.faces_detected, "
            "faces_recognised = {t}.faces_recognised + excluded.faces_recognised, "
            "faces_unrecognised = {t}.faces_unrecognised + excluded.faces_unrecognised, "
            "updated_at = excluded.updated_at".replace("{t}", table),
            [session.pk, len(faces), recognised, len(faces) - recognised, timezone.now()],
        )
