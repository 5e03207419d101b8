"""A small, believable campus for the README's run command and for benchmarks.

Idempotent: every record is found by its natural key before it is made, and
students and enrolments are bulk-inserted with ignore_conflicts, so a second
run adds nothing. Demo users get a random password printed once, when made.
"""

from __future__ import annotations

import datetime
import random
import secrets
from itertools import cycle

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from accounts.choices import Role
from accounts.models import User
from accounts.services import create_user
from campus import services
from campus.choices import ComplaintCategory, ComplaintPriority, StudentStatus
from campus.models import (
    Building,
    Complaint,
    Course,
    Department,
    Enrolment,
    Room,
    Section,
    Student,
    Teacher,
    Term,
    TimetableSlot,
)
from campus.signals import demo_campus_seeded

BUILDINGS = [
    ("MAIN", "Main Building", [("MAIN-101", "Lecture Room 101", 60), ("MAIN-102", "Lecture Room 102", 60),
                              ("MAIN-201", "Seminar Room 201", 30), ("MAIN-AUD", "Auditorium", 250)]),
    ("SCI", "Science Centre", [("SCI-LAB1", "Physics Lab", 24), ("SCI-LAB2", "Computing Lab", 32),
                               ("SCI-110", "Lecture Room 110", 80)]),
    ("LIB", "Library and Learning Hub", [("LIB-G1", "Group Study 1", 12), ("LIB-SEM", "Seminar Room", 40)]),
]  # fmt: skip

DEPARTMENTS = {
    "CS": ("Computer Science", [("CS101", "Introduction to Programming"), ("CS201", "Data Structures"),
                                ("CS305", "Databases")]),
    "MATH": ("Mathematics", [("MATH101", "Calculus I"), ("MATH201", "Linear Algebra"), ("MATH210", "Statistics")]),
    "PHYS": ("Physics", [("PHYS101", "Mechanics"), ("PHYS202", "Electromagnetism")]),
    "ENG": ("English", [("ENG110", "Academic Writing"), ("ENG220", "World Literature")]),
    "BUS": ("Business", [("BUS101", "Principles of Management"), ("BUS230", "Accounting")]),
}  # fmt: skip

FIRST_NAMES = [
    "Amina",
    "Ben",
    "Chloe",
    "Dmitri",
    "Elif",
    "Farah",
    "Gabriel",
    "Hana",
    "Ivan",
    "Jade",
    "Kwame",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Samir",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carmen",
    "Dario",
    "Esther",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
]
LAST_NAMES = [
    "Adeyemi",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Laurent",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Wagner",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Novak",
    "Silva",
    "Horvat",
    "Murphy",
]

# Four teaching periods a day; two meetings a week per section.
PERIODS = [((9, 0), (10, 30)), ((10, 45), (12, 15)), ((13, 15), (14, 45)), ((15, 0), (16, 30))]
MEETINGS_PER_SECTION = 2
SECTIONS_PER_STUDENT = 4
TEACHERS = 10
DEMO_USERS = [
    ("demo.admin", Role.ADMIN, "Ada", "Admin"),
    ("demo.staff", Role.STAFF, "Sam", "Staff"),
    ("demo.student", Role.STUDENT, "Stella", "Student"),
    ("demo.guest", Role.GUEST, "Gus", "Guest"),
]


def current_term_bounds(today: datetime.date) -> tuple[str, datetime.date, datetime.date]:
    if today.month >= 9:
        return f"Autumn {today.year}", datetime.date(today.year, 9, 1), datetime.date(today.year + 1, 1, 31)
    if today.month == 1:
        return f"Autumn {today.year - 1}", datetime.date(today.year - 1, 9, 1), datetime.date(today.year, 1, 31)
    if today.month <= 6:
        return f"Spring {today.year}", datetime.date(today.year, 2, 1), datetime.date(today.year, 6, 30)
    return f"Summer {today.year}", datetime.date(today.year, 7, 1), datetime.date(today.year, 8, 31)


def demo_password() -> str:
    # Mixed classes so it passes the composition validator.
    return f"{secrets.token_urlsafe(12)}-Aa7"


