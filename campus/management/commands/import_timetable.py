from ._import import ImportCommand


class Command(ImportCommand):
    kind = "timetable"
