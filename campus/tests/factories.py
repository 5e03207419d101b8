import datetime

import factory

from accounts.tests.factories import UserFactory
from campus import models
from campus.choices import ComplaintStatus, StudentStatus


class BuildingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Building

    code = factory.Sequence(lambda n: f"B{n}")
    name = factory.Sequence(lambda n: f"Building {n}")


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Room

    building = factory.SubFactory(BuildingFactory)
    code = factory.Sequence(lambda n: f"R{n:03d}")
    name = factory.Sequence(lambda n: f"Room {n}")
    capacity = 30


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Department

    code = factory.Sequence(lambda n: f"D{n}")
    name = factory.Sequence(lambda n: f"Department {n}")


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
    start_date = datetime.date(2026, 9, 1)
    end_date = datetime.date(2027, 1, 31)


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
    enrolled_on = datetime.date(2026, 9, 1)


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
    valid_from = datetime.date(2026, 9, 1)
    valid_until = datetime.date(2027, 1, 31)


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