class Command(BaseCommand):
    help = (
        "Create a demo campus: buildings, rooms, departments, courses, the current term, sections, teachers, "
        "students with enrolments, this week's timetable, a few complaints and one demo user per role "
        "(passwords printed once). Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--students", type=int, default=200, help="number of students (default 200)")
        parser.add_argument("--seed", type=int, default=2026, help="random seed for names and enrolments")
        parser.add_argument(
            "--history-days", type=int, default=28,
            help="days of closed classes with attendance before today (default 28; 0: only today)",
        )

    def handle(self, *args, students: int, seed: int, history_days: int = 28, **options):
        if not 1 <= students <= 100_000:
            raise CommandError("--students must be between 1 and 100000.")
        if not 0 <= history_days <= 120:
            raise CommandError("--history-days must be between 0 and 120.")
        self.seed = seed
        self.today = timezone.localdate()
        with transaction.atomic():
            passwords = self.demo_users()
            rooms = self.places()
            courses = self.catalogue()
            term = self.term()
            teachers = self.teachers()
            sections = self.sections(courses, term, teachers)
            slots = self.timetable(sections, rooms, term)
            created_students, created_enrolments = self.students(students, sections, term)
            self.complaints(rooms)
        # Apps above campus (attendance) add four weeks of history and a demo day around now.
        teacher = User.objects.filter(username__iexact="demo.staff").first()
        reports = demo_campus_seeded.send(sender=self.__class__, teacher=teacher, seed=seed,
                                          history_days=history_days)
        for username, password in passwords:
            self.stdout.write(f"  {username:14} password: {password}")
        if passwords:
            self.stdout.write(self.style.WARNING("Passwords are shown only this once."))
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_demo: {Building.objects.count()} buildings, {Room.objects.count()} rooms, "
                f"{Course.objects.count()} courses, {Section.objects.filter(term=term).count()} sections in "
                f"{term.name}, {slots} new timetable slots, {created_students} new students "
                f"({Student.objects.count()} in all), {created_enrolments} new enrolments."
            )
        )
        for _receiver, report in reports:
            self.stdout.write(self.style.SUCCESS(f"seed_demo: {report}"))

    def rng_for(self, key: str) -> random.Random:
        return random.Random(f"{self.seed}:{key}")

    # --- steps -------------------------------------------------------------------

    def demo_users(self) -> list[tuple[str, str]]:
        shown = []
        for username, role, first, last in DEMO_USERS:
            if User.objects.filter(username__iexact=username).exists():
                self.stdout.write(f"  {username:14} exists; password unchanged")
                continue
            password = demo_password()
            create_user(
                username=username,
                email=f"{username}@campus.example",
                password=password,
                role=role,
                first_name=first,
                last_name=last,
            )
            shown.append((username, password))
        return shown

    def places(self) -> list[Room]:
        rooms = []
        for code, name, room_specs in BUILDINGS:
            building, _ = Building.objects.get_or_create(code=code, defaults={"name": name})
            for room_code, room_name, capacity in room_specs:
                room, _ = Room.objects.get_or_create(
                    code=room_code, defaults={"building": building, "name": room_name, "capacity": capacity}
                )
                rooms.append(room)
        return rooms

    def catalogue(self) -> list[Course]:
        courses = []
        for code, (name, course_specs) in DEPARTMENTS.items():
            department, _ = Department.objects.get_or_create(code=code, defaults={"name": name})
            for course_code, title in course_specs:
                course, _ = Course.objects.get_or_create(
                    code=course_code, defaults={"title": title, "department": department}
                )
                courses.append(course)
        return courses

    def term(self) -> Term:
        name, start, end = current_term_bounds(self.today)
        # The demo shows four weeks of history, so its term has begun at least five weeks ago.
        start = min(start, self.today - datetime.timedelta(days=35))
        term, _ = Term.objects.get_or_create(name=name, defaults={"start_date": start, "end_date": end})
        return term

    def teachers(self) -> list[User]:
        departments = list(Department.objects.order_by("code"))
        users = []
        staff = User.objects.get(username__iexact="demo.staff")
        people = [(staff, "T-000")] + [(None, f"T-{n:03d}") for n in range(1, TEACHERS + 1)]
        for index, (user, staff_number) in enumerate(people):
            teacher = Teacher.objects.select_related("user").filter(staff_number=staff_number).first()
            if teacher is None:
                if user is None:
                    first, last = FIRST_NAMES[index % len(FIRST_NAMES)], LAST_NAMES[-index % len(LAST_NAMES)]
                    username = f"teacher{index:02d}"
                    user = User.objects.filter(username__iexact=username).first() or create_user(
                        username=username,
                        email=f"{username}@campus.example",
                        password=None,
                        role=Role.STAFF,
                        first_name=first,
                        last_name=last,
                    )
                teacher = Teacher.objects.create(
                    user=user, staff_number=staff_number, department=departments[index % len(departments)]
                )
            users.append(teacher.user)
        return users

    def sections(self, courses: list[Course], term: Term, teachers: list[User]) -> list[Section]:
        sections = []
        teacher_cycle = cycle(teachers)
        for index, course in enumerate(courses):
            for code in ("A", "B") if index % 3 == 0 else ("A",):
                section, created = Section.objects.get_or_create(course=course, term=term, code=code)
                if created:
                    section.teachers.set([next(teacher_cycle)])
                sections.append(section)
        return sections

    def timetable(self, sections: list[Section], rooms: list[Room], term: Term) -> int:
        """Two meetings a week per section, for the whole term (its past weeks are the demo's history)."""
        monday = term.start_date
        taken_rooms = set(
            TimetableSlot.objects.filter(section__term=term).values_list("room_id", "weekday", "start_time")
        )
        busy_teachers: set[tuple[int, int, datetime.time]] = set()
        for slot in TimetableSlot.objects.filter(section__term=term).prefetch_related("section__teachers"):
            busy_teachers |= {(t.pk, slot.weekday, slot.start_time) for t in slot.section.teachers.all()}
        has_slots = set(TimetableSlot.objects.filter(section__term=term).values_list("section_id", flat=True))
        grid = [(day, period) for period in range(len(PERIODS)) for day in range(5)]
        made = 0
        for offset, section in enumerate(sections):
            if section.pk in has_slots:
                continue
            teacher_ids = list(section.teachers.values_list("pk", flat=True))
            days_used: set[int] = set()
            for day, period in grid[offset % len(grid) :] + grid[: offset % len(grid)]:
                if len(days_used) == MEETINGS_PER_SECTION:
                    break
                start, end = (datetime.time(*PERIODS[period][0]), datetime.time(*PERIODS[period][1]))
                if day in days_used or any((t, day, start) in busy_teachers for t in teacher_ids):
                    continue
                room = next((r for r in rooms if (r.pk, day, start) not in taken_rooms), None)
                if room is None:
                    continue
                services.save_timetable_slot(
                    slot=TimetableSlot(
                        section=section, room=room, weekday=day, start_time=start, end_time=end,
                        valid_from=monday, valid_until=term.end_date,
                    )
                )
                taken_rooms.add((room.pk, day, start))
                busy_teachers |= {(t, day, start) for t in teacher_ids}
                days_used.add(day)
                made += 1
        return made

    def students(self, count: int, sections: list[Section], term: Term) -> tuple[int, int]:
        year = term.start_date.year
        admin = User.objects.filter(username__iexact="demo.admin").first()
        consent_at = timezone.now()
        numbers = [f"{year}{n:05d}" for n in range(1, count + 1)]
        existing = set(Student.objects.filter(student_number__in=numbers).values_list("student_number", flat=True))
        new = []
        for n, number in enumerate(numbers):
            if number in existing:
                continue
            rng = self.rng_for(number)
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            consents = rng.random() < 0.85
            new.append(
                Student(
                    student_number=number,
                    first_name=first,
                    last_name=last,
                    email=f"{number}@students.campus.example",
                    status=StudentStatus.ACTIVE if n % 50 else StudentStatus.INACTIVE,
                    face_consent_at=consent_at if consents else None,
                    face_consent_recorded_by=admin if consents else None,
                )
            )
        for start in tqdm(range(0, len(new), 2000), desc="students", file=self.stderr, disable=None, leave=False):
            Student.objects.bulk_create(new[start : start + 2000], ignore_conflicts=True)

        ids = dict(Student.objects.filter(student_number__in=numbers).values_list("student_number", "pk"))
        self.link_demo_student(numbers)

        enrolments = []
        picks = min(SECTIONS_PER_STUDENT, len(sections))
        for number in numbers:
            # Seeded per student, so a larger re-run keeps the first students' sections.
            for section in self.rng_for(f"{number}-sections").sample(sections, picks):
                enrolments.append(Enrolment(section=section, student_id=ids[number], enrolled_on=term.start_date))
        before = Enrolment.objects.filter(section__term=term).count()
        for start in tqdm(
            range(0, len(enrolments), 5000), desc="enrolments", file=self.stderr, disable=None, leave=False
        ):
            Enrolment.objects.bulk_create(enrolments[start : start + 5000], ignore_conflicts=True)
        return len(new), Enrolment.objects.filter(section__term=term).count() - before

    def link_demo_student(self, numbers: list[str]) -> None:
        """demo.student is an active, consenting student, so enrolment and the API work as documented."""
        demo_student = User.objects.filter(username__iexact="demo.student").first()
        if demo_student is None:
            return
        linked = Student.objects.filter(user=demo_student).first()
        if linked is not None and linked.has_face_consent:
            return
        candidate = (
            Student.objects.filter(student_number__in=numbers, user__isnull=True, status=StudentStatus.ACTIVE,
                                   face_consent_at__isnull=False)
            .order_by("student_number")
            .first()
        )
        if candidate is None:
            return
        if linked is not None:  # an older run linked an inactive student
            Student.objects.filter(pk=linked.pk).update(user=None)
        Student.objects.filter(pk=candidate.pk).update(user=demo_student)

    def complaints(self, rooms: list[Room]) -> None:
        author = User.objects.filter(username__iexact="demo.student").first()
        if author is None:
            return
        samples = [
            ("Projector flickers", "The projector flickers all lesson.", ComplaintCategory.EQUIPMENT),
            ("Room too cold", "The heating is off in the morning lectures.", ComplaintCategory.FACILITIES),
            ("Marked absent but present", "I was in Monday's lecture.", ComplaintCategory.ATTENDANCE),
        ]
        for index, (title, description, category) in enumerate(samples):
            if Complaint.objects.filter(author=author, title=title).exists():
                continue
            services.file_complaint(
                author=author,
                title=title,
                description=description,
                category=category,
                priority=ComplaintPriority.NORMAL,
                room=rooms[index % len(rooms)],
            )
