"""Every write of the cameras app with a business rule: cameras, enrolment, erasure, review.

Frames have their own module (`cameras.frames`: receive and claim) and the
recognition pipeline is `cameras.pipeline`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.audit import record_audit_event, save_audited
from config.exceptions import Conflict, InvalidInput, NotAllowed, PayloadTooLarge

from .biometrics import decrypt_vector, encrypt_text, encrypt_vector
from .choices import CameraStatus, SourceKind, UnknownFaceStatus
from .engine import Embedding, FaceBox, FaceEngine, RGBImage, get_engine
from .engine import images as engine_images
from .engine import quality as engine_quality
from .models import Camera, CameraStatusChange, FaceEnrolment, Frame, UnknownFace, UnknownFaceGroup
from .recognition import current_gallery, gallery_changed
from .redaction import redact, split_credentials, split_query

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import User
    from campus.models import Student

logger = logging.getLogger("cameras.services")

# Enrolment photos are portraits: detection on a copy of this size is enough and fast.
ENROLMENT_DETECT_SIDE = 1024
# ... and they are decoded at a reduced size that keeps the longer side at least this long
# (a 6000x6000 JPEG is decoded at 1/2, never whole), plenty for a portrait's embedding.
ENROLMENT_DECODE_SIDE = 2048


# --- Cameras ------------------------------------------------------------------

CAMERA_FIELDS = {
    "name", "room", "source_kind", "url", "sample_interval_seconds", "detect_max_side", "enabled", "device",
}


def _apply_credentials(camera: Camera, *, url: str | None, username: str | None, password: str | None) -> None:
    """Moves any user:password and the query string out of the URL into encrypted fields."""
    if url is not None:
        clean, url_user, url_password = split_credentials(url.strip())
        camera.url, query = split_query(clean)
        camera.url_query_ciphertext = encrypt_text(query) if query else None
        if url_user and username is None:
            username = url_user
        if url_password and password is None:
            password = url_password
    if username is not None:
        camera.username = username
    if password is not None:
        camera.password_ciphertext = encrypt_text(password) if password else None


def _check_source(camera: Camera) -> None:
    if camera.source_kind != SourceKind.PUSH and not camera.url:
        raise InvalidInput("A pulled camera needs a URL (or a file path).", details={"url": ["Required."]})
    if camera.source_kind == SourceKind.RTSP and not camera.url.lower().startswith(("rtsp://", "rtsps://")):
        raise InvalidInput("An RTSP camera needs an rtsp:// URL.", details={"url": ["Not an rtsp:// URL."]})
    if camera.source_kind in (SourceKind.HTTP_SNAPSHOT, SourceKind.MJPEG) and not camera.url.lower().startswith(
        ("http://", "https://")
    ):
        raise InvalidInput("This camera needs an http(s):// URL.", details={"url": ["Not an http(s):// URL."]})


@transaction.atomic
def create_camera(
    *,
    actor: User | None = None,
    request: HttpRequest | None = None,
    username: str | None = None, password: str | None = None, **fields: Any
) -> Camera:
    """A new camera; credentials given in the URL are moved into the encrypted fields."""
    unknown = set(fields) - CAMERA_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown camera fields: {', '.join(sorted(unknown))}.")
    url = fields.pop("url", "")
    camera = Camera(**fields)
    _apply_credentials(camera, url=url, username=username, password=password)
    _check_source(camera)
    return save_audited(camera, action="camera.created", kind="camera", actor=actor, request=request,
                        details={"name": camera.name, "kind": camera.source_kind, "url": redact(camera.url)})


@transaction.atomic
def update_camera(
    *, camera: Camera, actor: User | None = None, request: HttpRequest | None = None, username: str | None = None,
    password: str | None = None, **fields: Any,
) -> Camera:
    unknown = set(fields) - CAMERA_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown camera fields: {', '.join(sorted(unknown))}.")
    url = fields.pop("url", None)
    for name, value in fields.items():
        setattr(camera, name, value)
    _apply_credentials(camera, url=url, username=username, password=password)
    _check_source(camera)
    if "enabled" in fields or url is not None:
        camera.consecutive_failures = 0
        camera.next_poll_at = None
    return save_audited(camera, action="camera.updated", kind="camera", actor=actor, request=request,
                        details={"fields": sorted([*fields, *(["url"] if url is not None else [])]),
                                 "credentials_changed": username is not None or password is not None})


@transaction.atomic
def delete_camera(*, camera: Camera, actor: User | None = None, request: HttpRequest | None = None) -> None:
    """Deletes a camera that has produced no sightings; one that has is attendance evidence: disable it."""
    if camera.sightings.exists():
        raise Conflict("This camera's sightings are attendance evidence; disable the camera instead.",
                       code="camera_has_sightings")
    camera_id, name = camera.pk, camera.name
    camera.delete()
    record_audit_event(action="camera.deleted", actor=actor, target=f"camera:{camera_id}", request=request,
                       details={"name": name})


def set_camera_status(*, camera: Camera, status: str, reason: str = "", at: datetime | None = None) -> bool:
    """Moves the camera to `status` (logging the change for coverage); False when it already was there."""
    at = at or timezone.now()
    reason = redact(reason)[:300]
    changed = Camera.objects.filter(pk=camera.pk).exclude(status=status).update(status=status, status_changed_at=at)
    if changed:
        CameraStatusChange.objects.create(camera=camera, status=status, at=at, reason=reason)
        logger.info("camera status changed", extra={"camera_id": camera.pk, "status": status, "reason": reason})
    camera.status = status
    return bool(changed)


def record_capture_success(*, camera: Camera, at: datetime | None = None) -> None:
    """Frames are flowing: reset failures, schedule the next read, online."""
    at = at or timezone.now()
    # next_poll_at is left to the poller's plan (it holds the camera until the next beat).
    Camera.objects.filter(pk=camera.pk).update(consecutive_failures=0, last_frame_at=at, last_error="")
    camera.consecutive_failures, camera.last_frame_at, camera.last_error = 0, at, ""
    set_camera_status(camera=camera, status=CameraStatus.ONLINE, at=at)


def record_capture_failure(*, camera: Camera, error: str, at: datetime | None = None) -> None:
    """A failed read: exponential backoff; offline after CAMERA_OFFLINE_AFTER_FAILURES in a row."""
    at = at or timezone.now()
    camera.refresh_from_db(fields=["consecutive_failures"])
    failures = camera.consecutive_failures + 1
    delay = min(camera.sample_interval_seconds * (2 ** failures), settings.CAMERA_MAX_BACKOFF_SECONDS)
    safe_error = redact(error, camera.username)[:1000]
    Camera.objects.filter(pk=camera.pk).update(
        consecutive_failures=failures, last_error=safe_error, next_poll_at=at + timedelta(seconds=delay)
    )
    camera.consecutive_failures, camera.last_error = failures, safe_error
    if failures >= settings.CAMERA_OFFLINE_AFTER_FAILURES:
        set_camera_status(camera=camera, status=CameraStatus.OFFLINE, reason=safe_error, at=at)


# --- Enrolment ----------------------------------------------------------------


@dataclass(frozen=True)
class FaceFound:
    vector: Embedding
    box: FaceBox
    size_px: int
    sharpness: float


def decode_or_400(data: bytes, *, max_pixels: int | None = None, min_side: int | None = None) -> RGBImage:
    """Decoded RGB image (at a reduced size with `min_side`), or the domain error that says what is wrong."""
    try:
        return engine_images.decode_image(
            data, max_pixels=max_pixels or settings.FACE_MAX_IMAGE_PIXELS, min_side=min_side
        )
    except engine_images.ImageRejected as exc:
        if exc.reason == "too_large":
            raise PayloadTooLarge(exc.message, code="image_too_large")
        raise InvalidInput(exc.message, code=exc.reason)


def single_face(image: RGBImage, engine: FaceEngine) -> FaceFound:
    """The one face of an enrolment photo with its embedding; 400 for none, several, or poor quality."""
    small, scale = engine_images.downscale(image, ENROLMENT_DETECT_SIDE)
    faces = engine.detect(small, upsample=1 if max(small.shape[:2]) < 800 else 0)
    if not faces:
        raise InvalidInput("No face was found in the photo.", code="no_face")
    if len(faces) > 1:
        raise InvalidInput(
            f"{len(faces)} faces were found in the photo; it must show exactly one.",
            code="several_faces", details={"faces": len(faces)},
        )
    height, width = image.shape[:2]
    box = faces[0].box.scaled(1 / scale) if scale != 1.0 else faces[0].box
    assessed = engine_quality.assess(image, box)
    if not assessed.ok:
        raise InvalidInput(
            "The face is not good enough to enrol: " + " ".join(assessed.reasons),
            code="poor_quality", details={"reasons": assessed.reasons},
        )
    vector = engine.embed(image, box.clipped(height, width))
    return FaceFound(vector=vector, box=box, size_px=assessed.size_px, sharpness=assessed.sharpness)


def _require_consent(student: Student) -> None:
    if not student.has_face_consent:
        raise NotAllowed(
            "The student has no recorded consent to face recognition (or is not active); "
            "record consent first, or mark attendance by hand or by device.",
            code="no_face_consent",
        )


def _refuse_inconsistent(vector: Embedding, student: Student, engine: FaceEngine) -> None:
    """A new photo must show the person already enrolled: within the same-person bound of each enrolment."""
    rows = FaceEnrolment.objects.filter(
        student=student, engine_name=engine.name, engine_version=engine.version
    ).values_list("pk", "embedding_ciphertext")
    bound = settings.FACE_ENROLMENT_SAME_PERSON_DISTANCE
    for enrolment_id, token in rows:
        distance = float(np.linalg.norm(decrypt_vector(token) - vector))
        if distance > bound:
            raise Conflict(
                "This face does not match the student's existing enrolments; it may be someone else. "
                "Check the photo, or replace the student's enrolments deliberately (replace=true).",
                code="face_differs_from_enrolments",
                details={"enrolment_id": enrolment_id, "distance": round(distance, 3), "bound": bound},
            )


def _refuse_duplicate(vector: Embedding, student: Student, engine: FaceEngine) -> None:
    gallery = current_gallery(engine, tolerate_outage=True)  # enrolment commits with Redis down
    match = gallery.match(vector, threshold=settings.FACE_MATCH_THRESHOLD, margin=0.0)
    if match.matched and match.student_id != student.pk:
        raise Conflict(
            "This face already matches another enrolled student; check the photo and the student.",
            code="face_matches_other_student",
            details={"student_id": match.student_id, "distance": round(match.distance, 3)},
        )


def _save_enrolment(*, student: Student, vector: Embedding, engine: FaceEngine, box: FaceBox | list[int],
                    size_px: int, sharpness: float, photo: bytes | None, actor: User | None,
                    request: HttpRequest | None, via: str) -> FaceEnrolment:
    enrolment = FaceEnrolment(
        student=student,
        embedding_ciphertext=encrypt_vector(vector),
        engine_name=engine.name,
        engine_version=engine.version,
        face_box=box.as_list() if hasattr(box, "as_list") else list(box),
        face_size_px=size_px,
        sharpness=sharpness,
        created_by=actor if actor is not None and getattr(actor, "pk", None) else None,
    )
    days = settings.FACE_ENROLMENT_PHOTO_RETENTION_DAYS
    if photo and days > 0:
        enrolment.photo.save(f"{uuid.uuid4().hex}.jpg", ContentFile(photo), save=False)
        enrolment.photo_delete_after = timezone.now() + timedelta(days=days)
        # If the transaction rolls back the file stays without a row; purge_biometric_leftovers removes it.
    enrolment.full_clean(exclude=["embedding_ciphertext"])
    enrolment.save()
    gallery_changed()
    record_audit_event(
        action="face.enrolled", actor=actor, target=f"student:{student.pk}", request=request,
        details={"enrolment_id": enrolment.pk, "engine": f"{engine.name}/{engine.version}", "via": via,
                 "photo_kept": bool(enrolment.photo)},
    )
    return enrolment


def check_enrolment_photo(*, student: Student, image_bytes: bytes, replace: bool = False) -> FaceFound:
    """Every enrolment check without saving anything (enroll_faces --dry-run)."""
    _require_consent(student)
    engine = get_engine()
    found = single_face(decode_or_400(image_bytes, min_side=ENROLMENT_DECODE_SIDE), engine)
    if not replace:
        _refuse_inconsistent(found.vector, student, engine)
    _refuse_duplicate(found.vector, student, engine)
    return found


@transaction.atomic
def enrol_face(
    *,
    student: Student,
    image_bytes: bytes,
    actor: User | None = None,
    request: HttpRequest | None = None,
    via: str = "api",
    replace: bool = False,
) -> FaceEnrolment:
    """Enrol one photo: consent, exactly one face, quality, the same person as the student's other
    enrolments, not already someone else; audited.

    `replace=True` is the deliberate way to change who a student's face is: the student's
    existing enrolments are deleted in the same transaction (audited `face.enrolments_replaced`).
    """
    _require_consent(student)
    engine = get_engine()
    image = decode_or_400(image_bytes, min_side=ENROLMENT_DECODE_SIDE)
    found = single_face(image, engine)
    del image  # the decoded photo is not needed past this point
    if replace:
        _replace_enrolments(student=student, actor=actor, request=request)
    else:
        _refuse_inconsistent(found.vector, student, engine)
    _refuse_duplicate(found.vector, student, engine)
    return _save_enrolment(
        student=student, vector=found.vector, engine=engine, box=found.box, size_px=found.size_px,
        sharpness=found.sharpness, photo=image_bytes, actor=actor, request=request, via=via,
    )


def _replace_enrolments(*, student: Student, actor: User | None, request: HttpRequest | None) -> None:
    old = list(FaceEnrolment.objects.filter(student=student).values_list("pk", "photo"))
    if not old:
        return
    FaceEnrolment.objects.filter(pk__in=[pk for pk, _ in old]).delete()
    _delete_files_after_commit([photo for _, photo in old])
    record_audit_event(action="face.enrolments_replaced", actor=actor, target=f"student:{student.pk}",
                       request=request, details={"enrolment_ids": [pk for pk, _ in old]})


def _delete_files_after_commit(names: Iterable[str | None]) -> None:
    files = [name for name in names if name]

    def delete() -> None:
        for name in files:
            try:
                default_storage.delete(name)
            except OSError:
                logger.warning("could not delete biometric file; purge will retry", extra={"file": name})

    transaction.on_commit(delete)


@transaction.atomic
def delete_enrolment(
    *, enrolment: FaceEnrolment, actor: User | None = None, request: HttpRequest | None = None
) -> dict[str, int]:
    """Deletes one enrolment; deleting a student's last one erases all their biometric data."""
    student = enrolment.student
    if not FaceEnrolment.objects.filter(student=student).exclude(pk=enrolment.pk).exists():
        return erase_biometrics(student=student, actor=actor, request=request)
    photo = enrolment.photo.name
    enrolment_id = enrolment.pk
    enrolment.delete()
    _delete_files_after_commit([photo])
    gallery_changed()
    record_audit_event(action="face.deleted", actor=actor, target=f"student:{student.pk}", request=request,
                       details={"enrolment_id": enrolment_id})
    return {"enrolments": 1, "photos": int(bool(photo)), "crops": 0, "frame_images": 0}


