"""Every status and kind of the cameras app, as one enumeration each."""

from django.db import models


class SourceKind(models.TextChoices):
    """Where a camera's frames come from."""

    RTSP = "rtsp", "RTSP stream"
    HTTP_SNAPSHOT = "http_snapshot", "HTTP snapshot URL"
    MJPEG = "mjpeg", "MJPEG over HTTP"
    FILE = "file", "Video file"
    PUSH = "push", "Pushed by an edge device"


# Sources the workers read themselves (everything but push).
PULL_KINDS = [SourceKind.RTSP, SourceKind.HTTP_SNAPSHOT, SourceKind.MJPEG, SourceKind.FILE]


class CameraStatus(models.TextChoices):
    """Whether frames are arriving: offline when a read fails or a pushing camera falls silent."""

    ONLINE = "online"
    OFFLINE = "offline"
    ERROR = "error"


class FrameState(models.TextChoices):
    """A stored frame's way through the pipeline."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


# The only moves a frame may make; `frames.transition` refuses the rest. A frame
# left in processing by a dead worker is claimed again (processing -> processing).
FRAME_TRANSITIONS: dict[str, set[str]] = {
    FrameState.PENDING: {FrameState.PROCESSING, FrameState.FAILED},
    FrameState.PROCESSING: {FrameState.PROCESSING, FrameState.DONE, FrameState.SKIPPED, FrameState.FAILED,
                            FrameState.PENDING},
    FrameState.DONE: set(),
    FrameState.SKIPPED: set(),
    FrameState.FAILED: set(),
}


class FrameSource(models.TextChoices):
    """How a frame reached the server."""

    PUSH = "push", "Pushed"
    PULL = "pull", "Pulled"
    REPLAY = "replay", "Replayed (ingest_video)"


class SightingOutcome(models.TextChoices):
    """What the pipeline did with one face in one frame."""

    MARKED = "marked", "Attendance marked"
    UPDATED = "updated", "Attendance updated"
    UNCHANGED = "unchanged", "Already marked"
    AWAITING_CONSENSUS = "awaiting_consensus", "Waiting for agreeing sightings"
    CONFLICT = "conflict", "Seen in two rooms: held for review"
    NOT_ENROLLED = "not_enrolled", "Recognised, not enrolled in the session (visitor)"
    NO_SESSION = "no_session", "Recognised, no open session"
    UNKNOWN = "unknown", "Not recognised"
    LOW_QUALITY = "low_quality", "Face too small or blurred to match"


class UnknownFaceStatus(models.TextChoices):
    """A face no one matched, until staff assign or dismiss it."""

    PENDING = "pending", "Waiting for review"
    ASSIGNED = "assigned", "Assigned to a student"
    DISMISSED = "dismissed"
