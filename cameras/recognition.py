"""The campus gallery held in memory per worker, reloaded when enrolments change.

Every change to enrolments (or to a student's consent) writes a new random token
under one cache key. Each process compares the token with the one its matrix
was built from, one cache read per frame, and rebuilds on a difference. A token,
not a counter, so a cache that lost the key also forces a reload. A token that
could not be written (Redis unreachable at that moment) is covered by the age
limit: no process keeps a gallery longer than FACE_GALLERY_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import uuid

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from campus.choices import StudentStatus
from config.outages import CACHE_OR_BROKER_DOWN

from .biometrics import decrypt_vector
from .engine import FaceEngine, get_engine
from .engine.gallery import Gallery, Match
from .memory import ProcessMemory
from .models import FaceEnrolment

logger = logging.getLogger("cameras.recognition")

GALLERY_VERSION_KEY = "cameras:gallery:version"

_lock = threading.Lock()
# (engine name, engine version, gallery version token) -> gallery; expires after FACE_GALLERY_MAX_AGE_SECONDS.
_loaded: ProcessMemory[Gallery] = ProcessMemory("gallery", maxsize=2, ttl="FACE_GALLERY_MAX_AGE_SECONDS")


def gallery_version(*, tolerate_outage: bool = False) -> str:
    """The token every process compares with its loaded gallery; it moves on each gallery change.

    A cache outage raises, so a frame waits for Redis rather than being matched against a gallery
    that may still hold an erased face. Enrolment passes `tolerate_outage`: its duplicate check may
    use a gallery rebuilt from the database within FACE_GALLERY_MAX_AGE_SECONDS, and it commits.
    """
    try:
        token = cache.get(GALLERY_VERSION_KEY)
        if token is None:
            cache.add(GALLERY_VERSION_KEY, uuid.uuid4().hex, None)
            token = cache.get(GALLERY_VERSION_KEY) or "no-cache"
    except CACHE_OR_BROKER_DOWN:
        if not tolerate_outage:
            raise
        logger.warning("gallery version unavailable; using the age limit alone")
        return "cache-unavailable"
    return token


def gallery_changed() -> None:
    """Tell every worker to rebuild its gallery (after the current transaction commits)."""

    def publish() -> None:
        try:
            cache.set(GALLERY_VERSION_KEY, uuid.uuid4().hex, None)
        except CACHE_OR_BROKER_DOWN:
            # The change is committed; failing the request now would only hide that.
            logger.error("gallery change not published; processes reload within the age limit",
                         extra={"max_age_seconds": settings.FACE_GALLERY_MAX_AGE_SECONDS})

    transaction.on_commit(publish)


def load_gallery(engine: FaceEngine, version: str) -> Gallery:
    """Every usable enrolment of this engine and version: active students with consent."""
    rows = list(
        FaceEnrolment.objects.filter(
            engine_name=engine.name,
            engine_version=engine.version,
            student__status=StudentStatus.ACTIVE,
            student__face_consent_at__isnull=False,
        ).values_list("student_id", "embedding_ciphertext")
    )
    if not rows:
        return Gallery.empty(engine.dimension, version)
    ids = [student_id for student_id, _ in rows]
    vectors = np.vstack([decrypt_vector(token) for _, token in rows])
    logger.info("gallery loaded", extra={"enrolments": len(rows), "gallery_version": version})
    return Gallery(ids, vectors, version)


def current_gallery(engine: FaceEngine | None = None, *, tolerate_outage: bool = False) -> Gallery:
    """This process's gallery, rebuilt if the version token moved or it reached the age limit."""
    engine = engine or get_engine()
    version = gallery_version(tolerate_outage=tolerate_outage)
    key = (engine.name, engine.version, version)
    if (fresh := _loaded.get(key)) is not None:
        return fresh
    with _lock:  # one load at a time: a worker's threads wait for the first one's matrix
        if (fresh := _loaded.get(key)) is not None:
            return fresh
        return _loaded.set(key, load_gallery(engine, version))


def forget_gallery() -> None:
    _loaded.clear()


def match_face(
    gallery: Gallery, vector: np.ndarray, *, session_students: set[int] | None
) -> tuple[Match, bool]:
    """Match against the students of the open session first, then the whole campus.

    Returns (match, visitor): visitor is True when the face matched someone outside
    the session. The gallery's margin rule compares against every student either way,
    so a look-alike outside the session makes the face ambiguous, never a wrong match.
    """
    threshold, margin = settings.FACE_MATCH_THRESHOLD, settings.FACE_MATCH_MARGIN
    if session_students:
        match = gallery.match(vector, threshold=threshold, margin=margin, restrict_to=session_students)
        if match.matched:
            return match, False
    match = gallery.match(vector, threshold=threshold, margin=margin)
    visitor = match.matched and session_students is not None and match.student_id not in session_students
    return match, visitor
