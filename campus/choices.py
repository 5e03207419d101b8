from django.db import models


class StudentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    GRADUATED = "graduated", "Graduated"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class ComplaintStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    REJECTED = "rejected", "Rejected"


# The only moves a complaint may make; resolved and rejected are final.
COMPLAINT_TRANSITIONS: dict[str, frozenset[str]] = {
    ComplaintStatus.OPEN: frozenset({ComplaintStatus.IN_PROGRESS, ComplaintStatus.REJECTED}),
    ComplaintStatus.IN_PROGRESS: frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED}),
    ComplaintStatus.RESOLVED: frozenset(),
    ComplaintStatus.REJECTED: frozenset(),
}

COMPLAINT_FINAL_STATUSES = frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED})


class ComplaintCategory(models.TextChoices):
    FACILITIES = "facilities", "Facilities"
    EQUIPMENT = "equipment", "Equipment and IT"
    ATTENDANCE = "attendance", "Attendance record"
    TEACHING = "teaching", "Teaching"
    SAFETY = "safety", "Safety"
    OTHER = "other", "Other"


class ComplaintPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"
