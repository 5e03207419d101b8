import json

from django.core.management.base import BaseCommand, CommandError

from config.doctor import FAIL, OK, SKIP, WARN, checks, run_checks


class Command(BaseCommand):
    help = (
        "Checks database, cache, broker, workers, beat, Celery settings, the schedule, disk space, face model "
        "files, every status source (cameras, devices) and the last backup; prints a report and exits non-zero "
        "when something fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--skip", action="append", default=[], metavar="CHECK",
                            help=f"Skip a check (repeatable): {', '.join(checks())}.")
        parser.add_argument("--only", action="append", default=[], metavar="CHECK",
                            help="Run only this check (repeatable); the compose health checks use it.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, skip, only, **options):
        known = checks()
        unknown = sorted((set(skip) | set(only)) - set(known))
        if unknown:
            raise CommandError(f"Unknown check(s): {', '.join(unknown)}. Known: {', '.join(known)}.")
        findings = run_checks(skip=set(skip), only=set(only))
        failed = [f.name for f in findings if f.status == FAIL]
        if options["json"]:
            self.stdout.write(json.dumps({"ok": not failed, "checks": [f.__dict__ for f in findings]}, indent=2))
        else:
            style = {OK: self.style.SUCCESS, WARN: self.style.WARNING, FAIL: self.style.ERROR, SKIP: str}
            for f in findings:
                self.stdout.write(f"{style[f.status](f'{f.status:<4}')}  {f.name:<14} {f.detail}")
        if failed:
            raise CommandError(f"{len(failed)} check(s) failed: {', '.join(failed)}.")
        if not options["json"]:
            self.stdout.write(self.style.SUCCESS("All checks passed."))
