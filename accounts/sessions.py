"""JWT sessions: issue, rotate, end and list refresh tokens.

A session is a chain of refresh tokens: login issues the first, every refresh
blacklists the presented token and issues the next. Each token carries the
chain id (`sid`) and the chain's start (`orig_iat`), so the chain can be
revoked as a whole and cannot outlive `JWT_REFRESH_ABSOLUTE_DAYS`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, UntypedToken
from rest_framework_simplejwt.utils import datetime_from_epoch, datetime_to_epoch

from config.exceptions import DomainError, NotFound
from config.http import client_ip, user_agent
from config.outages import CACHE_OR_BROKER_DOWN

from .audit import record_audit_event
from .choices import AuditAction, RevokeReason
from .models import RefreshTokenClient, User

__all__ = ["RevokeReason"]

logger = logging.getLogger("campus.accounts")

CHAIN_CLAIM = "sid"
CHAIN_START_CLAIM = "orig_iat"


class TokenRefused(DomainError):
    """A refresh token that cannot be used: invalid, expired, revoked or reused."""

    status_code = 401
    code = "token_not_valid"


class ReusedToken(TokenError):
    """The presented refresh token was already blacklisted."""


class CampusRefreshToken(RefreshToken):
    """simplejwt's refresh token, telling a blacklisted token apart from a broken one."""

    def check_blacklist(self) -> None:
        if BlacklistedToken.objects.filter(token__jti=self.payload[api_settings.JTI_CLAIM]).exists():
            raise ReusedToken("Token is blacklisted")


@dataclass
class TokenPair:
    access: str
    refresh: str
    refresh_expires_at: datetime


def chain_deadline(started_at: datetime) -> datetime:
    return started_at + timedelta(days=settings.JWT_REFRESH_ABSOLUTE_DAYS)


def _issue(*, user: User, chain: uuid.UUID, started_at: datetime, request=None) -> TokenPair:
    """Signs a refresh token in `chain` (capped at the chain deadline) and records it."""
    token = CampusRefreshToken()
    token[api_settings.USER_ID_CLAIM] = str(getattr(user, api_settings.USER_ID_FIELD))
    token[CHAIN_CLAIM] = chain.hex
    token[CHAIN_START_CLAIM] = datetime_to_epoch(started_at)
    expires_at = min(token.current_time + token.lifetime, chain_deadline(started_at))
    token["exp"] = datetime_to_epoch(expires_at)
    outstanding = OutstandingToken.objects.create(
        user=user,
        jti=token[api_settings.JTI_CLAIM],
        token=str(token),
        created_at=token.current_time,
        expires_at=datetime_from_epoch(token["exp"]),
    )
    ip = client_ip(request) if request is not None else None
    RefreshTokenClient.objects.create(
        token=outstanding,
        chain=chain,
        chain_started_at=started_at,
        ip=ip if ip and ip != "unknown" else None,
        user_agent=user_agent(request) if request is not None else "",
    )
    return TokenPair(access=str(token.access_token), refresh=str(token), refresh_expires_at=outstanding.expires_at)


@transaction.atomic
def start_session(*, user: User, request=None) -> TokenPair:
    """A new chain for `user` (called after the password has been checked)."""
    now = timezone.now().replace(microsecond=0)
    return _issue(user=user, chain=uuid.uuid4(), started_at=now, request=request)


def _decode_refresh(raw: str) -> CampusRefreshToken:
    try:
        return CampusRefreshToken(raw)
    except ReusedToken:
        raise
    except TokenError as exc:
        raise TokenRefused(str(exc)) from exc


