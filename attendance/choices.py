"""Every status and kind of the attendance app, as one enumeration each."""

from django.db import models


class SessionStatus(models.TextChoices):
    """A class session's life: scheduled from the timetable, open while it runs, then closed or cancelled."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


# The only moves a session may make; `services.transition_session` refuses the rest.
SESSION_TRANSITIONS: dict[str, set[str]] = {
    SessionStatus.SCHEDULED: {SessionStatus.OPEN, SessionStatus.CLOSED, SessionStatus.CANCELLED},
    SessionStatus.OPEN: {SessionStatus.CLOSED, SessionStatus.CANCELLED},
    SessionStatus.CLOSED: set(),
    SessionStatus.CANCELLED: set(),
}


class RecordStatus(models.TextChoices):
    """One student's attendance in one session."""

    PRESENT = "present"
    LATE = "late"
    ABSENT = "absent"
    EXCUSED = "excused"
    # Not seen while the room's cameras were down: never counted as absent.
    UNVERIFIED = "unverified"


# Statuses a person may set by hand; `unverified` is only ever the system's verdict.
MANUAL_STATUSES = [RecordStatus.PRESENT, RecordStatus.LATE, RecordStatus.ABSENT, RecordStatus.EXCUSED]
# Counted as attended in every rate.
ATTENDED_STATUSES = [RecordStatus.PRESENT, RecordStatus.LATE]
# The denominator of a rate: excused and unverified are left out of it.
COUNTED_STATUSES = [RecordStatus.PRESENT, RecordStatus.LATE, RecordStatus.ABSENT]


class RecordSource(models.TextChoices):
    """Who or what wrote a record's status."""

    FACE = "face", "Face recognition"
    DEVICE = "device", "Edge device"
    MANUAL = "manual"
    IMPORT = "import"
    # Written by the system when a session closes (absent or unverified).
    SYSTEM = "system"


SIGHTING_SOURCES = [RecordSource.FACE, RecordSource.DEVICE, RecordSource.IMPORT]


class ExcuseStatus(models.TextChoices):
    """An excuse waits for staff to approve or refuse it."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class MarkOutcome(models.TextChoices):
    """What marking one student seen in one room did."""

    MARKED = "marked"
    UPDATED = "updated"
    NO_SESSION = "no_session", "No session"
    NOT_ENROLLED = "not_enrolled", "Not enrolled"
    UNCHANGED = "unchanged"
    HELD = "held", "Held for review"