@transaction.atomic
def erase_biometrics(
    *, student: Student, actor: User | None = None, request: HttpRequest | None = None
) -> dict[str, int]:
    """Removes every embedding, enrolment photo, face crop and kept frame image of a student; audited."""
    enrolments = list(FaceEnrolment.objects.filter(student=student).values_list("pk", "photo"))
    unknowns = list(UnknownFace.objects.filter(assigned_student=student).values_list("pk", "crop"))
    # Crops of sightings recognised as the student (kept for review) and frames still holding pixels.
    sighting_crops = list(UnknownFace.objects.filter(sighting__student=student).values_list("pk", "crop"))
    frames = list(
        Frame.objects.filter(sightings__student=student).exclude(image="").distinct().values_list("pk", "image")
    )
    files = [photo for _, photo in enrolments] + [crop for _, crop in unknowns + sighting_crops]
    files += [image for _, image in frames]
    FaceEnrolment.objects.filter(student=student).delete()
    UnknownFace.objects.filter(pk__in=[pk for pk, _ in unknowns + sighting_crops]).delete()
    Frame.objects.filter(pk__in=[pk for pk, _ in frames]).update(image="")
    _delete_files_after_commit(files)
    gallery_changed()
    counts = {
        "enrolments": len(enrolments),
        "photos": sum(1 for _, photo in enrolments if photo),
        "crops": len({pk for pk, _ in unknowns + sighting_crops}),
        "frame_images": len(frames),
    }
    record_audit_event(action="face.biometrics_erased", actor=actor, target=f"student:{student.pk}",
                       request=request, details=counts)
    return counts


