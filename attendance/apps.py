from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    name = "attendance"
    verbose_name = "Attendance"

    def ready(self) -> None:
        from campus.signals import demo_campus_seeded

        from .demo import seed_demo_attendance

        demo_campus_seeded.connect(seed_demo_attendance, dispatch_uid="attendance.seed_demo_attendance")