def rotate_refresh_token(*, raw: str, request=None) -> TokenPair:
    """Blacklists the presented refresh token and issues the next one of its chain.

    A token that was already blacklisted is reuse: a stolen copy or a replay.
    The whole chain is revoked, the reuse is audited, and 401 follows.
    """
    try:
        token = _decode_refresh(raw)
    except ReusedToken:
        _handle_reuse(raw=raw, request=request)
        raise TokenRefused("Token is blacklisted.", code="token_reused") from None
    jti = token[api_settings.JTI_CLAIM]
    with transaction.atomic():
        # The row lock makes two simultaneous refreshes with one token a reuse, not two sessions.
        locked = OutstandingToken.objects.select_for_update(of=("self",)).select_related("user")
        outstanding = locked.filter(jti=jti).first()
        if outstanding is None or outstanding.user is None:
            raise TokenRefused("Token is not known.")
        already = BlacklistedToken.objects.filter(token=outstanding).exists()
        if not already:
            user = outstanding.user
            if not user.is_active:
                raise TokenRefused("User is inactive.", code="user_inactive")
            try:
                chain = uuid.UUID(hex=token[CHAIN_CLAIM])
                started_at = datetime_from_epoch(int(token[CHAIN_START_CLAIM]))
            except (KeyError, TypeError, ValueError) as exc:
                raise TokenRefused("Token has no session claims.") from exc
            if timezone.now() >= chain_deadline(started_at):
                raise TokenRefused("The session reached its maximum age; log in again.", code="session_expired")
            BlacklistedToken.objects.create(token=outstanding)
            RefreshTokenClient.objects.filter(token=outstanding).update(revoked_reason=RevokeReason.ROTATED)
            return _issue(user=user, chain=chain, started_at=started_at, request=request)
    _handle_reuse(raw=raw, request=request)
    raise TokenRefused("Token is blacklisted.", code="token_reused")


def _handle_reuse(*, raw: str, request=None) -> None:
    token = CampusRefreshToken(raw, verify=False)  # signature already checked by the caller
    outstanding = (
        OutstandingToken.objects.select_related("user", "client").filter(jti=token.get(api_settings.JTI_CLAIM)).first()
    )
    client = getattr(outstanding, "client", None) if outstanding else None
    reason = client.revoked_reason if client else ""
    revoked = 0
    with transaction.atomic():
        if client is not None:
            # A rotated token coming back means two holders of one session: end it for both.
            revoked = revoke_chain(chain=client.chain, reason=RevokeReason.REUSE)
        record_audit_event(
            action=AuditAction.REFRESH_REUSED,
            actor=outstanding.user if outstanding else None,
            target=f"session:{client.chain}" if client else "",
            request=request,
            details={"revoked_because": reason, "tokens_revoked": revoked},
        )
    logger.warning(
        "refresh token reuse",
        extra={"user_id": outstanding.user_id if outstanding else None, "revoked_because": reason},
    )


# --- Revocation of access tokens -------------------------------------------------
# An access token carries its session's chain id (`sid`). The database (the
# blacklist) says whether a chain still has a usable refresh token; web processes
# share that answer in Redis: "revoked" is written when a chain ends (after
# commit), "live" is cached for SESSION_STATE_LIVE_SECONDS. One cache read a request.

SESSION_STATE_KEY = "accounts:session-state:{}"
LIVE, REVOKED = "live", "revoked"


def _revoked_ttl() -> int:
    # Long enough to outlive every access token the chain issued.
    return int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()) + 60


def _chain_is_live_in_database(chain_hex: str) -> bool:
    return OutstandingToken.objects.filter(client__chain=chain_hex, blacklistedtoken__isnull=True).exists()


def session_is_revoked(chain_hex: str) -> bool:
    """Whether the session `chain_hex` has ended; Redis first, the database when it has no answer."""
    key = SESSION_STATE_KEY.format(chain_hex)
    try:
        state = cache.get(key)
    except CACHE_OR_BROKER_DOWN:
        logger.warning("session state cache unavailable; asking the database", exc_info=True)
        return not _chain_is_live_in_database(chain_hex)
    if state is not None:
        return state == REVOKED
    live = _chain_is_live_in_database(chain_hex)
    try:
        if live:
            cache.set(key, LIVE, timeout=settings.SESSION_STATE_LIVE_SECONDS)
        else:
            cache.set(key, REVOKED, timeout=_revoked_ttl())
    except CACHE_OR_BROKER_DOWN:
        logger.warning("session state cache unavailable; not cached", exc_info=True)
    return not live


def _announce_revoked(chains: set[str]) -> None:
    """Marks `chains` revoked in Redis, so their access tokens get 401 from every process."""
    if not chains:
        return
    try:
        cache.set_many({SESSION_STATE_KEY.format(chain): REVOKED for chain in chains}, timeout=_revoked_ttl())
    except CACHE_OR_BROKER_DOWN:
        # The database already holds the revocation; a cached "live" lapses within
        # SESSION_STATE_LIVE_SECONDS, and a cache that cannot be read asks the database.
        logger.error("could not announce %d revoked session(s) to the cache", len(chains), exc_info=True)


