"""Remember recognised faces per camera so the next frames need not embed and match them again.

A face found at about the same place (IoU of the boxes) shortly after a
recognised face on the same key is taken to be the same person. Tracking saves
work without hiding evidence:

- Only a *confirmed* track is served from memory (its identity was decided: a
  strong match, or enough agreeing sightings). A track still awaiting consensus
  is embedded and matched again on every frame it appears in, so each of those
  frames is real evidence, until it is confirmed or dropped.
- The gap between sightings must be short (`max_gap_seconds`), and a confirmed
  track is re-verified by a real embedding after `reverify_seconds` however
  steadily it is seen.
- Unknown faces are never remembered: they are tried again on every frame.

The memory is per process (a `cachetools.LRUCache` of keys, oldest key evicted
first); with frames of one camera spread over several workers it saves less,
never anything wrong. Key tracks by what an identity depends on: camera, open
session and gallery version. A new student sitting where the last class's
student sat must not inherit that identity, nor an erased student live on.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, replace

from cachetools import LRUCache

from .base import FaceBox


@dataclass(frozen=True)
class Track:
    student_id: int
    distance: float
    box: FaceBox
    verified_at: float  # time of the last real embedding and match
    last_seen_at: float
    confirmed: bool = False  # identity decided (strong match or consensus): may be served from memory


class FaceTracker:
    """In-memory tracks per key; `lookup` before embedding, `remember` after a match.

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
        self._tracks: LRUCache[Hashable, list[Track]] = LRUCache(maxsize=max_cameras)
        self._lock = threading.Lock()

    def lookup(self, key: Hashable, box: FaceBox, at: float) -> Track | None:
        """The confirmed live track this face continues, or None (then embed and match it)."""
        with self._lock:
            tracks = self._live(key, at)
            best, best_iou = None, 0.0
            for index, track in enumerate(tracks):
                overlap = track.box.iou(box)
                if overlap > best_iou:
                    best, best_iou = index, overlap
            if (
                best is None
                or best_iou < self.min_iou
                or not tracks[best].confirmed
                or at - tracks[best].verified_at > self.reverify_seconds
            ):
                self.misses += 1
                return None
            track = replace(tracks[best], box=box, last_seen_at=max(at, tracks[best].last_seen_at))
            tracks[best] = track
            self.hits += 1
            return track

    def remember(
        self, key: Hashable, box: FaceBox, at: float, *, student_id: int, distance: float, confirmed: bool = True
    ) -> Track:
        """Start or refresh the track of a face that was just embedded and matched to `student_id`.

        `confirmed=False` for a face whose identity still awaits consensus: its next
        frames are embedded again. Once confirmed, a track stays confirmed until it ends.
        """
        with self._lock:
            tracks = self._live(key, at)
            was_confirmed = any(
                t.confirmed and t.student_id == student_id and t.box.iou(box) >= self.min_iou for t in tracks
            )
            track = Track(student_id=student_id, distance=distance, box=box, verified_at=at, last_seen_at=at,
                          confirmed=confirmed or was_confirmed)
            # One person, one track: the new sighting replaces an older one of the same
            # student and any track it overlaps (someone else cannot stand in the same place).
            tracks[:] = [t for t in tracks if t.student_id != student_id and t.box.iou(box) < self.min_iou]
            tracks.append(track)
        return track

    def forget(self, key: Hashable | None = None) -> None:
        """Drop the tracks of one key, or of all (e.g. after the gallery changed)."""
        with self._lock:
            if key is None:
                self._tracks.clear()
            else:
                self._tracks.pop(key, None)

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def _live(self, key: Hashable, at: float) -> list[Track]:
        tracks = self._tracks.get(key)
        if tracks is None:
            tracks = self._tracks[key] = []
        tracks[:] = [t for t in tracks if 0 <= at - t.last_seen_at <= self.max_gap_seconds]
        return tracks
