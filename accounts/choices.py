from django.db import models


class Role(models.TextChoices):
    """Four roles in a hierarchy: each holds every permission of the roles below it."""

    ADMIN = "admin", "Admin"
    STAFF = "staff", "Staff"
    STUDENT = "student", "Student"
    GUEST = "guest", "Guest"


# Lowest first: a role's permissions are its own plus those of every role before it.
ROLE_ORDER = [Role.GUEST, Role.STUDENT, Role.STAFF, Role.ADMIN]


def role_rank(role: str) -> int:
    return ROLE_ORDER.index(Role(role))
