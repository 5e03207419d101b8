from campus.imports import IMPORT_SPECS

from ._import import ImportCommand


class Command(ImportCommand):
    help = (
        "Import any kind of campus CSV (buildings, rooms, departments, courses, terms, students, teachers, "
        "sections, enrolments, timetable). Same rules as import_students."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(IMPORT_SPECS))
        super().add_arguments(parser)

    def handle(self, *args, **options):
        self.run(options["kind"], options)