def _blacklist(tokens, *, reason: str) -> int:
    """Blacklists every not yet blacklisted OutstandingToken in `tokens`; returns how many."""
    pending = list(tokens.filter(blacklistedtoken__isnull=True).values_list("id", flat=True))
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=token_id) for token_id in pending], ignore_conflicts=True
    )
    clients = RefreshTokenClient.objects.filter(token_id__in=pending)
    chains = {chain.hex for chain in clients.values_list("chain", flat=True).distinct()}
    clients.update(revoked_reason=reason)
    transaction.on_commit(lambda: _announce_revoked(chains))
    return len(pending)


@transaction.atomic
def revoke_chain(*, chain: uuid.UUID, reason: str) -> int:
    return _blacklist(OutstandingToken.objects.filter(client__chain=chain), reason=reason)


@transaction.atomic
def revoke_user_sessions(*, user: User, reason: str, keep_chain: uuid.UUID | None = None) -> int:
    """Ends every session of `user` (except `keep_chain`); returns the tokens blacklisted."""
    tokens = OutstandingToken.objects.filter(user=user)
    if keep_chain is not None:
        tokens = tokens.exclude(client__chain=keep_chain)
    return _blacklist(tokens, reason=reason)


def end_session(*, raw: str, request=None) -> User:
    """Logout: blacklists the presented refresh token and the rest of its chain."""
    try:
        token = _decode_refresh(raw)
    except ReusedToken:
        raise TokenRefused("Token is blacklisted.", code="token_reused") from None
    outstanding = (
        OutstandingToken.objects.select_related("user", "client").filter(jti=token[api_settings.JTI_CLAIM]).first()
    )
    if outstanding is None or outstanding.user is None:
        raise TokenRefused("Token is not known.")
    with transaction.atomic():
        client = getattr(outstanding, "client", None)
        if client is not None:
            revoke_chain(chain=client.chain, reason=RevokeReason.LOGOUT)
        else:
            _blacklist(OutstandingToken.objects.filter(pk=outstanding.pk), reason=RevokeReason.LOGOUT)
        record_audit_event(
            action=AuditAction.LOGOUT,
            actor=outstanding.user,
            target=f"session:{client.chain}" if client else "",
            request=request,
        )
    return outstanding.user


def verify_token(*, raw: str) -> str:
    """The type of a valid, unrevoked token ("access" or "refresh"); TokenRefused otherwise."""
    try:
        untyped = UntypedToken(raw)
        if untyped.get(api_settings.TOKEN_TYPE_CLAIM) == "refresh":
            CampusRefreshToken(raw)
            return "refresh"
        AccessToken(raw)
        return "access"
    except TokenError as exc:
        raise TokenRefused(str(exc)) from exc


def active_sessions(*, user: User):
    """The user's usable refresh tokens, one per session, newest first."""
    return (
        OutstandingToken.objects.filter(
            user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True, client__isnull=False
        )
        .select_related("client")
        .order_by("-created_at", "-id")
    )


def revoke_session(*, user: User, token_id: int, request=None) -> None:
    """Ends one of `user`'s sessions by the id shown in the sessions list."""
    outstanding = active_sessions(user=user).filter(pk=token_id).first()
    if outstanding is None:
        raise NotFound("No such active session.")
    with transaction.atomic():
        count = revoke_chain(chain=outstanding.client.chain, reason=RevokeReason.REVOKED)
        record_audit_event(
            action=AuditAction.SESSION_REVOKED,
            actor=user,
            target=f"session:{outstanding.client.chain}",
            request=request,
            details={"tokens_revoked": count},
        )


@transaction.atomic
def revoke_all_sessions(
    *, user: User, actor: User | None = None, request=None, reason: str = RevokeReason.REVOKED
) -> int:
    """Ends every session of `user`: "log out everywhere", or an admin's action."""
    count = revoke_user_sessions(user=user, reason=reason)
    record_audit_event(
        action=AuditAction.SESSIONS_REVOKED,
        actor=actor or user,
        target=f"user:{user.pk}",
        request=request,
        details={"tokens_revoked": count},
    )
    return count


def flush_expired_tokens() -> int:
    """Runs simplejwt's `flushexpiredtokens`; returns how many expired tokens it deleted."""
    expired = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).count()
    call_command("flushexpiredtokens")
    return expired