def erase_biometrics_on_withdrawal(
    *, student: Student, actor: User | None = None, request: HttpRequest | None = None, **_signal: object
) -> None:
    """Receiver of campus' face_consent_withdrawn: runs inside the withdrawal's transaction."""
    erase_biometrics(student=student, actor=actor, request=request)


# --- Unknown faces ------------------------------------------------------------


def group_unknown_face(*, unknown: UnknownFace, vector: Embedding) -> UnknownFaceGroup:
    """Puts an unknown face in the nearest recent group within UNKNOWN_FACE_GROUP_DISTANCE, or a new one."""
    since = unknown.seen_at - timedelta(hours=settings.UNKNOWN_FACE_RETENTION_HOURS)
    groups = list(
        UnknownFaceGroup.objects.filter(
            engine_name=unknown.engine_name, engine_version=unknown.engine_version, last_seen_at__gte=since
        ).order_by("-last_seen_at")[:500]
    )
    best, best_distance = None, float("inf")
    for group in groups:
        distance = float(np.linalg.norm(decrypt_vector(group.centroid_ciphertext) - vector))
        if distance < best_distance:
            best, best_distance = group, distance
    if best is None or best_distance > settings.UNKNOWN_FACE_GROUP_DISTANCE:
        best = UnknownFaceGroup.objects.create(
            centroid_ciphertext=encrypt_vector(vector), engine_name=unknown.engine_name,
            engine_version=unknown.engine_version, size=1, last_seen_at=unknown.seen_at,
        )
    else:
        centroid = decrypt_vector(best.centroid_ciphertext)
        best.centroid_ciphertext = encrypt_vector((centroid * best.size + vector) / (best.size + 1))
        best.size += 1
        best.last_seen_at = max(best.last_seen_at, unknown.seen_at)
        best.save(update_fields=["centroid_ciphertext", "size", "last_seen_at", "updated_at"])
    unknown.group = best
    unknown.save(update_fields=["group", "updated_at"])
    return best


