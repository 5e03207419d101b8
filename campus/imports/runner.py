"""CSV import of campus data: one generic importer, one small spec per kind.

`run_import(kind=..., source=...)` is the one way in for the management
commands, the admin upload form and the API. Every row is parsed and checked
first; then all good rows are written inside one transaction (each row in its
own savepoint, so business rules such as the timetable overlap check report
against the right line). Unless `skip_invalid` is set, any bad row rolls the
whole import back. Rows are matched to existing records by natural key, so a
re-import of the same file changes nothing and says so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from accounts.audit import record_audit_event
from config.exceptions import DomainError

from .base import CREATED, ImportSpec
from .cells import Lookups, RowInvalid
from .specs import IMPORT_SPECS


@dataclass
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    skip_invalid: bool = False
    dry_run: bool = False
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors or self.skip_invalid

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        counts = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.errors:
            counts += f", {len(self.errors)} invalid" + (" (skipped)" if self.skip_invalid else "")
        if self.dry_run:
            outcome = "dry run, nothing written"
        elif not self.written:
            outcome = "nothing written"
        elif not self.changed:
            outcome = "no changes"
        else:
            outcome = "written"
        return f"{self.kind}: {self.rows} rows; {counts}; {outcome}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [{"line": e.line, "reason": e.reason} for e in self.errors],
            "dry_run": self.dry_run,
            "written": self.written,
            "summary": self.summary(),
        }


# --- The importer ----------------------------------------------------------------


class _RollBack(Exception):
    pass


def _read_rows(source: str | Path | IO) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if isinstance(source, (str, Path)):
        text = Path(source).read_text(encoding="utf-8-sig")
    else:
        data = source.read()
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    rows = []
    for raw in reader:
        cleaned = {
            name.strip().lower(): (value or "").strip()
            for name, value in raw.items()
            if name is not None and not isinstance(value, list)
        }
        if any(cleaned.values()) or raw.get(None):
            extra = raw.get(None)
            if extra:
                cleaned["__extra__"] = ",".join(extra)
            rows.append((reader.line_num, cleaned))
    return header, rows


BATCH_SIZE = 500


def _problem(exc: Exception) -> str:
    if isinstance(exc, RowInvalid):
        return exc.reason
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
        return " ".join(exc.messages)
    return "conflicts with an existing record"


def _write_row(spec: ImportSpec, line: int, result: ImportResult, write: Callable[[], str]) -> None:
    """One row in its own savepoint, so a refused row leaves the others intact."""
    try:
        with transaction.atomic():
            outcome = write()
    except (RowInvalid, DomainError, ValidationError, IntegrityError) as exc:
        result.errors.append(RowError(line, _problem(exc)))
        return
    setattr(result, outcome, getattr(result, outcome) + 1)


def _write_batch(spec: ImportSpec, batch: list, result: ImportResult, *, actor) -> None:
    """A batch in one savepoint; if the database refuses it, row by row to find the culprits."""
    prepared: list[tuple[int, models.Model, str, set[str]]] = []
    for line, values, obj in batch:
        try:
            prepared.append((line, *spec.prepare(values, obj)))
        except ValidationError as exc:
            result.errors.append(RowError(line, _problem(exc)))
    try:
        with transaction.atomic():
            spec.write_batch([(instance, outcome, names) for _, instance, outcome, names in prepared])
    except IntegrityError:
        for line, instance, outcome, _ in prepared:
            if outcome == CREATED:
                instance.pk = None  # bulk_create may have set it before the rollback
            _write_row(spec, line, result, partial(_save, instance, outcome))
        return
    for _, _, outcome, _ in prepared:
        setattr(result, outcome, getattr(result, outcome) + 1)


def _save(instance: models.Model, outcome: str) -> str:
    instance.save()
    return outcome


def run_import(
    *,
    kind: str,
    source: str | Path | IO,
    skip_invalid: bool = False,
    dry_run: bool = False,
    actor=None,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> ImportResult:
    """Import one CSV of `kind`; nothing is written if any row is bad (unless skip_invalid) or on dry_run."""
    spec = IMPORT_SPECS[kind]
    result = ImportResult(kind=kind, skip_invalid=skip_invalid, dry_run=dry_run)
    try:
        header, rows = _read_rows(source)
    except (UnicodeDecodeError, csv.Error) as exc:
        result.errors.append(RowError(1, f"the file is not a readable UTF-8 CSV ({exc})"))
        result.skip_invalid = False
        return result
    result.rows = len(rows)
    if len(rows) > settings.CAMPUS_IMPORT_MAX_ROWS:
        result.errors.append(
            RowError(1, f"{len(rows)} rows; at most {settings.CAMPUS_IMPORT_MAX_ROWS} per import, split the file")
        )
        result.skip_invalid = False
        return result
    missing = [name for name in spec.required if name not in header]
    unknown = [name for name in header if name not in spec.required + spec.optional]
    if missing or unknown:
        reasons = []
        if missing:
            reasons.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            reasons.append(f"unknown column(s): {', '.join(unknown)}")
        result.errors.append(RowError(1, "; ".join(reasons)))
        result.skip_invalid = False  # a wrong header is never skippable
        return result

    track = progress or (lambda items, total: items)
    lookups = Lookups()

    # Phase 1: parse every row, without writing.
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple, int] = {}
    for line, row in track(rows, len(rows)):
        try:
            if "__extra__" in row:
                raise RowInvalid("more cells than columns")
            values = spec.parse(row, lookups)
            key = spec.key(values)
        except RowInvalid as exc:
            result.errors.append(RowError(line, exc.reason))
            continue
        if key in seen:
            result.errors.append(RowError(line, f"same record as line {seen[key]}"))
            continue
        seen[key] = line
        parsed.append((line, values))

    # Phase 2: write the good rows; roll everything back when that is the rule.
    existing = spec.existing(lookups)
    changed: list[tuple[int, dict[str, Any], models.Model | None]] = []
    for line, values in parsed:
        obj = existing.get(spec.key(values))
        if obj is not None and not spec.differs(obj, values):
            result.unchanged += 1  # nothing to write, not even a savepoint
        else:
            changed.append((line, values, obj))
    try:
        with transaction.atomic():
            rows_to_write = iter(track(changed, len(changed)))
            if spec.bulk:
                while batch := list(islice(rows_to_write, BATCH_SIZE)):
                    _write_batch(spec, batch, result, actor=actor)
            else:
                for line, values, obj in rows_to_write:
                    _write_row(spec, line, result, lambda v=values, o=obj: spec.apply(v, o, actor=actor))
            if dry_run or (result.errors and not skip_invalid):
                raise _RollBack
            record_audit_event(
                action=f"campus.import.{kind}",
                actor=actor,
                target=kind,
                details={
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "invalid": len(result.errors),
                },
            )
            result.written = True
    except _RollBack:
        result.written = False
    result.errors.sort(key=lambda error: error.line)
    return result
