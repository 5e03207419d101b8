"""File storage in the database: a Django `Storage` for the files web and workers must share.

Web and workers share no disk (README "Files"). With STORAGE_BACKEND=database (the
default) every file the apps keep through a FileField (frame bytes, unknown-face crops,
enrolment photos, device bundles) is rows of `StoredFile` and `StoredFileChunk`, so any
process that reaches the database reaches the file, pg_dump backs it up, and a file
written inside a transaction that rolls back leaves nothing behind. Code never names a
path: it uses the storage API, so STORAGE_BACKEND=s3 (django-storages) is the same code.
"""

from __future__ import annotations

import posixpath
import tempfile
from datetime import datetime

from django.core.files.base import File
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.deconstruct import deconstructible

from .models import StoredFile, StoredFileChunk

CHUNK_BYTES = 1024 * 1024
# A file read back is held in memory up to this size, then in a temporary file.
SPOOL_MAX_BYTES = 16 * 1024 * 1024
SAVE_ATTEMPTS = 5


def stored_names(folder: str = "", storage: Storage | None = None) -> list[str]:
    """Every file name under `folder` of a storage (the default one unless given), through its API."""
    storage = storage or default_storage
    try:
        directories, files = storage.listdir(folder)
    except FileNotFoundError:  # FileSystemStorage: the folder was never made
        return []
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    names = [prefix + name for name in files]
    for directory in directories:
        names.extend(stored_names(prefix + directory, storage))
    return sorted(names)


@deconstructible
class DatabaseStorage(Storage):
    """Files as rows: one `StoredFile` per name, its bytes in 1 MiB `StoredFileChunk`s."""

    def _open(self, name: str, mode: str = "rb") -> File:
        if any(flag in mode for flag in "wa+"):
            raise ValueError("DatabaseStorage opens files for reading only; write with save().")
        file_id = StoredFile.objects.filter(name=name).values_list("pk", flat=True).first()
        if file_id is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        # Returned open, as every Storage._open does; the caller's File closes it.
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115
        chunks = StoredFileChunk.objects.filter(file_id=file_id).order_by("index").values_list("data", flat=True)
        for data in chunks.iterator(chunk_size=4):
            spool.write(data)
        spool.seek(0)
        return File(spool, name=name)

    def _save(self, name: str, content) -> str:
        # Two writers can pick the same free name at once: the unique name decides, the loser takes another.
        for _attempt in range(SAVE_ATTEMPTS):
            try:
                with transaction.atomic():
                    self._write(name, content)
                return name
            except IntegrityError:
                name = self.get_alternative_name(*posixpath.splitext(name))
                if hasattr(content, "seek"):
                    content.seek(0)
        raise OSError(f"Could not find a free name for {name!r} after {SAVE_ATTEMPTS} attempts.")

    def _write(self, name: str, content) -> None:
        now = timezone.now()
        row = StoredFile.objects.create(name=name, created_at=now, modified_at=now)
        size, index, pending = 0, 0, bytearray()
        for piece in content.chunks(CHUNK_BYTES):
            pending += piece.encode() if isinstance(piece, str) else piece
            while len(pending) >= CHUNK_BYTES:
                StoredFileChunk.objects.create(file=row, index=index, data=bytes(pending[:CHUNK_BYTES]))
                size, index, pending = size + CHUNK_BYTES, index + 1, pending[CHUNK_BYTES:]
        if pending or index == 0:
            StoredFileChunk.objects.create(file=row, index=index, data=bytes(pending))
            size += len(pending)
        StoredFile.objects.filter(pk=row.pk).update(size=size)

    def delete(self, name: str) -> None:
        if name:
            StoredFile.objects.filter(name=name).delete()

    def exists(self, name: str) -> bool:
        return StoredFile.objects.filter(name=name).exists()

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        directories: set[str] = set()
        files: list[str] = []
        for name in StoredFile.objects.filter(name__startswith=prefix).values_list("name", flat=True):
            rest = name[len(prefix):]
            if "/" in rest:
                directories.add(rest.split("/", 1)[0])
            else:
                files.append(rest)
        return sorted(directories), sorted(files)

    def size(self, name: str) -> int:
        return self._row(name).size

    def get_created_time(self, name: str) -> datetime:
        return self._row(name).created_at

    def get_modified_time(self, name: str) -> datetime:
        return self._row(name).modified_at

    def get_accessed_time(self, name: str) -> datetime:
        return self._row(name).modified_at

    def url(self, name: str) -> str:
        raise NotImplementedError("Stored files have no public URL; views stream them (e.g. an unknown face's crop).")

    def _row(self, name: str) -> StoredFile:
        row = StoredFile.objects.filter(name=name).only("size", "created_at", "modified_at").first()
        if row is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        return row
