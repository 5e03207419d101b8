from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.backups import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Restores a backup (campus-<stamp>.pgdump or .sqlite3, with its media archive) into the configured "
        "database and MEDIA_ROOT, after checking its SHA-256 checksums. This replaces the current data: stop "
        "web, workers and beat first, and pass --yes-i-am-sure."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The database file of the backup set.")
        parser.add_argument("--yes-i-am-sure", action="store_true", help="Confirm that current data is replaced.")
        parser.add_argument("--no-media", action="store_true", help="Restore the database only.")

    def handle(self, *args, **options):
        if not options["yes_i_am_sure"]:
            raise CommandError(
                "Restoring replaces the current database and media. Stop web, workers and beat, "
                "then run again with --yes-i-am-sure."
            )
        try:
            result = restore_backup(options["file"], include_media=not options["no_media"])
        except BackupError as exc:
            raise CommandError(f"Restore failed: {exc}") from exc
        self.stdout.write(f"database restored from {result['database']}")
        if result["media"]:
            self.stdout.write(f"media restored into {result['media']}")
            if result.get("previous_media"):
                self.stdout.write(f"the media it replaced is kept in {result['previous_media']}")
        self.stdout.write(self.style.SUCCESS(
            "Restore done. Run `manage.py migrate` if the code is newer than the backup."
        ))
