"""Writes to accounts: users, roles and role groups, sign-in, passwords, audit."""

from __future__ import annotations

import logging
from smtplib import SMTPException
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import Group, Permission, update_last_login
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from config.exceptions import Conflict, DomainError, InvalidInput, NotAllowed
from config.http import client_ip
from config.ratelimits import Bucket, Outage, RateLimit

from .audit import record_audit_event
from .choices import ROLE_ORDER, AuditAction, RevokeReason, Role
from .models import User
from .roles import PERMISSIONS, apply_role, permissions_for_role
from .sessions import TokenPair, revoke_user_sessions, start_session

if TYPE_CHECKING:
    import uuid

    from django.http import HttpRequest

logger = logging.getLogger("campus.accounts")

# Sign-in, password reset and sign-up fail closed: a limit that lifted while Redis is
# down would let passwords be guessed (and accounts probed) without bound.
SIGN_IN_LIMIT = RateLimit(
    name="sign-in",
    on_outage=Outage.FAIL_CLOSED,
    message="Too many attempts; try again later.",
    unavailable_message="Sign-in protection is unavailable; try again shortly.",
)


@transaction.atomic
def sync_roles() -> dict[str, int]:
    """Creates or repairs one Group per role with exactly its permissions. Idempotent."""
    content_type = ContentType.objects.get_for_model(User)
    by_codename = {}
    for codename, name in PERMISSIONS.items():
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        by_codename[codename] = permission
    counts = {}
    for role in ROLE_ORDER:
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = [by_codename[c] for c in permissions_for_role(role)]
        group.permissions.set(wanted)
        counts[role.value] = len(wanted)
    return counts


def sync_roles_after_migrate(**kwargs: object) -> None:
    sync_roles()


@transaction.atomic
def create_user(*, username: str, email: str, password: str | None, role: str = Role.GUEST, **fields: Any) -> User:
    """Creates a user with a validated, hashed password (or none usable) and its role group."""
    user = User(username=username, email=email, **fields)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    apply_role(user=user, role=role)
    return user


# --- Sign-in, profile and passwords ------------------------------------------


class LoginFailed(DomainError):
    """One answer for a wrong password, an unknown user and an inactive user."""

    status_code = 401
    code = "invalid_credentials"


def _find_login_user(login: str) -> User | None:
    """Username first (case-insensitive), then email: a username may itself contain @."""
    user = User.objects.filter(username__iexact=login).first()
    if user is None and "@" in login:
        user = User.objects.filter(email__iexact=login).first()
    return user


def login_limits(request: HttpRequest, *, login: str, user: User | None) -> list[Bucket]:
    """The per-address and per-account buckets every sign-in door counts in (API and admin)."""
    # One bucket per account whether it is named by username or by email.
    account_key = f"user:{user.pk}" if user is not None else f"login:{login.strip().lower()}"
    return [
        Bucket("accounts.login.ip", client_ip(request), settings.ACCOUNTS_LOGIN_RATE_PER_IP),
        Bucket("accounts.login.username", account_key, settings.ACCOUNTS_LOGIN_RATE_PER_USERNAME),
    ]


def count_login_attempt(request: HttpRequest, *, login: str) -> None:
    """Counts a sign-in attempt in the shared buckets: RateLimited (429) or ServiceUnavailable (503)."""
    SIGN_IN_LIMIT.enforce(login_limits(request, login=login, user=_find_login_user(login.strip())), request=request)


def log_in(*, login: str, password: str, request: HttpRequest) -> tuple[User, TokenPair]:
    """Checks credentials (rate-limited per IP and per account) and starts a session.

    Wrong password, unknown user and inactive user give the same error.
    """

    login = login.strip()
    user = _find_login_user(login)
    SIGN_IN_LIMIT.enforce(login_limits(request, login=login, user=user), request=request)
    if user is None:
        # Hash anyway, so an unknown name takes as long as a wrong password.
        User().set_password(password)
        valid = False
    else:
        # check_password re-hashes an older hash with the first hasher (Argon2) on success.
        valid = user.check_password(password) and user.is_active
    if not valid or user is None:
        record_audit_event(
            action=AuditAction.LOGIN_FAILED,
            actor=user,
            actor_label=login[:150],
            request=request,
            details={"reason": "inactive" if user is not None and user.is_active is False else "credentials"},
        )
        raise LoginFailed("Unable to log in with the provided credentials.")
    with transaction.atomic():
        pair = start_session(user=user, request=request)
        update_last_login(User, user)
        record_audit_event(action=AuditAction.LOGIN_SUCCEEDED, actor=user, target=f"user:{user.pk}", request=request)
    return user, pair


