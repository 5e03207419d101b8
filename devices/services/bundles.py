"""Software bundles: stored with their SHA-256 and size as they stream in, deleted when unused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from accounts.audit import record_audit_event
from config.exceptions import Conflict, InvalidInput, PayloadTooLarge

from ..models import Bundle

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import User


class _HashingFile(File):  # type: ignore[type-arg]  # File is generic only in the stubs
    """Hashes and counts the bytes as storage reads them, so the upload is read once."""

    def __init__(self, file: UploadedFile[bytes], name: str | None = None) -> None:
        super().__init__(file, name)
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        for chunk in super().chunks(chunk_size):
            self.sha256.update(chunk)
            self.bytes_read += len(chunk)
            yield chunk


@transaction.atomic
def create_bundle(
    *,
    upload: UploadedFile[bytes],
    name: str,
    version: str,
    channel: str,
    notes: str = "",
    min_agent_version: str = "",
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> Bundle:
    """Stores an uploaded bundle, computing its SHA-256 and size while it streams to storage."""
    limit = settings.DEVICE_MAX_BUNDLE_BYTES
    if upload.size is not None and upload.size > limit:
        raise PayloadTooLarge(
            f"The bundle is {upload.size} bytes; the limit is {limit}.", details={"limit_bytes": limit}
        )
    if upload.size == 0:
        raise InvalidInput("The bundle file is empty.", details={"file": ["The file is empty."]})
    if Bundle.objects.filter(name=name, version=version).exists():
        raise Conflict(f"Bundle {name} {version} already exists.", code="bundle_exists")
    bundle = Bundle(
        name=name, version=version, channel=channel, notes=notes, min_agent_version=min_agent_version,
        size_bytes=0, sha256="0" * 64, uploaded_by=actor if actor is not None and actor.pk else None,
    )
    hashing = _HashingFile(upload, name=upload.name)
    bundle.file.save(f"{name}-{version}.bundle", hashing, save=False)
    bundle.size_bytes = hashing.bytes_read
    bundle.sha256 = hashing.sha256.hexdigest()
    try:
        bundle.full_clean()
        bundle.save()
    except Exception:
        bundle.file.delete(save=False)  # no orphan file when the row is refused
        raise
    record_audit_event(
        action="devices.bundle_uploaded",
        actor=actor,
        target=f"bundle:{bundle.pk}",
        request=request,
        details={"name": name, "version": version, "sha256": bundle.sha256, "size_bytes": bundle.size_bytes},
    )
    return bundle


@transaction.atomic
def delete_bundle(*, bundle: Bundle, actor: User | None = None, request: HttpRequest | None = None) -> None:
    if bundle.deployments.exists():
        raise Conflict("The bundle is used by deployments; it cannot be deleted.", code="bundle_in_use")
    pk = bundle.pk
    file_name = bundle.file.name
    bundle.delete()
    storage = bundle.file.storage
    if file_name:  # a bundle always has a file; the type allows none
        transaction.on_commit(lambda: storage.delete(file_name))
    record_audit_event(action="devices.bundle_deleted", actor=actor, target=f"bundle:{pk}", request=request)
