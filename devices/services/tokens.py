"""Registration tokens: issued by staff, used (up) by devices registering themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.audit import record_audit_event, save_audited
from config.exceptions import InvalidInput, NotAllowed

from .. import keys
from ..models import DeviceGroup, RegistrationToken

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import User


@transaction.atomic
def create_registration_token(
    *,
    actor: User | None = None,
    label: str = "",
    expires_at: datetime | None = None,
    max_uses: int = 1,
    room: Any = None,  # a campus Room (or None): devices may not import campus, even for types
    group: DeviceGroup | None = None,
    request: HttpRequest | None = None,
) -> tuple[RegistrationToken, str]:
    """Makes a token; returns it with the plaintext, which is never shown again."""
    now = timezone.now()
    expires_at = expires_at or now + timedelta(days=1)
    if expires_at <= now:
        raise InvalidInput("The expiry must be in the future.", details={"expires_at": ["Must be in the future."]})
    issued = keys.issue()
    token = RegistrationToken(
        label=label,
        prefix=issued.prefix,
        secret_hash=issued.secret_hash,
        expires_at=expires_at,
        max_uses=max_uses,
        room=room,
        group=group,
        created_by=actor if actor is not None and actor.pk else None,
    )
    save_audited(
        token, action="devices.token_created", kind="registration_token", actor=actor, request=request,
        details={"prefix": token.prefix, "max_uses": max_uses, "expires_at": expires_at.isoformat()},
    )
    return token, issued.plaintext


@transaction.atomic
def revoke_registration_token(
    *, token: RegistrationToken, actor: User | None = None, request: HttpRequest | None = None
) -> RegistrationToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        record_audit_event(
            action="devices.token_revoked", actor=actor, target=f"registration_token:{token.pk}", request=request
        )
    return token


def usable_token(plaintext: str, *, now: datetime) -> RegistrationToken:
    """The usable token for `plaintext` (not locked: see `claim_use`), or NotAllowed saying why not."""
    parts = keys.split(plaintext)
    token = None
    if parts is not None:
        token = RegistrationToken.objects.filter(prefix=parts[0]).first()
    if token is None or parts is None or not keys.matches(parts[1], token.secret_hash):
        raise NotAllowed("The registration token is not valid.", code="registration_token_invalid")
    if token.revoked_at is not None:
        raise NotAllowed("The registration token has been revoked.", code="registration_token_revoked")
    if token.expires_at <= now:
        raise NotAllowed("The registration token has expired.", code="registration_token_expired")
    if token.uses >= token.max_uses:
        raise NotAllowed("The registration token has been used up.", code="registration_token_used_up")
    return token


def claim_use(token: RegistrationToken, *, now: datetime) -> None:
    """Spends one use with a conditional UPDATE, or refuses if another registration took the last.

    Called as the last statement of the registration's transaction: the row lock
    it takes is held only until the commit, so registrations with one token do
    not queue behind each other's whole transaction.
    """
    claimed = RegistrationToken.objects.filter(
        pk=token.pk, revoked_at__isnull=True, expires_at__gt=now, uses__lt=F("max_uses")
    ).update(uses=F("uses") + 1, updated_at=now)
    if not claimed:
        raise NotAllowed("The registration token has been used up.", code="registration_token_used_up")


def expire_registration_tokens(*, now: datetime | None = None, keep_days: int = 7) -> int:
    """Deletes tokens that expired (or were used up) more than `keep_days` ago."""
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    stale = RegistrationToken.objects.filter(
        Q(expires_at__lt=cutoff) | Q(uses__gte=F("max_uses"), updated_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
    )
    return stale.delete()[0]