def _check_password_rules(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise InvalidInput("The password does not meet the rules.", details={"password": exc.messages}) from exc


def _check_unique(*, username: str | None = None, email: str | None = None, exclude_pk: int | None = None) -> None:
    problems: dict[str, list[str]] = {}
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if username is not None and others.filter(username__iexact=username).exists():
        problems["username"] = ["A user with that username already exists."]
    if email is not None and others.filter(email__iexact=email).exists():
        problems["email"] = ["A user with that email already exists."]
    if problems:
        raise Conflict("The account conflicts with an existing one.", code="duplicate", details=problems)


def register_user(*, username: str, email: str, password: str, request: HttpRequest, **fields: Any) -> User:
    """Self-service sign-up: a guest account. Refused when ALLOW_SELF_REGISTRATION is off (production's default).

    Open registration answers 409 for a taken username or email: that is an account
    oracle, bounded by the per-address limit. Sites that mind keep it off.
    """
    if not settings.ALLOW_SELF_REGISTRATION:
        raise NotAllowed("Self-registration is switched off.", code="registration_closed")
    # Counted per address and failing closed: each answer below says whether a name is taken.
    SIGN_IN_LIMIT.enforce(
        [Bucket("accounts.register.ip", client_ip(request), settings.ACCOUNTS_REGISTER_RATE_PER_IP)], request=request
    )
    # The password first, so a probe with any password learns nothing about existing accounts.
    _check_password_rules(password, User(username=username, email=email, **fields))
    _check_unique(username=username, email=email)
    with transaction.atomic():
        user = create_user(username=username, email=email, password=password, role=Role.GUEST, **fields)
        record_audit_event(action=AuditAction.REGISTERED, actor=user, target=f"user:{user.pk}", request=request)
    return user


PROFILE_FIELDS = {"first_name", "last_name", "email", "phone", "preferences"}


@transaction.atomic
def update_profile(*, user: User, changes: dict[str, Any], request: HttpRequest | None = None) -> User:
    """The user's own profile and preferences; role and activation are not theirs to change."""
    refused = set(changes) - PROFILE_FIELDS
    if refused:
        raise InvalidInput(
            "These fields cannot be changed here.", details={name: ["Not editable."] for name in sorted(refused)}
        )
    _save_profile_changes(user=user, changes=changes, actor=user, request=request)
    return user


def _save_profile_changes(*, user: User, changes: dict[str, Any], actor: User, request: HttpRequest | None) -> None:
    """Saves the profile fields in `changes` (the email still unique, preferences merged into the
    stored ones), audited as user.updated; nothing at all when there are none."""
    if "email" in changes:
        _check_unique(email=changes["email"], exclude_pk=user.pk)
    if "preferences" in changes:
        changes = {**changes, "preferences": {**user.preferences, **changes["preferences"]}}
    if not changes:
        return
    for name, value in changes.items():
        setattr(user, name, value)
    user.full_clean(exclude=["password"])
    user.save(update_fields=list(changes))
    record_audit_event(
        action=AuditAction.USER_UPDATED,
        actor=actor,
        target=f"user:{user.pk}",
        request=request,
        details={"fields": sorted(changes)},
    )


def _replace_password(
    *,
    user: User,
    new_password: str,
    action: str,
    actor: User,
    request: HttpRequest | None = None,
    keep_chain: uuid.UUID | None = None,
) -> int:
    """Checks the rules, sets the password, ends the user's sessions (but `keep_chain`) and audits it."""

    _check_password_rules(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        revoked = revoke_user_sessions(user=user, reason=RevokeReason.PASSWORD, keep_chain=keep_chain)
        record_audit_event(
            action=action, actor=actor, target=f"user:{user.pk}", request=request, details={"tokens_revoked": revoked}
        )
    return revoked


def change_password(
    *,
    user: User,
    current_password: str,
    new_password: str,
    keep_chain: uuid.UUID | None = None,
    request: HttpRequest | None = None,
) -> int:
    """The owner's change: needs the current password; ends every other session. Returns sessions' tokens revoked."""
    if not user.check_password(current_password):
        raise InvalidInput(
            "The current password is wrong.",
            code="wrong_password",
            details={"current_password": ["The current password is wrong."]},
        )
    return _replace_password(
        user=user,
        new_password=new_password,
        action=AuditAction.PASSWORD_CHANGED,
        actor=user,
        request=request,
        keep_chain=keep_chain,
    )


def request_password_reset(*, email: str, request: HttpRequest) -> None:
    """Emails a one-time reset link if an active account has `email`. Says nothing either way."""
    email = email.strip()
    SIGN_IN_LIMIT.enforce(
        [
            Bucket("accounts.reset.ip", client_ip(request), settings.ACCOUNTS_RESET_RATE_PER_IP),
            Bucket("accounts.reset.email", email.lower(), settings.ACCOUNTS_RESET_RATE_PER_EMAIL),
        ],
        request=request,
    )
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    record_audit_event(
        action=AuditAction.PASSWORD_RESET_REQUESTED,
        actor=user,
        actor_label=email[:150],
        target=f"user:{user.pk}" if user else "",
        request=request,
        details={"account_found": user is not None},
    )
    if user is None:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    query = urlencode({"uid": uid, "token": token})
    link = f"{settings.FRONTEND_URL.rstrip('/')}{settings.ACCOUNTS_PASSWORD_RESET_PATH}?{query}"
    body = render_to_string(
        "accounts/password_reset_email.txt", {"user": user, "link": link, "uid": uid, "token": token}
    )
    try:
        send_mail("Reset your Campus password", body, None, [user.email])
    except (OSError, SMTPException) as exc:
        # The answer must not differ for existing accounts, so a mail failure is only logged.
        logger.error("password reset email failed", extra={"user_id": user.pk}, exc_info=exc)


def _user_from_uid(uid: str) -> User | None:
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    if not 0 < pk < 2**63:
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


def confirm_password_reset(*, uid: str, token: str, new_password: str, request: HttpRequest | None = None) -> User:
    """Sets a new password with an emailed link (one use: the token dies with the old hash); ends all sessions."""
    user = _user_from_uid(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise InvalidInput("The reset link is invalid or has expired.", code="invalid_reset_link")
    _replace_password(
        user=user, new_password=new_password, action=AuditAction.PASSWORD_RESET, actor=user, request=request
    )
    return user


# --- Administration of users --------------------------------------------------

ADMIN_EDITABLE = {"email", "first_name", "last_name", "phone", "preferences", "role", "is_active"}


def admin_create_user(*, actor: User, data: dict[str, Any], request: HttpRequest | None = None) -> User:
    """An admin creates an account; without a password the user sets one through reset."""
    password = data.pop("password", None)
    role = data.pop("role", Role.GUEST)
    _check_unique(username=data["username"], email=data["email"])
    if password is not None:
        _check_password_rules(password, User(**data))
    with transaction.atomic():
        user = create_user(password=password, role=role, **data)
        record_audit_event(
            action=AuditAction.USER_CREATED,
            actor=actor,
            target=f"user:{user.pk}",
            request=request,
            details={"role": user.role},
        )
    return user


@transaction.atomic
def admin_update_user(
    *, actor: User, user: User, changes: dict[str, Any], request: HttpRequest | None = None
) -> User:
    """Edits a user. A role change or deactivation ends the user's sessions, audited."""

    refused = set(changes) - ADMIN_EDITABLE
    if refused:
        raise InvalidInput(
            "These fields cannot be changed.", details={name: ["Not editable."] for name in sorted(refused)}
        )
    role = changes.pop("role", None)
    is_active = changes.pop("is_active", None)
    if user.pk == actor.pk and ((role is not None and role != user.role) or is_active is False):
        raise NotAllowed("You cannot change your own role or deactivate yourself.", code="self_lockout")
    _save_profile_changes(user=user, changes=changes, actor=actor, request=request)
    if role is not None and role != user.role:
        previous = user.role
        apply_role(user=user, role=role)
        revoked = revoke_user_sessions(user=user, reason=RevokeReason.ROLE)
        record_audit_event(
            action=AuditAction.ROLE_CHANGED,
            actor=actor,
            target=f"user:{user.pk}",
            request=request,
            details={"from": previous, "to": user.role, "tokens_revoked": revoked},
        )
    if is_active is not None and is_active != user.is_active:
        set_user_active(actor=actor, user=user, active=is_active, request=request)
    return user


@transaction.atomic
def set_user_active(*, actor: User | None, user: User, active: bool, request: HttpRequest | None = None) -> User:
    """Activates or deactivates `user`; deactivation ends every session at once."""

    if user.is_active == active:
        return user
    user.is_active = active
    user.save(update_fields=["is_active"])
    revoked = 0 if active else revoke_user_sessions(user=user, reason=RevokeReason.DEACTIVATED)
    record_audit_event(
        action=AuditAction.ACTIVATED if active else AuditAction.DEACTIVATED,
        actor=actor,
        target=f"user:{user.pk}",
        request=request,
        details={"tokens_revoked": revoked},
    )
    return user


def admin_set_password(*, actor: User, user: User, new_password: str, request: HttpRequest | None = None) -> User:
    """An admin sets a user's password; every session of that user ends."""
    _replace_password(
        user=user, new_password=new_password, action=AuditAction.PASSWORD_SET, actor=actor, request=request
    )
    return user
