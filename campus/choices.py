from django.db import models


class StudentStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    GRADUATED = "graduated"


class Weekday(models.IntegerChoices):
    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


class ComplaintStatus(models.TextChoices):
    OPEN = "open"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"


# The only moves a complaint may make; resolved and rejected are final.
COMPLAINT_TRANSITIONS: dict[str, frozenset[str]] = {
    ComplaintStatus.OPEN: frozenset({ComplaintStatus.IN_PROGRESS, ComplaintStatus.REJECTED}),
    ComplaintStatus.IN_PROGRESS: frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED}),
    ComplaintStatus.RESOLVED: frozenset(),
    ComplaintStatus.REJECTED: frozenset(),
}

COMPLAINT_FINAL_STATUSES = frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED})


class ComplaintCategory(models.TextChoices):
    FACILITIES = "facilities"
    EQUIPMENT = "equipment", "Equipment and IT"
    ATTENDANCE = "attendance", "Attendance record"
    TEACHING = "teaching"
    SAFETY = "safety"
    OTHER = "other"


class ComplaintPriority(models.TextChoices):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"
