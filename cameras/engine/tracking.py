"""Remember recognised faces per camera so the next frames need not embed and match them again.

A face found at about the same place (IoU of the boxes) shortly after a
recognised face on the same camera is taken to be the same person. Two limits
keep that from becoming a wrong identity: the gap between sightings must be
short (`max_gap_seconds`), and a track is re-verified by a real embedding after
`reverify_seconds` however steadily it is seen. Only recognised faces are
remembered: an unknown face is tried again on every frame, it may turn.

The cache is per process; with frames of one camera spread over several workers
it saves less, never anything wrong. Key tracks by (camera, open session), not
by camera alone: at a change of class a new student may sit down where the last
one sat, and must not inherit the identity into the next session. Call
`forget()` when the gallery changes (an erased student must not live on in a track).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, replace

from .base import FaceBox


@dataclass(frozen=True)
class Track:
    student_id: int
    distance: float
    box: FaceBox
    verified_at: float  # time of the last real embedding and match
    last_seen_at: float


class FaceTracker:
    """In-memory tracks keyed by camera; `lookup` before embedding, `remember` after a match.

    Times are seconds (frame capture times as epoch floats), not wall-clock reads,
    so replayed video and out-of-order frames behave.
    """

    def __init__(
        self,
        *,
        min_iou: float = 0.5,
        max_gap_seconds: float = 3.0,
        reverify_seconds: float = 15.0,
        max_cameras: int = 1000,
    ):
        self.min_iou = min_iou
        self.max_gap_seconds = max_gap_seconds
        self.reverify_seconds = reverify_seconds
        self.max_cameras = max_cameras
        self.hits = 0
        self.misses = 0
        self._tracks: dict[Hashable, list[Track]] = {}
        self._lock = threading.Lock()

    def lookup(self, camera: Hashable, box: FaceBox, at: float) -> Track | None:
        """The live track this face continues, or None (then embed and match it)."""
        with self._lock:
            tracks = self._live(camera, at)
            best, best_iou = None, 0.0
            for index, track in enumerate(tracks):
                overlap = track.box.iou(box)
                if overlap > best_iou:
                    best, best_iou = index, overlap
            if best is None or best_iou < self.min_iou or at - tracks[best].verified_at > self.reverify_seconds:
                self.misses += 1
                return None
            track = replace(tracks[best], box=box, last_seen_at=max(at, tracks[best].last_seen_at))
            tracks[best] = track
            self.hits += 1
            return track

    def remember(self, camera: Hashable, box: FaceBox, at: float, *, student_id: int, distance: float) -> Track:
        """Start or refresh the track of a face that was just embedded and matched to `student_id`."""
        track = Track(student_id=student_id, distance=distance, box=box, verified_at=at, last_seen_at=at)
        with self._lock:
            tracks = self._live(camera, at)
            # One person, one track: the new sighting replaces an older one of the same
            # student and any track it overlaps (someone else cannot stand in the same place).
            tracks[:] = [t for t in tracks if t.student_id != student_id and t.box.iou(box) < self.min_iou]
            tracks.append(track)
            if len(self._tracks) > self.max_cameras:
                self._tracks.pop(next(iter(self._tracks)))
        return track

    def forget(self, camera: Hashable | None = None) -> None:
        """Drop the tracks of one camera, or of all (e.g. after the gallery changed)."""
        with self._lock:
            if camera is None:
                self._tracks.clear()
            else:
                self._tracks.pop(camera, None)

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def _live(self, camera: Hashable, at: float) -> list[Track]:
        # Re-inserting keeps the dict in least-recently-used order for the eviction in `remember`.
        tracks = self._tracks.pop(camera, [])
        self._tracks[camera] = tracks
        tracks[:] = [t for t in tracks if 0 <= at - t.last_seen_at <= self.max_gap_seconds]
        return tracks
