from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from config.fields import choice_check

from .choices import RevokeReason, Role, role_rank
from .roles import PERMISSIONS, apply_role


class CampusUserManager(UserManager):
    def get_by_natural_key(self, username: str) -> User:
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        """`createsuperuser`: a superuser holds the admin role and sits in its group, like any admin."""
        extra_fields["role"] = Role.ADMIN
        user = super().create_superuser(username, email, password, **extra_fields)
        apply_role(user=user, role=Role.ADMIN)
        return user


class User(AbstractUser):
    """A person who signs in: admin, staff, student or guest."""

    email = models.EmailField("email address", max_length=254)
    phone = models.CharField(max_length=32, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.GUEST, db_index=True)
    # language, time_zone, notifications: {"email": bool, ...}
    preferences = models.JSONField(default=dict, blank=True)

    objects = CampusUserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        permissions = list(PERMISSIONS.items())
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            choice_check("role", Role, name="accounts_user_role_valid"),
        ]

    def __str__(self) -> str:
        return self.username

    def has_role_at_least(self, role: str) -> bool:
        return self.is_active and role_rank(self.role) >= role_rank(role)

    def has_campus_perm(self, codename: str) -> bool:
        """One of the twenty named permissions, through the role's group."""
        return self.is_active and self.has_perm(f"accounts.{codename}")


class AuditEvent(models.Model):
    """Who did what, when and from where. Written by services, never edited."""

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events_done")
    # A username typed at a failed login has no user row; keep what was typed.
    actor_label = models.CharField(max_length=150, blank=True)
    target = models.CharField(max_length=200, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["actor", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_label or self.actor_id}"


class RefreshTokenClient(models.Model):
    """Where a refresh token was issued and which session (chain of rotations) it belongs to.

    simplejwt's OutstandingToken keeps the token; this row adds what the
    sessions list shows and what reuse detection and the absolute cap need.
    """

    token = models.OneToOneField(OutstandingToken, on_delete=models.CASCADE, primary_key=True, related_name="client")
    # Every token of one login shares the chain id; the chain started at login.
    chain = models.UUIDField(db_index=True)
    chain_started_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    revoked_reason = models.CharField(max_length=16, choices=RevokeReason.choices, blank=True)

    def __str__(self) -> str:
        return f"session {self.chain} token {self.token_id}"
