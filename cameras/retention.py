"""Purgers for what the cameras app keeps only for a while (registered with config.retention).

Each is `fn(*, now, dry_run) -> int`. Files are deleted with their rows; a last
sweep removes files no row refers to (left by a crash or a rolled-back transaction).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q, QuerySet

from config.storage import stored_names

from .choices import FrameState
from .models import FaceEnrolment, FaceSighting, Frame, UnknownFace, UnknownFaceGroup

logger = logging.getLogger("cameras.retention")

BATCH = 1000
MEDIA_DIRS = ("frames", "faces/unknown", "faces/enrolments")
# A file younger than this may belong to a row still being written.
ORPHAN_MIN_AGE = timedelta(hours=1)


def _delete_files(names: list[str]) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete file", extra={"file": name})


def _delete_in_batches(rows: QuerySet, file_path: str) -> None:
    """Deletes `rows` BATCH at a time, each batch after the files `file_path` names
    (a file field of the row, or one across a relation)."""
    while batch := list(rows.values_list("pk", file_path)[:BATCH]):
        _delete_files([name for _, name in batch])
        rows.model.objects.filter(pk__in=[pk for pk, _ in batch]).delete()


def _purge_rows(rows: QuerySet, file_path: str, *, dry_run: bool) -> int:
    """How many `rows` there are; unless a dry run, they are deleted (in batches, files first)."""
    count = rows.count()
    if not dry_run:
        _delete_in_batches(rows, file_path)
    return count


def purge_frames(*, now: datetime, dry_run: bool) -> int:
    """Frame rows past FRAME_ROW_RETENTION_DAYS, and frame images of finished frames (unless kept by setting)."""
    cutoff = now - timedelta(days=settings.FRAME_ROW_RETENTION_DAYS)
    old = Frame.objects.filter(created_at__lt=cutoff)
    finished_with_image = Frame.objects.none()
    if not settings.FRAME_KEEP_IMAGES:
        finished_with_image = Frame.objects.filter(
            state__in=[FrameState.DONE, FrameState.SKIPPED, FrameState.FAILED]
        ).exclude(image="")
    count = old.count() + finished_with_image.exclude(created_at__lt=cutoff).count()
    if dry_run:
        return count
    for frame_id, image in finished_with_image.values_list("pk", "image").iterator():
        _delete_files([image])
        Frame.objects.filter(pk=frame_id).update(image="")
    _delete_in_batches(old, "image")
    return count


def purge_sightings(*, now: datetime, dry_run: bool) -> int:
    """Face sightings older than SIGHTING_RETENTION_DAYS (the evidence behind old attendance records)."""
    cutoff = now - timedelta(days=settings.SIGHTING_RETENTION_DAYS)
    # An unknown face hangs off its sighting (and goes with it): its crop file goes first.
    return _purge_rows(FaceSighting.objects.filter(seen_at__lt=cutoff), "unknown_face__crop", dry_run=dry_run)


def purge_unknown_faces(*, now: datetime, dry_run: bool) -> int:
    """Unknown-face crops and embeddings older than UNKNOWN_FACE_RETENTION_HOURS (72 by default)."""
    cutoff = now - timedelta(hours=settings.UNKNOWN_FACE_RETENTION_HOURS)
    count = _purge_rows(UnknownFace.objects.filter(created_at__lt=cutoff), "crop", dry_run=dry_run)
    if not dry_run:
        UnknownFaceGroup.objects.filter(faces__isnull=True, last_seen_at__lt=cutoff).delete()
    return count


def purge_enrolment_photos(*, now: datetime, dry_run: bool) -> int:
    """Enrolment photos past their keep date (the embeddings stay: they are the enrolment)."""
    due = FaceEnrolment.objects.exclude(photo="").filter(
        Q(photo_delete_after__lte=now) | Q(photo_delete_after__isnull=True)
    )
    if settings.FACE_ENROLMENT_PHOTO_RETENTION_DAYS > 0:
        due = due.filter(photo_delete_after__lte=now)
    rows = list(due.values_list("pk", "photo"))
    if dry_run:
        return len(rows)
    for pk, photo in rows:
        _delete_files([photo])
        FaceEnrolment.objects.filter(pk=pk).update(photo="", photo_delete_after=None)
    return len(rows)


def _referenced() -> set[str]:
    names: set[str] = set()
    names.update(Frame.objects.exclude(image="").values_list("image", flat=True))
    names.update(UnknownFace.objects.exclude(crop="").values_list("crop", flat=True))
    names.update(FaceEnrolment.objects.exclude(photo="").values_list("photo", flat=True))
    return names


def purge_orphan_files(*, now: datetime, dry_run: bool) -> int:
    """Files under the cameras folders of the storage that no row refers to (older than an hour)."""
    referenced = _referenced()
    orphans: list[str] = []
    for folder in MEDIA_DIRS:
        for name in stored_names(folder):
            if name in referenced:
                continue
            try:
                modified = default_storage.get_modified_time(name)
            except (OSError, NotImplementedError):
                continue
            if now - modified >= ORPHAN_MIN_AGE:
                orphans.append(name)
    if not dry_run:
        _delete_files(orphans)
    return len(orphans)
