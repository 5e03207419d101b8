"""Making and checking device credentials and registration tokens.

Both are `<prefix>.<secret>`: the prefix (stored in clear) finds the row, the
secret is checked against an HMAC-SHA256 keyed with DEVICE_CREDENTIAL_KEY.

A fast keyed hash is right here, unlike for passwords: the secret is 256 bits
from `secrets`, so there is nothing to guess and a slow hash (Argon2) would
only add ~50 ms of CPU to every heartbeat of every device. The key, kept out
of the database, means a database dump alone cannot even test a candidate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings

PREFIX_BYTES = 6  # 12 hex characters: unique-constrained, retried on collision
SECRET_BYTES = 32


@dataclass(frozen=True)
class IssuedSecret:
    prefix: str
    secret_hash: str
    plaintext: str  # shown once to whoever asked for it, never stored


def _key() -> bytes:
    return settings.DEVICE_CREDENTIAL_KEY.encode()


def hash_secret(secret: str) -> str:
    return hmac.new(_key(), secret.encode(), hashlib.sha256).hexdigest()


def issue() -> IssuedSecret:
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return IssuedSecret(prefix=prefix, secret_hash=hash_secret(secret), plaintext=f"{prefix}.{secret}")


def split(presented: str) -> tuple[str, str] | None:
    """(prefix, secret) from a presented value, or None when it has the wrong shape."""
    prefix, dot, secret = (presented or "").strip().partition(".")
    if not dot or len(prefix) != PREFIX_BYTES * 2 or not secret or len(secret) > 128:
        return None
    return prefix, secret


def matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
