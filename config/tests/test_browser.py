"""A real browser through the admin: log in, add a camera, enrol a face, open the dashboard.

Playwright drives Debian's Chromium (`/usr/bin/chromium`, installed by
`make system-deps`; never `playwright install`), headless, against pytest-django's
`live_server` on 127.0.0.1. Screenshots of every step go to `test-artifacts/`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from config.tests.browser import ARTIFACTS, CHROMIUM, browser_tab, pick_autocomplete

# The project's own copy of the shared public-domain photo (provenance note beside it).
FACE_PHOTO = Path(__file__).resolve().parents[2] / "cameras" / "tests" / "fixtures" / "faces" / "obama.jpg"
PASSWORD = "Browser-Test-2026-!x"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not installed at {CHROMIUM} (make system-deps)"),
]


@pytest.fixture
def browser_page(live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes between browser steps are ordinary synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with browser_tab(live_server.url, width=1280, height=900) as page:
        yield page


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"browser-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def campus_with_history(make_user):
    """An admin, a room, a consenting student and two weeks of attendance for the charts."""
    from attendance.choices import RecordStatus, SessionStatus
    from attendance.tests.factories import AttendanceRecordFactory, ClassSessionFactory
    from campus.tests.factories import EnrolmentFactory, RoomFactory, SectionFactory, StudentFactory

    admin = make_user(role="admin", username="browser-admin")
    admin.set_password(PASSWORD)
    admin.save()
    room = RoomFactory(code="LAB-101", name="Vision lab")
    section = SectionFactory()
    students = [StudentFactory() for _ in range(6)]
    for student in students:
        EnrolmentFactory(section=section, student=student)
    consenting = students[0]
    consenting.face_consent_at = timezone.now()
    consenting.face_consent_recorded_by = admin
    consenting.save()
    today = timezone.localdate()
    statuses = [RecordStatus.PRESENT, RecordStatus.PRESENT, RecordStatus.LATE, RecordStatus.ABSENT]
    for days_ago in range(1, 15):
        day = today - dt.timedelta(days=days_ago)
        start = timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))
        session = ClassSessionFactory(section=section, room=room, date=day, scheduled_start=start,
                                      scheduled_end=start + dt.timedelta(hours=1), status=SessionStatus.CLOSED)
        for i, student in enumerate(students):
            status = statuses[(i + days_ago) % len(statuses)]
            seen = None if status == RecordStatus.ABSENT else start
            AttendanceRecordFactory(session=session, student=student, status=status,
                                    first_seen_at=seen, last_seen_at=seen)
    return {"admin": admin, "room": room, "student": consenting}


def log_in(page, shot_name: str | None = None) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", "browser-admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    if shot_name:
        shot(page, shot_name)
    assert page.locator("#site-name").is_visible()


@pytest.mark.django_db(transaction=True)
def test_admin_adds_a_camera_in_a_real_browser(browser_page, campus_with_history):
    from cameras.models import Camera

    page = browser_page
    room = campus_with_history["room"]
    log_in(page, "01-admin-home")
    assert page.locator("a[href='/admin/cameras/camera/']").count() >= 1, "cameras are not in the admin"

    page.goto("/admin/cameras/camera/add/")
    page.fill("#id_name", "Front of lab")
    room_input = page.locator("#id_room")
    if "admin-autocomplete" in (room_input.get_attribute("class") or ""):  # type to search, pick the room
        pick_autocomplete(page, "id_room", room.code)
    elif room_input.evaluate("el => el.tagName") == "SELECT":
        room_input.select_option(str(room.pk))
    else:  # raw_id_fields / autocomplete: a plain input for the id
        room_input.fill(str(room.pk))
    if page.locator("#id_source_kind").count():
        page.select_option("#id_source_kind", "push")
    shot(page, "02-camera-form")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    shot(page, "03-camera-added")
    assert page.locator("ul.messagelist li.success").count() == 1, page.inner_text("body")[:2000]
    camera = Camera.objects.get(name="Front of lab")
    assert camera.room_id == room.pk
    assert camera.source_kind == "push"
    # The change list shows it.
    page.goto("/admin/cameras/camera/")
    assert page.locator("#result_list", has_text="Front of lab").count() == 1


@pytest.mark.django_db(transaction=True)
def test_face_enrolment_and_attendance_dashboard_in_a_real_browser(browser_page, campus_with_history, live_server):
    from cameras.models import FaceEnrolment
    from cameras.tests.factories import CameraFactory

    page = browser_page
    student = campus_with_history["student"]
    CameraFactory(room=campus_with_history["room"], name="Back of lab")
    log_in(page)

    # Enrol a face from the shared photo, as the signed-in admin (session + CSRF).
    assert FACE_PHOTO.exists(), f"missing shared photo {FACE_PHOTO}"
    page.goto(f"/admin/campus/student/{student.pk}/change/")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"/api/v1/students/{student.pk}/faces",
        multipart={"image": {"name": "obama.jpg", "mimeType": "image/jpeg", "buffer": FACE_PHOTO.read_bytes()}},
        headers={"X-CSRFToken": csrf, "Referer": live_server.url + "/admin/"},
    )
    assert response.status == 201, response.text()
    enrolment = response.json()
    assert FaceEnrolment.objects.filter(student=student, pk=enrolment["id"]).exists()
    page.reload()
    shot(page, "04-student-after-enrolment")
    # The student's admin page lists the new enrolment in its read-only face inline.
    assert page.locator("div.inline-group tbody tr.has_original").count() == 1

    # The attendance dashboard with its charts (server-rendered SVG, no CDN).
    page.goto("/admin/attendance/classsession/dashboard/")
    page.wait_for_selector("div.chart svg")
    shot(page, "05-attendance-dashboard")
    assert page.locator("div.chart svg").count() >= 2
    assert page.locator("h1", has_text="Attendance dashboard").count() == 1
    body = page.inner_text("#content-main")
    assert "/ 1 online" in body, "the room's camera is counted in the dashboard's camera status"
    # Two weeks of records: the charts draw marks, not an empty frame.
    assert page.locator("div.chart svg circle, div.chart svg rect, div.chart svg path, div.chart svg polyline").count()
