"""A throwaway room, open session, enrolled students and camera for the cameras benchmarks.

Everything is made inside a transaction the benchmark rolls back, so the database
named by DATABASE_URL is left as it was (use a database of your own all the same).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from django.utils import timezone


class Rollback(Exception):
    pass


def make_campus(faces_dir: Path, enrol: dict[str, str]):
    """Room, session open now, camera; students enrolled by photo (name -> photo file). Returns (camera, ids)."""
    from attendance.choices import SessionStatus
    from attendance.models import ClassSession
    from cameras import services
    from campus.models import Building, Course, Department, Enrolment, Room, Section, Student, Term

    tag = uuid.uuid4().hex[:8]
    now = timezone.now()
    today = timezone.localdate(now)
    building = Building.objects.create(code=f"B{tag}", name="Bench")
    room = Room.objects.create(building=building, code=f"R{tag}", name="Bench room", capacity=40)
    department = Department.objects.create(code=f"D{tag}", name="Bench")
    course = Course.objects.create(code=f"C{tag}", title="Bench", department=department)
    term = Term.objects.create(name=f"T{tag}", start_date=today - dt.timedelta(days=60),
                               end_date=today + dt.timedelta(days=60))
    section = Section.objects.create(course=course, term=term, code="A")
    ClassSession.objects.create(
        section=section, room=room, date=today, scheduled_start=now - dt.timedelta(minutes=10),
        scheduled_end=now + dt.timedelta(hours=3), status=SessionStatus.OPEN, opened_at=now,
    )
    ids: dict[str, int] = {}
    for name, photo in enrol.items():
        student = Student.objects.create(student_number=f"{name}-{tag}", first_name=name, last_name="Bench",
                                         face_consent_at=now)
        Enrolment.objects.create(section=section, student=student, enrolled_on=today - dt.timedelta(days=30))
        services.enrol_face(student=student, image_bytes=(faces_dir / photo).read_bytes(), via="bench")
        ids[name] = student.pk
    # Enrolments inside an uncommitted transaction do not move the gallery version: reload by hand.
    from cameras.recognition import forget_gallery

    forget_gallery()
    camera = services.create_camera(name=f"bench-{tag}", room=room, source_kind="push",
                                    sample_interval_seconds=1.0)
    return camera, ids
