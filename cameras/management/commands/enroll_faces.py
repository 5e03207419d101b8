"""Enrol face photos from a folder: one sub-folder per student number, any number of photos in each."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cameras import services
from campus.models import Student
from config.exceptions import DomainError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


class Command(BaseCommand):
    help = (
        "Enrol faces from DIR/<student number>/*.jpg|png with the same checks as the API (consent, exactly "
        "one face, quality, not already another student). Prints one line per file and a summary; exits "
        "non-zero if any file failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="Folder holding one sub-folder per student number.")
        parser.add_argument("--dry-run", action="store_true", help="Check every photo, enrol nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, directory: str, dry_run: bool, no_progress: bool, **options):
        root = Path(directory)
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder.")
        jobs = [
            (folder.name, photo)
            for folder in sorted(p for p in root.iterdir() if p.is_dir())
            for photo in sorted(folder.iterdir())
            if photo.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not jobs:
            raise CommandError(f"No photos found in {root}/<student number>/.")
        students = {s.student_number: s for s in Student.objects.filter(student_number__in={n for n, _ in jobs})}
        ok = failed = 0
        lines: list[str] = []
        for number, photo in tqdm(jobs, disable=no_progress, unit="photo"):
            label = f"{number}/{photo.name}"
            student = students.get(number)
            if student is None:
                failed += 1
                lines.append(f"FAIL {label}: no student with number {number}")
                continue
            try:
                if dry_run:
                    services.check_enrolment_photo(student=student, image_bytes=photo.read_bytes())
                else:
                    services.enrol_face(student=student, image_bytes=photo.read_bytes(), via="enroll_faces")
            except DomainError as exc:
                failed += 1
                reasons = exc.details.get("reasons") if isinstance(exc.details, dict) else None
                lines.append(f"FAIL {label}: {exc.message}" + (f" ({'; '.join(reasons)})" if reasons else ""))
                continue
            ok += 1
            lines.append(f"OK   {label}" + (" (dry run)" if dry_run else ""))
        for line in lines:
            self.stdout.write(line)
        verb = "would enrol" if dry_run else "enrolled"
        self.stdout.write(f"{verb} {ok} of {len(jobs)} photos; {failed} failed")
        if failed:
            raise CommandError(f"{failed} photo(s) could not be enrolled.")
