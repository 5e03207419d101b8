import datetime
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from campus.imports import run_import
from campus.models import Course, Section, Student, Teacher, TimetableSlot
from campus.tests.factories import DepartmentFactory, RoomFactory, StudentFactory, TermFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


def run(command, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- Students -----------------------------------------------------------------------


def test_good_students_file_is_imported():
    out, _ = run("import_students", FIXTURES / "students_good.csv")
    assert "students: 3 rows; 3 created, 0 updated, 0 unchanged; written." in out
    grace = Student.objects.get(student_number="2026-0003")
    assert (grace.first_name, grace.last_name, grace.email, grace.status) == (
        "Grace",
        "Hopper",
        "grace@students.campus.test",
        "graduated",
    )
    assert Student.objects.count() == 3


def test_reimport_changes_nothing_and_says_so():
    run("import_students", FIXTURES / "students_good.csv")
    stamps = dict(Student.objects.values_list("student_number", "updated_at"))
    out, _ = run("import_students", FIXTURES / "students_good.csv")
    assert "0 created, 0 updated, 3 unchanged; no changes." in out
    assert dict(Student.objects.values_list("student_number", "updated_at")) == stamps


def test_existing_student_is_updated_by_student_number(tmp_path):
    StudentFactory(student_number="2026-0002", first_name="Alan", last_name="Smith", email="old@campus.test")
    out, _ = run("import_students", FIXTURES / "students_good.csv")
    assert "2 created, 1 updated, 0 unchanged" in out
    alan = Student.objects.get(student_number="2026-0002")
    assert (alan.last_name, alan.email) == ("Turing", "alan@students.campus.test")


def test_bad_rows_are_all_reported_and_nothing_is_written():
    with pytest.raises(CommandError) as caught:
        run("import_students", FIXTURES / "students_bad.csv")
    assert "nothing written" in str(caught.value)
    result = run_import(kind="students", source=FIXTURES / "students_bad.csv")
    assert [(e.line, e.reason) for e in result.errors] == [
        (3, "student_number: is required"),
        (4, "email: 'not-an-email' is not an email address"),
        (5, "status: 'expelled' is not one of active, inactive, graduated"),
        (6, "same record as line 2"),
        (7, "last_name: is required"),
    ]
    assert not result.written
    assert not Student.objects.exists()


def test_command_prints_every_bad_line(capsys):
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_students", str(FIXTURES / "students_bad.csv"), stdout=io.StringIO(), stderr=err)
    lines = [line.split(":")[1] for line in err.getvalue().splitlines() if "students_bad.csv:" in line]
    assert lines == ["3", "4", "5", "6", "7"]


def test_skip_invalid_writes_only_the_good_rows():
    out, err = run("import_students", FIXTURES / "students_bad.csv", "--skip-invalid")
    assert "1 created, 0 updated, 0 unchanged, 5 invalid (skipped); written." in out
    assert list(Student.objects.values_list("student_number", flat=True)) == ["2026-0101"]
    assert err.count("students_bad.csv:") == 5


def test_dry_run_writes_nothing():
    out, _ = run("import_students", FIXTURES / "students_good.csv", "--dry-run")
    assert "3 created" in out and "dry run, nothing written" in out
    assert not Student.objects.exists()


def test_wrong_header_is_refused(tmp_path):
    path = tmp_path / "students.csv"
    path.write_text("number,first_name,last_name,shoe_size\n1,A,B,42\n")
    with pytest.raises(CommandError):
        run("import_students", path)
    result = run_import(kind="students", source=path)
    assert [(e.line, e.reason) for e in result.errors] == [
        (1, "missing column(s): student_number; unknown column(s): number, shoe_size")
    ]


def test_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match="No such file"):
        run("import_students", "/nonexistent/students.csv")


def test_not_utf8_is_reported(tmp_path):
    path = tmp_path / "students.csv"
    path.write_bytes("student_number,first_name,last_name\n1,J\xf6rg,M\n".encode("latin-1"))
    result = run_import(kind="students", source=path)
    assert result.errors[0].line == 1
    assert "UTF-8" in result.errors[0].reason
    assert not Student.objects.exists()