@transaction.atomic
def assign_unknown_faces(
    *, faces: list[UnknownFace], student: Student, actor: User | None = None, request: HttpRequest | None = None
) -> FaceEnrolment:
    """Labels pending unknown faces as `student`: enrols their mean embedding (consent and 409 rules apply)."""
    _require_consent(student)
    faces = [face for face in faces if face.status == UnknownFaceStatus.PENDING]
    if not faces:
        raise Conflict("These faces are already assigned or dismissed.", code="already_resolved")
    engine = get_engine()
    usable = [f for f in faces if f.engine_name == engine.name and f.engine_version == engine.version]
    if not usable:
        raise Conflict("These faces were seen by another engine version; they cannot be enrolled.",
                       code="engine_mismatch")
    vector = np.mean([decrypt_vector(face.embedding_ciphertext) for face in usable], axis=0)
    _refuse_inconsistent(vector, student, engine)
    _refuse_duplicate(vector, student, engine)
    first = usable[0]
    enrolment = _save_enrolment(
        student=student, vector=vector, engine=engine, box=first.sighting.box, size_px=0, sharpness=0.0,
        photo=None, actor=actor, request=request, via="unknown_face",
    )
    now = timezone.now()
    UnknownFace.objects.filter(pk__in=[face.pk for face in faces]).update(
        status=UnknownFaceStatus.ASSIGNED, assigned_student=student, resolved_by=_user_or_none(actor),
        resolved_at=now,
    )
    return enrolment


@transaction.atomic
def dismiss_unknown_faces(
    *, faces: list[UnknownFace], actor: User | None = None, request: HttpRequest | None = None
) -> int:
    """Not a student (or not worth keeping): the crops and embeddings go at once."""
    ids = [face.pk for face in faces]
    crops = [face.crop.name for face in faces]
    deleted = UnknownFace.objects.filter(pk__in=ids).delete()[0]
    _delete_files_after_commit(crops)
    record_audit_event(action="face.unknown_dismissed", actor=actor, target=f"unknown_faces:{len(ids)}",
                       request=request, details={"ids": ids[:100]})
    return deleted


def _user_or_none(actor: User | None) -> User | None:
    return actor if actor is not None and getattr(actor, "pk", None) else None
