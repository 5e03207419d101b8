from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.backups import BackupError, run_backup


class Command(BaseCommand):
    help = (
        "Backs up the database (pg_dump custom format, or SQLite's online backup) and the media, writes a "
        "SHA-256 checksum file, verifies the result, then applies retention (BACKUP_KEEP_DAILY/WEEKLY)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, help="Backup directory (default: BACKUP_DIR).")

    def handle(self, *args, **options):
        try:
            backup, removed = run_backup(directory=options["dir"], trigger="command")
        except BackupError as exc:
            raise CommandError(f"Backup failed: {exc}") from exc
        for path in backup.files:
            self.stdout.write(f"wrote    {path} ({path.stat().st_size} bytes)")
        for path in removed:
            self.stdout.write(f"removed  {path.name} (retention)")
        self.stdout.write(self.style.SUCCESS(
            f"Backup verified: {backup.database.name}, {backup.size_bytes} bytes in {len(backup.files)} files; "
            f"{len(removed)} old files removed."
        ))
