from django.db import models


class Role(models.TextChoices):
    """Four roles in a hierarchy: each holds every permission of the roles below it."""

    ADMIN = "admin"
    STAFF = "staff"
    STUDENT = "student"
    GUEST = "guest"


# Lowest first: a role's permissions are its own plus those of every role before it.
ROLE_ORDER = [Role.GUEST, Role.STUDENT, Role.STAFF, Role.ADMIN]


def role_rank(role: str) -> int:
    return ROLE_ORDER.index(Role(role))


class AuditAction(models.TextChoices):
    """Every action the accounts app writes to the audit log."""

    LOGIN_SUCCEEDED = "auth.login_succeeded", "Login succeeded"
    LOGIN_FAILED = "auth.login_failed", "Login failed"
    LOGOUT = "auth.logout"
    REFRESH_REUSED = "auth.refresh_reused", "Rotated refresh token reused"
    REGISTERED = "user.registered", "Self-registration"
    USER_CREATED = "user.created", "User created by an admin"
    USER_UPDATED = "user.updated", "Profile changed"
    ROLE_CHANGED = "user.role_changed", "Role changed"
    DEACTIVATED = "user.deactivated", "User deactivated"
    ACTIVATED = "user.activated", "User activated"
    PASSWORD_CHANGED = "password.changed", "Password changed by its owner"
    PASSWORD_SET = "password.set_by_admin", "Password set by an admin"
    PASSWORD_RESET_REQUESTED = "password.reset_requested", "Password reset requested"
    PASSWORD_RESET = "password.reset", "Password reset with an emailed link"
    SESSION_REVOKED = "session.revoked", "Session revoked"
    SESSIONS_REVOKED = "session.revoked_all", "All sessions revoked"


class RevokeReason(models.TextChoices):
    """Why a refresh token stopped being usable."""

    ROTATED = "rotated"
    LOGOUT = "logout", "Logged out"
    REVOKED = "revoked", "Revoked by the user"
    PASSWORD = "password", "Password changed or reset"
    ROLE = "role", "Role changed"
    DEACTIVATED = "deactivated", "User deactivated"
    ADMIN = "admin", "Ended by an admin"
    REUSE = "reuse", "Chain revoked after token reuse"
