import datetime

import factory

from accounts.tests.factories import UserFactory
from campus import models
from campus.choices import ComplaintStatus, StudentStatus

# The default term's first and last days: its enrolments start on the first, its slots run for all of it.
TERM_DAYS = (datetime.date(2026, 9, 1), datetime.date(2027, 1, 31))


def code_and_name_factory(model, *, code: str, name: str) -> type[factory.django.DjangoModelFactory]:
    """A factory for a catalogue entry that is only a numbered code and name (buildings, departments)."""
    return factory.make_factory(
        model,
        FACTORY_CLASS=factory.django.DjangoModelFactory,
        code=factory.Sequence(code.format),
        name=factory.Sequence(name.format),
    )


BuildingFactory = code_and_name_factory(models.Building, code="B{}", name="Building {}")


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Room

    building = factory.SubFactory(BuildingFactory)
    code = factory.Sequence(lambda n: f"R{n:03d}")
    name = factory.Sequence(lambda n: f"Room {n}")
    capacity = 30


DepartmentFactory = code_and_name_factory(models.Department, code="D{}", name="Department {}")


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Course

    code = factory.Sequence(lambda n: f"C{n:03d}")
    title = factory.Sequence(lambda n: f"Course {n}")
    department = factory.SubFactory(DepartmentFactory)


class TermFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Term

    name = factory.Sequence(lambda n: f"Term {n}")
    start_date, end_date = TERM_DAYS


class SectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Section
        skip_postgeneration_save = True

    course = factory.SubFactory(CourseFactory)
    term = factory.SubFactory(TermFactory)
    code = factory.Sequence(lambda n: f"S{n}")

    @factory.post_generation
    def teachers(self, create, extracted, **kwargs):
        if create and extracted:
            self.teachers.set(extracted)


class StudentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Student

    student_number = factory.Sequence(lambda n: f"S{n:06d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda o: f"{o.student_number.lower()}@students.campus.test")
    status = StudentStatus.ACTIVE


class EnrolmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Enrolment

    section = factory.SubFactory(SectionFactory)
    student = factory.SubFactory(StudentFactory)
    enrolled_on = TERM_DAYS[0]


class TeacherFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Teacher

    user = factory.SubFactory(UserFactory, role="staff")
    staff_number = factory.Sequence(lambda n: f"T{n:04d}")
    department = factory.SubFactory(DepartmentFactory)


class TimetableSlotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.TimetableSlot

    section = factory.SubFactory(SectionFactory)
    room = factory.SubFactory(RoomFactory)
    weekday = 0
    start_time = datetime.time(9, 0)
    end_time = datetime.time(10, 30)
    valid_from, valid_until = TERM_DAYS


class ComplaintFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Complaint

    author = factory.SubFactory(UserFactory, role="student")
    title = factory.Sequence(lambda n: f"Complaint {n}")
    description = "The projector in the room does not work."
    status = ComplaintStatus.OPEN


class ComplaintCommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ComplaintComment

    complaint = factory.SubFactory(ComplaintFactory)
    author = factory.SelfAttribute("complaint.author")
    body = "Any news?"
