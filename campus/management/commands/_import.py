"""The shared shape of the import_* commands: one importer, one spec per kind."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campus.imports import IMPORT_SPECS, run_import


class ImportCommand(BaseCommand):
    kind = ""

    def create_parser(self, prog_name, subcommand, **kwargs):
        spec = IMPORT_SPECS.get(self.kind)
        if spec and not self.help:
            optional = f" Optional: {', '.join(spec.optional)}." if spec.optional else ""
            self.help = (
                f"Import {self.kind} from a UTF-8 CSV. Columns: {', '.join(spec.required)}.{optional} "
                "Every row is checked first; if any is bad nothing is written (unless --skip-invalid). "
                "Existing records are updated by natural key, so a re-import changes nothing."
            )
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row")
        parser.add_argument("--skip-invalid", action="store_true", help="write the good rows even if some are bad")
        parser.add_argument("--dry-run", action="store_true", help="check and report; write nothing")

    def handle(self, *args, **options):
        self.run(self.kind, options)

    def run(self, kind: str, options) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")

        def progress(items, total):
            return tqdm(items, total=total, desc=kind, unit="row", file=self.stderr, disable=None, leave=False)

        result = run_import(
            kind=kind,
            source=path,
            skip_invalid=options["skip_invalid"],
            dry_run=options["dry_run"],
            progress=progress,
        )
        for error in result.errors:
            self.stderr.write(f"{path}:{error.line}: {error.reason}")
        if not result.ok:
            raise CommandError(result.summary())
        style = self.style.WARNING if result.errors else self.style.SUCCESS
        self.stdout.write(style(result.summary()))
