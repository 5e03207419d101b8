"""Purgers: unknown crops after 72 h, enrolment photos per setting, old frames, orphan files; registrations."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from cameras import retention
from cameras.models import FaceEnrolment, FaceSighting, Frame, UnknownFace
from cameras.tests.conftest import ingest, photo_bytes
from config.retention import registered_purgers

pytestmark = pytest.mark.django_db


def test_purgers_are_registered():
    assert {"camera_frames", "unknown_face_crops", "enrolment_photos", "biometric_orphan_files"} <= set(
        registered_purgers()
    )


def test_unknown_crops_are_deleted_after_72_hours(enrolled_obama, camera, settings):
    frame = ingest(camera, photo_bytes("biden.jpg"))
    unknown = UnknownFace.objects.get(sighting__frame=frame)
    crop = unknown.crop.name
    assert default_storage.exists(crop)
    now = timezone.now()
    assert retention.purge_unknown_faces(now=now + dt.timedelta(hours=71), dry_run=False) == 0
    assert retention.purge_unknown_faces(now=now + dt.timedelta(hours=73), dry_run=True) == 1
    assert UnknownFace.objects.exists()
    assert retention.purge_unknown_faces(now=now + dt.timedelta(hours=73), dry_run=False) == 1
    assert not UnknownFace.objects.exists()
    assert not default_storage.exists(crop)
    assert FaceSighting.objects.filter(frame=frame).exists()  # the sighting itself stays


def test_enrolment_photo_kept_only_for_the_retention_days(obama, settings, django_capture_on_commit_callbacks):
    from cameras.services import enrol_face

    settings.FACE_ENROLMENT_PHOTO_RETENTION_DAYS = 3
    with django_capture_on_commit_callbacks(execute=True):
        enrolment = enrol_face(student=obama, image_bytes=photo_bytes("obama.jpg"))
    photo = enrolment.photo.name
    assert default_storage.exists(photo)
    now = timezone.now()
    assert retention.purge_enrolment_photos(now=now + dt.timedelta(days=2), dry_run=False) == 0
    assert retention.purge_enrolment_photos(now=now + dt.timedelta(days=4), dry_run=False) == 1
    enrolment.refresh_from_db()
    assert not enrolment.photo and not default_storage.exists(photo)
    assert FaceEnrolment.objects.filter(pk=enrolment.pk).exists()  # the embedding is the enrolment


def test_old_frame_rows_go_but_sightings_stay(enrolled_obama, camera, settings):
    settings.FRAME_ROW_RETENTION_DAYS = 14
    frame = ingest(camera, photo_bytes("obama2.jpg"))
    now = timezone.now()
    assert retention.purge_frames(now=now + dt.timedelta(days=13), dry_run=False) == 0
    assert retention.purge_frames(now=now + dt.timedelta(days=15), dry_run=False) == 1
    assert not Frame.objects.filter(pk=frame.pk).exists()
    sighting = FaceSighting.objects.get(student=enrolled_obama)
    assert sighting.frame is None


def test_orphan_files_are_removed_and_referenced_ones_kept(camera, settings):
    orphan = default_storage.save("faces/unknown/2026/01/01/lost.jpg", ContentFile(b"x"))
    kept = Frame.objects.create(camera=camera, captured_at=timezone.now(), sha256="a" * 64)
    kept.image.save("kept.jpg", ContentFile(b"y"), save=True)
    later = timezone.now() + dt.timedelta(hours=2)
    assert retention.purge_orphan_files(now=later, dry_run=True) == 1
    assert retention.purge_orphan_files(now=later, dry_run=False) == 1
    assert not default_storage.exists(orphan)
    assert default_storage.exists(kept.image.name)


def test_the_nightly_purge_runs_every_cameras_purger(camera):
    # Their one schedule: config.tasks.purge_expired (cameras' own beat task ran them a second time).
    from config.tasks import purge_expired

    result = purge_expired.delay().get()
    assert {"camera_frames", "unknown_face_crops", "face_sightings", "enrolment_photos",
            "biometric_orphan_files"} <= set(result)


def test_sightings_go_after_their_retention_days_and_dry_run_keeps_them(enrolled_obama, camera, settings):
    settings.SIGHTING_RETENTION_DAYS = 30
    frame = ingest(camera, photo_bytes("obama2.jpg"))
    assert FaceSighting.objects.filter(frame=frame).count() == 1
    now = timezone.now()
    assert retention.purge_sightings(now=now + dt.timedelta(days=29), dry_run=False) == 0
    assert retention.purge_sightings(now=now + dt.timedelta(days=31), dry_run=True) == 1
    assert FaceSighting.objects.count() == 1
    assert retention.purge_sightings(now=now + dt.timedelta(days=31), dry_run=False) == 1
    assert not FaceSighting.objects.exists()
    assert "face_sightings" in registered_purgers()


def test_a_purged_sighting_takes_its_unknown_face_and_crop_file_with_it(enrolled_obama, camera, settings):
    settings.SIGHTING_RETENTION_DAYS = 30
    frame = ingest(camera, photo_bytes("biden.jpg"))
    crop = UnknownFace.objects.get(sighting__frame=frame).crop.name
    assert default_storage.exists(crop)
    assert retention.purge_sightings(now=timezone.now() + dt.timedelta(days=31), dry_run=False) == 1
    assert not UnknownFace.objects.exists()
    assert not default_storage.exists(crop)
