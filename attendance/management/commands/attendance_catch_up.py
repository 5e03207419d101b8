"""Runs the two session beats once, now: plan and open due sessions, close finished ones."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from attendance import services


class Command(BaseCommand):
    help = (
        "Plans sessions from the timetable for today and missed days, opens due ones and closes finished ones "
        "(marking absentees once). The same work as the beat tasks; safe to run at any time."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        with transaction.atomic():
            opened = services.open_due_sessions()
            closed = services.close_finished_sessions()
            if dry_run:
                transaction.set_rollback(True)
        prefix = "dry run: would have " if dry_run else ""
        self.stdout.write(
            f"{prefix}planned {opened.planned} session(s) over {len(opened.days)} day(s), opened {opened.opened}, "
            f"closed {closed.closed} (absent {closed.absent}, unverified {closed.unverified})"
        )