# --- Teachers, courses, sections, timetable -----------------------------------------


@pytest.fixture
def departments():
    return DepartmentFactory(code="CS"), DepartmentFactory(code="MATH")


def test_teachers_become_staff_users_and_reimport_is_unchanged(departments):
    out, _ = run("import_teachers", FIXTURES / "teachers.csv")
    assert "2 created" in out
    teacher = Teacher.objects.select_related("user", "department").get(staff_number="T-100")
    assert (teacher.user.username, teacher.user.role, teacher.department.code) == ("mhamilton", "staff", "CS")
    assert not teacher.user.has_usable_password()
    out, _ = run("import_teachers", FIXTURES / "teachers.csv")
    assert "0 created, 0 updated, 2 unchanged; no changes." in out
    assert User.objects.filter(role="staff").count() == 2


def test_teacher_row_for_a_student_account_is_refused(departments, make_user):
    make_user(role="student", username="dknuth")
    result = run_import(kind="teachers", source=FIXTURES / "teachers.csv")
    assert [(e.line, e.reason) for e in result.errors] == [
        (3, "username: 'dknuth' has role student; teachers must be staff")
    ]
    assert not Teacher.objects.exists()


def test_courses_with_unknown_department_are_refused(departments):
    result = run_import(kind="courses", source=FIXTURES / "courses_bad.csv")
    assert [(e.line, e.reason) for e in result.errors] == [(3, "department: no department 'PHYS'")]
    assert not Course.objects.exists()


@pytest.fixture
def campus_for_timetable(departments):
    run("import_teachers", FIXTURES / "teachers.csv")
    run("import_courses", FIXTURES / "courses.csv")
    TermFactory(name="Autumn 2026", start_date=datetime.date(2026, 9, 1), end_date=datetime.date(2026, 12, 31))
    run("import_sections", FIXTURES / "sections.csv")
    RoomFactory(code="LAB-1")
    RoomFactory(code="HALL-2")


def test_sections_import_sets_teachers_and_reimport_is_unchanged(campus_for_timetable):
    section = Section.objects.get(course__code="CS101", code="B")
    assert sorted(section.teachers.values_list("username", flat=True)) == ["dknuth", "mhamilton"]
    out, _ = run("import_sections", FIXTURES / "sections.csv")
    assert "0 created, 0 updated, 3 unchanged; no changes." in out


def test_timetable_import_and_reimport(campus_for_timetable):
    out, _ = run("import_timetable", FIXTURES / "timetable.csv")
    assert "3 created" in out
    slot = TimetableSlot.objects.get(section__course__code="MATH201")
    assert (slot.weekday, slot.start_time, slot.valid_until) == (2, datetime.time(14), None)
    out, _ = run("import_timetable", FIXTURES / "timetable.csv")
    assert "3 unchanged; no changes." in out
    assert TimetableSlot.objects.count() == 3


def test_timetable_overlap_and_bad_rows_are_reported_and_nothing_written(campus_for_timetable):
    result = run_import(kind="timetable", source=FIXTURES / "timetable_overlap.csv")
    reasons = {e.line: e.reason for e in result.errors}
    assert sorted(reasons) == [3, 4, 5]
    assert "overlaps CS101-A in LAB-1" in reasons[3]
    assert reasons[4].startswith("weekday: 'Funday' is not a weekday")
    assert reasons[5] == "section: no section 'MATH201/Autumn 2026/Z'"
    assert not TimetableSlot.objects.exists()


def test_generic_import_command_takes_a_kind(tmp_path):
    path = tmp_path / "buildings.csv"
    path.write_text("code,name\nMAIN,Main Building\n")
    out, _ = run("import_campus", "buildings", path)
    assert "1 created" in out


# --- The same import from the admin and the API -------------------------------------


def _upload(name):
    return SimpleUploadedFile(name, (FIXTURES / name).read_bytes(), content_type="text/csv")


def test_admin_import_page_imports_with_the_same_service(client, admin_user):
    client.force_login(admin_user)
    url = "/admin/campus/student/import/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"file": _upload("students_good.csv")})
    assert response.status_code == 200
    assert "3 created" in response.content.decode()
    assert Student.objects.count() == 3


