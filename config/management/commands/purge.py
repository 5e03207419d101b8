from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from config.retention import purge_all, registered_purgers


class Command(BaseCommand):
    help = "Deletes what every registered retention purger says has expired. --dry-run only counts."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument("--only", action="append", metavar="NAME", help="Run only this purger (repeatable).")

    def handle(self, *args, dry_run=False, only=None, **options):
        try:
            report = purge_all(now=timezone.now(), dry_run=dry_run, only=only)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not registered_purgers():
            self.stdout.write(self.style.WARNING("No purgers are registered."))
        verb = "would delete" if dry_run else "deleted"
        for name, count in sorted(report.counts.items()):
            self.stdout.write(f"{name:<28} {verb} {count}")
        for name, error in sorted(report.errors.items()):
            self.stderr.write(self.style.ERROR(f"{name:<28} FAILED: {error}"))
        summary = f"{'Dry run: ' if dry_run else ''}{report.total} {verb} by {len(report.counts)} purgers"
        if report.errors:
            raise CommandError(f"{summary}; {len(report.errors)} purger(s) failed.")
        self.stdout.write(self.style.SUCCESS(summary + "."))
