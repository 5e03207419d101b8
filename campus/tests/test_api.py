import datetime

import pytest

from campus.models import Building, Complaint, ComplaintComment, Room, Section, Student, TimetableSlot
from campus.tests.factories import (
    BuildingFactory,
    ComplaintFactory,
    CourseFactory,
    DepartmentFactory,
    EnrolmentFactory,
    RoomFactory,
    SectionFactory,
    StudentFactory,
    TeacherFactory,
    TermFactory,
    TimetableSlotFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ["admin", "staff", "student", "guest"]


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def user_of(make_user):
    def build(role):
        return make_user(role=role)

    return build


# --- Catalogue: read with view_campus, write with manage_campus -----------------

CATALOGUE = {
    "buildings": (BuildingFactory, lambda: {"code": "NEW", "name": "New Hall"}, {"name": "Renamed"}),
    "rooms": (
        RoomFactory,
        lambda: {"building": BuildingFactory().pk, "code": "N-101", "capacity": 40},
        {"capacity": 12},
    ),
    "departments": (DepartmentFactory, lambda: {"code": "PHY", "name": "Physics"}, {"name": "Applied Physics"}),
    "courses": (
        CourseFactory,
        lambda: {"code": "PHY101", "title": "Mechanics", "department": DepartmentFactory().pk},
        {"title": "Classical Mechanics"},
    ),
    "terms": (
        TermFactory,
        lambda: {"name": "Spring 2027", "start_date": "2027-02-01", "end_date": "2027-06-30"},
        {"end_date": "2027-07-15"},
    ),
    "sections": (
        SectionFactory,
        lambda: {"course": CourseFactory().pk, "term": TermFactory().pk, "code": "A"},
        {"code": "B"},
    ),
}


@pytest.mark.parametrize("resource", list(CATALOGUE))
def test_admin_can_create_read_update_and_delete_catalogue_records(client_for, admin_user, resource):
    _, payload, change = CATALOGUE[resource]
    client = client_for(admin_user)
    created = client.post(f"/api/v1/{resource}", payload(), format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    fetched = client.get(f"/api/v1/{resource}/{pk}")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == pk
    updated = client.patch(f"/api/v1/{resource}/{pk}", change, format="json")
    assert updated.status_code == 200, updated.content
    for name, value in change.items():
        assert updated.json()[name] == value
    deleted = client.delete(f"/api/v1/{resource}/{pk}")
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/{resource}/{pk}").status_code == 404


@pytest.mark.parametrize("role", ["staff", "student", "guest"])
@pytest.mark.parametrize("resource", list(CATALOGUE))
def test_only_manage_campus_may_write_catalogue(client_for, user_of, role, resource):
    factory, payload, change = CATALOGUE[resource]
    existing = factory()
    client = client_for(user_of(role))
    model = existing._meta.model
    before = model.objects.count()
    assert_error(client.post(f"/api/v1/{resource}", payload(), format="json"), 403, "permission_denied")
    assert_error(client.patch(f"/api/v1/{resource}/{existing.pk}", change, format="json"), 403)
    assert_error(client.delete(f"/api/v1/{resource}/{existing.pk}"), 403)
    assert model.objects.filter(pk=existing.pk).exists()
    # Counting after the payload built its own references.
    assert model.objects.count() == before


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_catalogue(client_for, user_of, role):
    BuildingFactory(code="MAIN")
    response = client_for(user_of(role)).get("/api/v1/buildings")
    assert response.status_code == 200
    assert [row["code"] for row in response.json()["results"]] == ["MAIN"]


def test_anonymous_is_refused_in_error_format(api_client):
    assert_error(api_client.get("/api/v1/rooms"), 401, "not_authenticated")


def test_deleting_a_building_with_rooms_is_a_conflict(client_for, admin_user):
    room = RoomFactory()
    error = assert_error(client_for(admin_user).delete(f"/api/v1/buildings/{room.building_id}"), 409, "in_use")
    assert error["details"] == {"used_by": ["rooms"]}
    assert Building.objects.filter(pk=room.building_id).exists()


def test_bad_room_input_is_rejected_with_details(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/v1/rooms", {"building": 999999, "code": "", "capacity": "lots"}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"building", "code", "capacity"}
    assert not Room.objects.exists()


def test_duplicate_room_code_is_rejected(client_for, admin_user):
    room = RoomFactory(code="A-1")
    response = client_for(admin_user).post(
        "/api/v1/rooms", {"building": room.building_id, "code": "A-1", "capacity": 5}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert "code" in error["details"]
    assert Room.objects.count() == 1


def test_duplicate_section_code_in_a_term_is_rejected(client_for, admin_user):
    section = SectionFactory(code="A")
    response = client_for(admin_user).post(
        "/api/v1/sections", {"course": section.course_id, "term": section.term_id, "code": "A"}, format="json"
    )
    assert_error(response, 400, "invalid")
    assert Section.objects.count() == 1


def test_section_teachers_are_set_and_listed(client_for, admin_user, teacher_user):
    course, term = CourseFactory(), TermFactory()
    response = client_for(admin_user).post(
        "/api/v1/sections",
        {"course": course.pk, "term": term.pk, "code": "A", "teachers": [teacher_user.pk]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["teachers"] == [teacher_user.pk]
    assert list(Section.objects.get(pk=response.json()["id"]).teachers.all()) == [teacher_user]


def test_sections_filter_mine_and_search(client_for, teacher_user):
    mine = SectionFactory(teachers=[teacher_user], course=CourseFactory(code="MAT101"))
    SectionFactory(course=CourseFactory(code="BIO200"))
    client = client_for(teacher_user)
    assert [r["id"] for r in client.get("/api/v1/sections?mine=true").json()["results"]] == [mine.pk]
    assert [r["id"] for r in client.get("/api/v1/sections?search=MAT").json()["results"]] == [mine.pk]


def test_rooms_filter_and_ordering(client_for, guest_user):
    building = BuildingFactory(code="EAST")
    RoomFactory(code="E1", building=building, capacity=10)
    RoomFactory(code="E2", building=building, capacity=80)
    RoomFactory(code="W1", capacity=200)
    client = client_for(guest_user)
    rows = client.get("/api/v1/rooms?building_code=EAST&ordering=-capacity").json()["results"]
    assert [r["code"] for r in rows] == ["E2", "E1"]
    rows = client.get("/api/v1/rooms?min_capacity=50").json()["results"]
    assert sorted(r["code"] for r in rows) == ["E2", "W1"]


# --- Students and enrolments: object scope -------------------------------------


def test_admin_manages_students(client_for, admin_user):
    client = client_for(admin_user)
    created = client.post(
        "/api/v1/students",
        {"student_number": "2026-0001", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@campus.test"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "active"
    pk = created.json()["id"]
    assert client.patch(f"/api/v1/students/{pk}", {"status": "graduated"}, format="json").json()["status"] == (
        "graduated"
    )
    assert client.delete(f"/api/v1/students/{pk}").status_code == 204
    assert not Student.objects.exists()


def test_student_sees_only_their_own_record(client_for, student_user):
    own = StudentFactory(user=student_user)
    other = StudentFactory()
    client = client_for(student_user)
    assert [r["id"] for r in client.get("/api/v1/students").json()["results"]] == [own.pk]
    assert_error(client.get(f"/api/v1/students/{other.pk}"), 404, "not_found")
    assert_error(client.patch(f"/api/v1/students/{own.pk}", {"first_name": "X"}, format="json"), 403)
    own.refresh_from_db()
    assert own.first_name != "X"


def test_staff_see_only_students_of_sections_they_teach(client_for, teacher_user):
    taught = SectionFactory(teachers=[teacher_user])
    mine = EnrolmentFactory(section=taught).student
    EnrolmentFactory()  # someone else's section
    client = client_for(teacher_user)
    assert [r["id"] for r in client.get("/api/v1/students").json()["results"]] == [mine.pk]
    enrolments = client.get("/api/v1/enrolments").json()["results"]
    assert [(r["section"], r["student"]) for r in enrolments] == [(taught.pk, mine.pk)]


def test_guest_sees_no_students(client_for, guest_user):
    StudentFactory()
    response = client_for(guest_user).get("/api/v1/students")
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_staff_cannot_create_students(client_for, staff_user):
    response = client_for(staff_user).post(
        "/api/v1/students", {"student_number": "X1", "first_name": "A", "last_name": "B"}, format="json"
    )
    assert_error(response, 403)
    assert not Student.objects.exists()


def test_face_consent_endpoint_records_who(client_for, admin_user, staff_user):
    student = StudentFactory()
    assert_error(
        client_for(staff_user).post(f"/api/v1/students/{student.pk}/face-consent", {"given": True}, format="json"),
        403,
    )
    response = client_for(admin_user).post(
        f"/api/v1/students/{student.pk}/face-consent", {"given": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["has_face_consent"] is True
    assert response.json()["face_consent_recorded_by"] == admin_user.pk


def test_enrolment_with_left_before_enrolled_is_rejected(client_for, admin_user):
    section, student = SectionFactory(), StudentFactory()
    response = client_for(admin_user).post(
        "/api/v1/enrolments",
        {"section": section.pk, "student": student.pk, "enrolled_on": "2026-09-10", "left_on": "2026-09-01"},
        format="json",
    )
    assert_error(response, 400, "invalid")
    assert not section.enrolments.exists()


def test_roster_is_for_the_sections_teachers(client_for, teacher_user, staff_user, admin_user):
    section = SectionFactory(teachers=[teacher_user])
    current = EnrolmentFactory(section=section, enrolled_on=datetime.date(2026, 9, 1)).student
    EnrolmentFactory(section=section, enrolled_on=datetime.date(2026, 9, 1), left_on=datetime.date(2026, 10, 1))
    url = f"/api/v1/sections/{section.pk}/roster?date=2026-10-05"
    rows = client_for(teacher_user).get(url).json()["results"]
    assert [r["id"] for r in rows] == [current.pk]
    assert_error(client_for(staff_user).get(url), 403)
    assert client_for(admin_user).get(url).json()["count"] == 1
    assert_error(client_for(teacher_user).get(f"/api/v1/sections/{section.pk}/roster?date=soon"), 400)


def test_teachers_endpoint_lists_profiles(client_for, guest_user):
    teacher = TeacherFactory(staff_number="T-9")
    rows = client_for(guest_user).get("/api/v1/teachers").json()["results"]
    assert [(r["staff_number"], r["user"]) for r in rows] == [("T-9", teacher.user_id)]


# --- Timetable --------------------------------------------------------------------


def _slot_payload(slot, **changes):
    payload = {
        "section": slot.section_id,
        "room": slot.room_id,
        "weekday": slot.weekday,
        "start_time": slot.start_time.strftime("%H:%M"),
        "end_time": slot.end_time.strftime("%H:%M"),
        "valid_from": slot.valid_from.isoformat(),
        "valid_until": slot.valid_until.isoformat() if slot.valid_until else None,
    }
    payload.update(changes)
    return payload


def test_overlapping_slot_in_same_room_is_409_with_the_clash(client_for, admin_user):
    existing = TimetableSlotFactory(start_time=datetime.time(9), end_time=datetime.time(10, 30))
    payload = _slot_payload(existing, section=SectionFactory().pk, start_time="10:00", end_time="11:00")
    error = assert_error(client_for(admin_user).post("/api/v1/timetable-slots", payload, format="json"), 409)
    assert error["code"] == "timetable_overlap"
    assert error["details"]["conflicts"][0]["id"] == existing.pk
    assert TimetableSlot.objects.count() == 1


def test_moving_a_slot_onto_another_is_409(client_for, admin_user):
    first = TimetableSlotFactory(start_time=datetime.time(9), end_time=datetime.time(10))
    second = TimetableSlotFactory(room=first.room, start_time=datetime.time(11), end_time=datetime.time(12))
    response = client_for(admin_user).patch(
        f"/api/v1/timetable-slots/{second.pk}", {"start_time": "09:30"}, format="json"
    )
    assert_error(response, 409, "timetable_overlap")
    second.refresh_from_db()
    assert second.start_time == datetime.time(11)


def test_slot_ending_before_it_starts_is_400(client_for, admin_user):
    existing = TimetableSlotFactory()
    payload = _slot_payload(existing, weekday=3, start_time="12:00", end_time="11:00")
    error = assert_error(client_for(admin_user).post("/api/v1/timetable-slots", payload, format="json"), 400)
    assert "end_time" in error["details"]
    assert TimetableSlot.objects.count() == 1


def test_free_slot_is_created(client_for, admin_user):
    existing = TimetableSlotFactory()
    payload = _slot_payload(existing, weekday=2)
    response = client_for(admin_user).post("/api/v1/timetable-slots", payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["weekday_name"] == "Wednesday"
    assert TimetableSlot.objects.count() == 2


def test_timetable_filter_on_a_date(client_for, guest_user):
    monday = TimetableSlotFactory(weekday=0)
    TimetableSlotFactory(weekday=1)
    TimetableSlotFactory(weekday=0, valid_from=datetime.date(2027, 2, 1), valid_until=None)
    rows = client_for(guest_user).get("/api/v1/timetable-slots?on=2026-09-07").json()["results"]
    assert [r["id"] for r in rows] == [monday.pk]


# --- Complaints ---------------------------------------------------------------------


def test_student_files_a_complaint_that_starts_open(client_for, student_user):
    room = RoomFactory()
    response = client_for(student_user).post(
        "/api/v1/complaints",
        {
            "title": "Cold room",
            "description": "Heating is off",
            "category": "facilities",
            "room": room.pk,
            "status": "resolved",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open"
    assert body["author"] == student_user.pk
    assert Complaint.objects.get(pk=body["id"]).author == student_user


def test_guest_cannot_file_complaints(client_for, guest_user):
    response = client_for(guest_user).post("/api/v1/complaints", {"title": "x", "description": "y"}, format="json")
    assert_error(response, 403)
    assert not Complaint.objects.exists()


def test_complaint_without_title_is_400(client_for, student_user):
    error = assert_error(
        client_for(student_user).post("/api/v1/complaints", {"description": "y", "priority": "asap"}, format="json"),
        400,
    )
    assert set(error["details"]) == {"title", "priority"}


def test_students_see_only_their_own_complaints(client_for, student_user, make_user):
    own = ComplaintFactory(author=student_user)
    other = ComplaintFactory(author=make_user(role="student"))
    client = client_for(student_user)
    assert [r["id"] for r in client.get("/api/v1/complaints").json()["results"]] == [own.pk]
    assert_error(client.get(f"/api/v1/complaints/{other.pk}"), 404)
    assert_error(client.post(f"/api/v1/complaints/{other.pk}/comments", {"body": "me too"}, format="json"), 404)
    assert not ComplaintComment.objects.exists()


def test_handlers_see_all_complaints(client_for, staff_user):
    complaints = {ComplaintFactory().pk, ComplaintFactory().pk}
    rows = client_for(staff_user).get("/api/v1/complaints").json()["results"]
    assert {r["id"] for r in rows} == complaints


def test_author_edits_own_open_complaint_but_not_once_in_progress(client_for, student_user, staff_user):
    complaint = ComplaintFactory(author=student_user)
    client = client_for(student_user)
    assert client.patch(f"/api/v1/complaints/{complaint.pk}", {"title": "Better"}, format="json").status_code == 200
    client_for(staff_user).post(f"/api/v1/complaints/{complaint.pk}/transition", {"status": "in_progress"})
    assert_error(client.patch(f"/api/v1/complaints/{complaint.pk}", {"title": "Again"}, format="json"), 403)
    complaint.refresh_from_db()
    assert complaint.title == "Better"


def test_student_cannot_move_or_assign_a_complaint(client_for, student_user):
    complaint = ComplaintFactory(author=student_user)
    client = client_for(student_user)
    assert_error(client.post(f"/api/v1/complaints/{complaint.pk}/transition", {"status": "resolved"}), 403)
    assert_error(client.post(f"/api/v1/complaints/{complaint.pk}/assign", {"assignee": student_user.pk}), 403)
    complaint.refresh_from_db()
    assert (complaint.status, complaint.assignee) == ("open", None)


def test_handler_walks_a_complaint_to_resolved(client_for, staff_user, student_user):
    complaint = ComplaintFactory(author=student_user)
    client = client_for(staff_user)
    started = client.post(f"/api/v1/complaints/{complaint.pk}/transition", {"status": "in_progress", "note": "Looking"})
    assert started.json()["status"] == "in_progress"
    assert started.json()["assignee"] == staff_user.pk
    assert started.json()["comment_count"] == 1
    resolved = client.post(f"/api/v1/complaints/{complaint.pk}/transition", {"status": "resolved"})
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_at"] is not None


def test_invalid_transition_via_api_is_409_and_changes_nothing(client_for, staff_user):
    complaint = ComplaintFactory(status="resolved")
    error = assert_error(
        client_for(staff_user).post(f"/api/v1/complaints/{complaint.pk}/transition", {"status": "open"}),
        409,
        "invalid_transition",
    )
    assert error["details"] == {"from": "resolved", "to": "open", "allowed": []}
    complaint.refresh_from_db()
    assert complaint.status == "resolved"


def test_unknown_status_via_api_is_400(client_for, staff_user):
    complaint = ComplaintFactory()
    error = assert_error(
        client_for(staff_user).post(f"/api/v1/complaints/{complaint.pk}/transition", {"status": "closed"}), 400
    )
    assert "status" in error["details"]


def test_assign_to_a_handler(client_for, staff_user, make_user):
    colleague = make_user(role="staff")
    complaint = ComplaintFactory()
    response = client_for(staff_user).post(f"/api/v1/complaints/{complaint.pk}/assign", {"assignee": colleague.pk})
    assert response.json()["assignee"] == colleague.pk
    complaint.refresh_from_db()
    assert complaint.assignee == colleague


def test_author_and_handler_comment(client_for, student_user, staff_user):
    complaint = ComplaintFactory(author=student_user)
    assert (
        client_for(student_user).post(f"/api/v1/complaints/{complaint.pk}/comments", {"body": "Any news?"}).status_code
        == 201
    )
    assert (
        client_for(staff_user)
        .post("/api/v1/complaint-comments", {"complaint": complaint.pk, "body": "Tomorrow"}, format="json")
        .status_code
        == 201
    )
    rows = client_for(student_user).get(f"/api/v1/complaints/{complaint.pk}/comments").json()["results"]
    assert [r["body"] for r in rows] == ["Any news?", "Tomorrow"]
    assert_error(client_for(student_user).post(f"/api/v1/complaints/{complaint.pk}/comments", {"body": ""}), 400)


def test_only_manage_campus_deletes_complaints(client_for, staff_user, admin_user):
    complaint = ComplaintFactory()
    assert_error(client_for(staff_user).delete(f"/api/v1/complaints/{complaint.pk}"), 403)
    assert client_for(admin_user).delete(f"/api/v1/complaints/{complaint.pk}").status_code == 204
    assert not Complaint.objects.exists()


def test_complaints_filter_by_status(client_for, staff_user):
    open_one = ComplaintFactory()
    ComplaintFactory(status="rejected")
    rows = client_for(staff_user).get("/api/v1/complaints?status=open").json()["results"]
    assert [r["id"] for r in rows] == [open_one.pk]


def test_teacher_profile_needs_a_staff_account(client_for, admin_user, student_user):
    response = client_for(admin_user).post(
        "/api/v1/teachers", {"user": student_user.pk, "staff_number": "T-1"}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert "user" in error["details"]


def test_section_teachers_must_be_staff(client_for, admin_user, student_user):
    response = client_for(admin_user).post(
        "/api/v1/sections",
        {"course": CourseFactory().pk, "term": TermFactory().pk, "code": "A", "teachers": [student_user.pk]},
        format="json",
    )
    assert "teachers" in assert_error(response, 400)["details"]
    assert not Section.objects.exists()


def test_author_may_put_the_whole_complaint_back(client_for, student_user):
    complaint = ComplaintFactory(author=student_user, priority="normal")
    client = client_for(student_user)
    body = client.get(f"/api/v1/complaints/{complaint.pk}").json()
    body["description"] = "Now with details"
    response = client.put(f"/api/v1/complaints/{complaint.pk}", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "Now with details"
    body["priority"] = "urgent"
    assert_error(client.put(f"/api/v1/complaints/{complaint.pk}", body, format="json"), 403)
    complaint.refresh_from_db()
    assert complaint.priority == "normal"


def test_only_a_student_account_links_to_a_student(client_for, admin_user, staff_user, make_user):
    student = StudentFactory()
    client = client_for(admin_user)
    assert (
        "user"
        in assert_error(client.patch(f"/api/v1/students/{student.pk}", {"user": staff_user.pk}, format="json"), 400)[
            "details"
        ]
    )
    account = make_user(role="student")
    assert client.patch(f"/api/v1/students/{student.pk}", {"user": account.pk}, format="json").json()["user"] == (
        account.pk
    )