def test_admin_import_of_bad_file_lists_errors_and_writes_nothing(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/campus/student/import/", {"file": _upload("students_bad.csv")})
    page = response.content.decode()
    assert "nothing written" in page
    assert "not-an-email" in page
    assert page.count("<tr><td>") == 5
    assert not Student.objects.exists()


def test_staff_cannot_use_the_admin_import(client, staff_user):
    client.force_login(staff_user)
    response = client.post("/admin/campus/student/import/", {"file": _upload("students_good.csv")})
    assert response.status_code == 403
    assert not Student.objects.exists()


def test_api_import_reports_bad_rows_in_error_format(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/v1/imports/students", {"file": _upload("students_bad.csv")}, format="multipart"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "import_invalid"
    assert [e["line"] for e in error["details"]["errors"]] == [3, 4, 5, 6, 7]
    assert not Student.objects.exists()


def test_api_import_good_file(client_for, admin_user, staff_user):
    assert (
        client_for(staff_user)
        .post("/api/v1/imports/students", {"file": _upload("students_good.csv")}, format="multipart")
        .status_code
        == 403
    )
    response = client_for(admin_user).post(
        "/api/v1/imports/students", {"file": _upload("students_good.csv")}, format="multipart"
    )
    assert response.status_code == 200
    assert response.json()["created"] == 3
    assert (
        client_for(admin_user)
        .post("/api/v1/imports/nonsense", {"file": _upload("students_good.csv")}, format="multipart")
        .status_code
        == 404
    )


def test_student_import_links_a_student_account(tmp_path, make_user):
    make_user(role="student", username="ada")
    make_user(role="staff", username="boss")
    path = tmp_path / "students.csv"
    path.write_text("student_number,first_name,last_name,username\n1,Ada,L,ada\n2,Bo,S,boss\n3,Cy,T,ghost\n4,Di,U,\n")
    result = run_import(kind="students", source=path)
    assert [(e.line, e.reason) for e in result.errors] == [
        (3, "user: 'boss' has role staff, not student"),
        (4, "user: no user 'ghost'"),
    ]
    result = run_import(kind="students", source=path, skip_invalid=True)
    assert result.created == 2
    assert Student.objects.get(student_number="1").user.username == "ada"
    assert Student.objects.get(student_number="4").user is None


def test_oversized_import_is_refused(tmp_path, settings):
    settings.CAMPUS_IMPORT_MAX_ROWS = 2
    path = tmp_path / "students.csv"
    path.write_text("student_number,first_name,last_name\n1,A,B\n2,C,D\n3,E,F\n")
    result = run_import(kind="students", source=path, skip_invalid=True)
    assert not result.ok
    assert result.errors[0].line == 1 and "at most 2" in result.errors[0].reason
    assert not Student.objects.exists()


def test_staff_cannot_import_through_the_api(client_for, staff_user):
    response = client_for(staff_user).post(
        "/api/v1/imports/rooms", {"file": _upload("students_good.csv")}, format="multipart"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_refused_batch_falls_back_to_row_by_row(monkeypatch):
    from django.db import IntegrityError

    from campus.imports.base import ImportSpec

    def refuse(self, prepared):
        raise IntegrityError("simulated")

    monkeypatch.setattr(ImportSpec, "write_batch", refuse)
    result = run_import(kind="students", source=FIXTURES / "students_good.csv")
    assert (result.created, result.errors, result.written) == (3, [], True)
    assert Student.objects.count() == 3


def test_teacher_details_are_updated_by_staff_number(departments, tmp_path):
    run("import_teachers", FIXTURES / "teachers.csv")
    path = tmp_path / "teachers.csv"
    path.write_text((FIXTURES / "teachers.csv").read_text().replace("dknuth@campus.test", "knuth@cs.campus.test"))
    out, _ = run("import_teachers", path)
    assert "0 created, 1 updated, 1 unchanged" in out
    assert User.objects.get(username="dknuth").email == "knuth@cs.campus.test"
