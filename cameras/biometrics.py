"""Encryption of biometric vectors (and stream passwords) at rest.

Fernet with `settings.FACE_ENCRYPTION_KEY`, which comes from the environment and
never from the database: a dump of the database shows only ciphertext. Several
keys may be given comma-separated (newest first) to rotate without downtime.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

VECTOR_DTYPE = np.float32


@lru_cache(maxsize=4)
def _fernet(key_setting: str) -> MultiFernet:
    keys = [part.strip() for part in key_setting.split(",") if part.strip()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def cipher() -> MultiFernet:
    return _fernet(settings.FACE_ENCRYPTION_KEY)


def encrypt_vector(vector: np.ndarray) -> bytes:
    """Float vector -> Fernet token (bytes)."""
    return cipher().encrypt(np.asarray(vector, dtype=VECTOR_DTYPE).tobytes())


def decrypt_vector(token: bytes | memoryview) -> np.ndarray:
    """Fernet token -> float32 vector. Raises `InvalidToken` with a wrong key."""
    return np.frombuffer(cipher().decrypt(bytes(token)), dtype=VECTOR_DTYPE).copy()


def encrypt_text(text: str) -> bytes:
    return cipher().encrypt(text.encode())


def decrypt_text(token: bytes | memoryview | None) -> str:
    if not token:
        return ""
    return cipher().decrypt(bytes(token)).decode()


__all__ = ["InvalidToken", "decrypt_text", "decrypt_vector", "encrypt_text", "encrypt_vector"]
