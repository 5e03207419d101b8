import datetime as dt

import pytest
from django.utils import timezone

from attendance import services
from attendance.choices import SessionStatus
from attendance.tests.factories import (
    ClassSessionFactory,
    EnrolmentFactory,
    RoomFactory,
    SectionFactory,
    StudentFactory,
    student_user,
)

# A Monday inside the campus factories' term.
DAY = dt.date(2026, 11, 16)


def at(hour: int, minute: int = 0, second: int = 0, day: dt.date = DAY) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute, second)))


@pytest.fixture
def coverage_providers():
    """Lets a test provide coverage providers without leaking them into other tests."""
    with services.coverage_providers.replaced({}) as point:
        yield point


@pytest.fixture(autouse=True)
def _no_foreign_coverage(coverage_providers):
    # The composition provides cameras' provider; attendance tests set their own.
    yield


@pytest.fixture
def teacher(make_user):
    return make_user(role="staff", username="teacher")


@pytest.fixture
def section(teacher):
    return SectionFactory(teachers=[teacher])


@pytest.fixture
def room(db):
    return RoomFactory()


@pytest.fixture
def students(section):
    return [EnrolmentFactory(section=section, enrolled_on=dt.date(2026, 9, 1)).student for _ in range(3)]


@pytest.fixture
def session(section, room, students):
    """Monday 09:00-10:00, open, three students enrolled."""
    return ClassSessionFactory(
        section=section,
        room=room,
        date=DAY,
        scheduled_start=at(9),
        scheduled_end=at(10),
        status=SessionStatus.OPEN,
        opened_at=at(8, 45),
    )


@pytest.fixture
def enrolled_student_user(students):
    return student_user(students[0], username="learner")


@pytest.fixture
def outsider(db):
    return StudentFactory()
