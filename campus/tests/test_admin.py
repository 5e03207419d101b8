import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campus.models import Complaint, TimetableSlot
from campus.tests import factories as f

pytestmark = pytest.mark.django_db

MODELS = [
    "building",
    "room",
    "department",
    "course",
    "term",
    "section",
    "student",
    "enrolment",
    "teacher",
    "timetableslot",
    "complaint",
    "complaintcomment",
]


@pytest.fixture
def admin_client_logged(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_admin_pages_render(admin_client_logged, model):
    slot = f.TimetableSlotFactory()
    f.EnrolmentFactory(section=slot.section)
    f.TeacherFactory()
    f.ComplaintCommentFactory(complaint=f.ComplaintFactory(room=slot.room))
    assert admin_client_logged.get(reverse(f"admin:campus_{model}_changelist")).status_code == 200
    assert admin_client_logged.get(reverse(f"admin:campus_{model}_add")).status_code == 200
    assert admin_client_logged.get(reverse(f"admin:campus_{model}_changelist") + "?q=x").status_code == 200


def test_section_change_page_has_enrolment_and_slot_inlines(admin_client_logged):
    slot = f.TimetableSlotFactory()
    f.EnrolmentFactory(section=slot.section)
    page = admin_client_logged.get(reverse("admin:campus_section_change", args=[slot.section_id])).content.decode()
    assert "enrolments-TOTAL_FORMS" in page
    assert "slots-TOTAL_FORMS" in page


def test_admin_refuses_an_overlapping_slot(admin_client_logged):
    existing = f.TimetableSlotFactory()
    other = f.SectionFactory()
    response = admin_client_logged.post(
        reverse("admin:campus_timetableslot_add"),
        {
            "section": other.pk,
            "room": existing.room_id,
            "weekday": existing.weekday,
            "start_time": "10:00",
            "end_time": "11:00",
            "valid_from": "2026-09-01",
            "valid_until": "",
        },
    )
    assert response.status_code == 200
    assert "Overlaps" in response.content.decode()
    assert TimetableSlot.objects.count() == 1


def test_complaint_bulk_actions_follow_the_state_machine(admin_client_logged):
    fresh = f.ComplaintFactory()
    done = f.ComplaintFactory(status="resolved", resolved_at=datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC))
    admin_client_logged.post(
        reverse("admin:campus_complaint_changelist"),
        {"action": "resolve", "_selected_action": [fresh.pk, done.pk]},
    )
    # open -> resolved is not a valid move; nothing changes.
    assert Complaint.objects.get(pk=fresh.pk).status == "open"
    admin_client_logged.post(
        reverse("admin:campus_complaint_changelist"),
        {"action": "start_work", "_selected_action": [fresh.pk, done.pk]},
    )
    assert Complaint.objects.get(pk=fresh.pk).status == "in_progress"
    assert Complaint.objects.get(pk=done.pk).status == "resolved"


def test_student_bulk_consent_action_records_who(admin_client_logged, admin_user):
    students = [f.StudentFactory(), f.StudentFactory()]
    admin_client_logged.post(
        reverse("admin:campus_student_changelist"),
        {"action": "record_consent", "_selected_action": [s.pk for s in students]},
    )
    for student in students:
        student.refresh_from_db()
        assert student.has_face_consent
        assert student.face_consent_recorded_by == admin_user


@pytest.mark.parametrize("model", ["student", "enrolment", "section", "timetableslot", "complaint", "teacher"])
def test_admin_list_query_count_does_not_grow_with_rows(admin_client_logged, django_assert_max_num_queries, model):
    def build():
        slot = f.TimetableSlotFactory()
        f.EnrolmentFactory(section=slot.section)
        f.TeacherFactory()
        f.ComplaintFactory(room=slot.room, assignee=f.TeacherFactory().user)

    url = reverse(f"admin:campus_{model}_changelist")
    build()
    with CaptureQueriesContext(connection) as few:
        admin_client_logged.get(url)
    for _ in range(5):
        build()
    # Session, user, the page's rows with their foreign keys joined, counts, filters:
    # the same statements whatever the number of rows.
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client_logged.get(url).status_code == 200
