from django.core.management.base import BaseCommand

from config.scheduling import sync_schedule


class Command(BaseCommand):
    help = (
        "Creates the project's periodic tasks (config/schedule.py) in django-celery-beat's tables. "
        "Existing rows are kept as admins left them unless --reset is given; rows of retired jobs are deleted. "
        "Safe to run repeatedly."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Restore changed rows to the definitions in code.")

    def handle(self, *args, reset=False, **options):
        report = sync_schedule(reset=reset)
        for name in report.created:
            self.stdout.write(f"created  {name}")
        for name in report.reset:
            self.stdout.write(f"reset    {name}")
        for name in report.retired:
            self.stdout.write(f"removed  {name} (retired)")
        if options["verbosity"] > 1:
            for name in report.kept:
                self.stdout.write(f"kept     {name}")
        for name in report.unknown:
            self.stdout.write(self.style.WARNING(f"not in config/schedule.py (left alone): {name}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Schedule synced: {len(report.created)} created, {len(report.reset)} reset, "
                f"{len(report.kept)} unchanged."
            )
        )
