"""Each role's day in the admin, in a real browser at 1366x768 (Playwright + Debian's Chromium).

A teacher corrects a record, approves an excuse and assigns an unknown face; an
admin creates a registration token, uploads a bundle and starts a deployment; a
student and a teacher off their ground are refused with a clear page. Every
step leaves a screenshot in `test-artifacts/journey-*.png`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from django.utils import timezone

from config.tests.browser import ARTIFACTS, CHROMIUM, browser_tab, pick_autocomplete
from config.tests.test_browser import PASSWORD

FACES = Path(__file__).resolve().parents[2] / "cameras" / "tests" / "fixtures" / "faces"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not installed at {CHROMIUM} (make system-deps)"),
]


@pytest.fixture
def page(live_server, monkeypatch, settings, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with browser_tab(live_server.url, width=1366, height=768) as tab:
        yield tab


def shot(page, name: str) -> None:
    # The viewport as a person sees it at 1366x768, not the whole scrolled page.
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"))


def log_in(page, username: str) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def with_password(user):
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def teaching_day(make_user):
    """A teacher with a class running now (one record per kind), a pending excuse and an unknown face."""
    from attendance import services as attendance_services
    from attendance.choices import RecordStatus, SessionStatus
    from attendance.tests.factories import AttendanceRecordFactory, ClassSessionFactory
    from cameras.biometrics import encrypt_vector
    from cameras.engine import get_engine
    from cameras.models import FaceSighting, UnknownFace
    from cameras.services import decode_or_400, single_face
    from cameras.tests.factories import CameraFactory
    from campus.tests.factories import EnrolmentFactory, RoomFactory, SectionFactory, StudentFactory

    teacher = with_password(make_user(role="staff", username="t.morgan", first_name="Tess", last_name="Morgan"))
    admin = make_user(role="admin", username="ops")
    room = RoomFactory(code="SCI-110")
    section = SectionFactory()
    section.teachers.set([teacher])
    names = [("Amina", "Adeyemi"), ("Ben", "Bauer"), ("Chloe", "Costa"), ("Joe", "Biden")]
    students = [StudentFactory(first_name=first, last_name=last) for first, last in names]
    for student in students:
        EnrolmentFactory(section=section, student=student, enrolled_on=timezone.localdate() - dt.timedelta(days=30))
    biden = students[3]
    biden.face_consent_at = timezone.now()
    biden.face_consent_recorded_by = admin
    biden.save()
    now = timezone.now()
    session = ClassSessionFactory(section=section, room=room, date=timezone.localdate(),
                                  scheduled_start=now - dt.timedelta(minutes=40),
                                  scheduled_end=now + dt.timedelta(minutes=50), status=SessionStatus.OPEN)
    seen = now - dt.timedelta(minutes=35)
    statuses = [RecordStatus.PRESENT, RecordStatus.ABSENT, RecordStatus.LATE]
    for student, status in zip(students[:3], statuses, strict=True):
        AttendanceRecordFactory(session=session, student=student, status=status,
                                first_seen_at=None if status == RecordStatus.ABSENT else seen,
                                last_seen_at=None if status == RecordStatus.ABSENT else seen)
    past = ClassSessionFactory(section=section, room=room, date=timezone.localdate() - dt.timedelta(days=2),
                               status=SessionStatus.CLOSED)
    AttendanceRecordFactory(session=past, student=students[2], status=RecordStatus.ABSENT)
    excuse = attendance_services.file_excuse(student=students[2], session=past, reason="Hospital appointment",
                                             by=teacher)
    # Biden's face, seen by the room's camera during the class and matched to nobody.
    photo = (FACES / "biden.jpg").read_bytes()
    engine = get_engine()
    found = single_face(decode_or_400(photo), engine)
    camera = CameraFactory(room=room, name="Front")
    sighting = FaceSighting.objects.create(camera=camera, room=room, seen_at=seen, box=found.box.as_list(),
                                           session=session, outcome="unknown")
    face = UnknownFace(sighting=sighting, camera=camera, seen_at=seen, engine_name=engine.name,
                       engine_version=engine.version, embedding_ciphertext=encrypt_vector(found.vector))
    from django.core.files.base import ContentFile

    face.crop.save("biden.jpg", ContentFile(photo), save=False)
    face.save()
    return {"teacher": teacher, "session": session, "students": students, "excuse": excuse, "face": face}


@pytest.mark.django_db(transaction=True)
def test_a_teachers_day_in_the_admin(page, teaching_day):
    from accounts.models import AuditEvent
    from attendance.models import AttendanceChange, AttendanceRecord, ExcuseRequest
    from cameras.models import FaceEnrolment, UnknownFace

    session, students = teaching_day["session"], teaching_day["students"]
    log_in(page, "t.morgan")
    page.wait_for_selector("#today")
    shot(page, "teacher-01-today")
    today = page.inner_text("#today")
    assert "your classes" in today.lower() and "Now" in today, today
    assert "Pending excuse requests" in today and "Unknown faces awaiting review" in today
    assert "permission to view or edit anything" not in page.inner_text("body")

    # Correct Ben's absence: the reason is required.
    page.click(f"#today-sessions a[href='/admin/attendance/classsession/{session.pk}/change/']")
    page.wait_for_selector("#records-group")
    shot(page, "teacher-02-session")
    ben = AttendanceRecord.objects.get(session=session, student=students[1])
    page.click(f"a[href='/admin/attendance/attendancerecord/{ben.pk}/correct/']")
    page.select_option("#id_status", "present")
    page.click("#correct-form input[type=submit]")
    shot(page, "teacher-03-reason-required")  # the browser asks for the reason first
    assert page.locator("#id_reason:invalid").count() == 1
    page.fill("#id_reason", "   ")  # blank to the server, which refuses it too
    page.click("#correct-form input[type=submit]")
    page.wait_for_selector(".errorlist")
    shot(page, "teacher-03b-reason-blank")
    ben.refresh_from_db()
    assert ben.status == "absent"
    page.fill("#id_reason", "Sat at the back, outside the camera's view; I saw him.")
    page.click("#correct-form input[type=submit]")
    page.wait_for_selector("ul.messagelist li.success")
    shot(page, "teacher-04-corrected")
    ben.refresh_from_db()
    assert ben.status == "present" and ben.marked_by == teaching_day["teacher"]
    change = AttendanceChange.objects.get(record=ben)
    assert (change.from_status, change.to_status) == ("absent", "present")
    assert "camera's view" in change.reason
    assert AuditEvent.objects.filter(action="attendance.record_changed", target=f"attendance_record:{ben.pk}",
                                     actor=teaching_day["teacher"]).exists()

    # Approve Chloe's excuse from the Today panel's link.
    page.goto("/admin/")
    page.click("#today-tasks a:has-text('Pending excuse requests')")
    page.wait_for_selector("#result_list")
    shot(page, "teacher-05-excuses")
    page.check(f"input[name=_selected_action][value='{teaching_day['excuse'].pk}']")
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist li.success")
    shot(page, "teacher-06-excuse-approved")
    assert ExcuseRequest.objects.get(pk=teaching_day["excuse"].pk).status == "approved"
    assert AttendanceRecord.objects.get(session=teaching_day["excuse"].session, student=students[2]).status == "excused"

    # The unknown face: "this is Joe Biden" enrols it (he has consented).
    page.goto("/admin/")
    page.click("#today-tasks a:has-text('Unknown faces awaiting review')")
    page.wait_for_selector("#result_list img")
    shot(page, "teacher-07-unknown-faces")
    page.click(f"a[href='/admin/cameras/unknownface/{teaching_day['face'].pk}/review/']")
    page.wait_for_load_state()
    assert page.locator("#crop img").count() == 1, page.inner_text("body")[:1500]
    pick_autocomplete(page, "id_student", "Biden")
    shot(page, "teacher-08-review-face")
    page.click("input[name=assign]")
    # The server's first face-engine call loads the models (on a fresh machine it also converts them).
    message = page.wait_for_selector("ul.messagelist li", timeout=60_000)
    shot(page, "teacher-09-face-assigned")
    assert "success" in (message.get_attribute("class") or ""), message.inner_text()
    assert UnknownFace.objects.get(pk=teaching_day["face"].pk).status == "assigned"
    assert FaceEnrolment.objects.filter(student=students[3]).count() == 1

    # Their students and their dashboard fit the screen.
    page.goto("/admin/campus/student/")
    shot(page, "teacher-10-students")
    assert page.locator("#result_list tbody tr").count() == 4
    for header in ("th.column-status", "th.column-has_face_consent", "th.column-user"):
        box = page.locator(header).bounding_box()
        assert box and box["x"] + box["width"] <= 1366, f"{header} is off-screen at 1366 px"
    page.goto("/admin/attendance/classsession/dashboard/")
    page.wait_for_selector("div.chart svg")
    shot(page, "teacher-11-dashboard")

    # Off their ground: the device fleet is for admins; the page says so plainly.
    page.goto("/admin/devices/device/")
    shot(page, "teacher-12-refused")
    body = page.inner_text("body")
    assert "You are not allowed to open this page" in body and "t.morgan" in body
    page.click("text=Back to the admin")
    page.wait_for_selector("text=Your classes")


@pytest.fixture
def fleet(make_user):
    from devices.tests.factories import DeviceFactory

    admin = with_password(make_user(role="admin", username="ada.ops"))
    devices = [DeviceFactory(serial=f"EDGE-{n:03d}") for n in range(3)]
    return {"admin": admin, "devices": devices}


@pytest.mark.django_db(transaction=True)
def test_an_admin_registers_a_fleet_and_rolls_out_a_bundle(page, fleet, tmp_path):
    from devices import keys
    from devices.models import Bundle, Deployment, RegistrationToken

    log_in(page, "ada.ops")
    page.wait_for_selector("#today-heading")
    shot(page, "admin-01-home")
    assert page.locator("a[href='/admin/devices/registrationtoken/add/']").count() >= 1

    # A registration token: the secret is shown once.
    page.goto("/admin/devices/registrationtoken/add/")
    page.fill("#id_label", "Science building, floor 1")
    page.fill("#id_max_uses", "5")
    shot(page, "admin-02-token-form")
    page.click("input[name=_save]")
    page.wait_for_selector("#token-secret")
    shot(page, "admin-03-token-secret")
    secret = page.inner_text("#token-secret")
    token = RegistrationToken.objects.get(label="Science building, floor 1")
    prefix, plain = keys.split(secret)
    assert token.max_uses == 5 and prefix == token.prefix and keys.matches(plain, token.secret_hash)
    page.reload()
    assert page.locator("#token-secret").count() == 0, "the secret is shown only once"

    # A bundle: uploaded, its checksum shown.
    content = b"agent bundle 2.4.0\n" * 4096
    page.goto("/admin/devices/bundle/add/")
    page.set_input_files("#id_file", files=[{"name": "agent-2.4.0.tar.gz", "mimeType": "application/gzip",
                                              "buffer": content}])
    page.fill("#id_name", "edge-agent")
    page.fill("#id_version", "2.4.0")
    page.click("input[name=_save]")
    page.wait_for_selector("#bundle-sha256")
    shot(page, "admin-04-bundle-uploaded")
    assert page.inner_text("#bundle-sha256") == hashlib.sha256(content).hexdigest()
    bundle = Bundle.objects.get(name="edge-agent", version="2.4.0")
    assert bundle.sha256 == hashlib.sha256(content).hexdigest() and bundle.size_bytes == len(content)

    # A deployment to every device, then started: the rollout shows its progress.
    page.goto("/admin/devices/deployment/add/")
    page.fill("#id_name", "Agent 2.4.0 to all")
    pick_autocomplete(page, "id_bundle", "edge")
    page.select_option("#id_selector", "list")
    page.click("#id_devices_add_all")
    page.fill("#id_batch_size", "2")
    shot(page, "admin-05-deployment-form")
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")
    deployment = Deployment.objects.get(name="Agent 2.4.0 to all")
    assert deployment.state == "draft" and deployment.targets.count() == 3
    page.check(f"input[name=_selected_action][value='{deployment.pk}']")
    page.select_option("select[name=action]", "start")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist li.success")
    shot(page, "admin-06-deployment-started")
    deployment.refresh_from_db()
    assert deployment.state == "running"
    assert "0 of 3 updated" in page.inner_text("#result_list")
    page.goto(f"/admin/devices/deployment/{deployment.pk}/change/")
    shot(page, "admin-07-deployment-progress")
    assert page.locator("progress").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_student_is_refused_with_a_clear_page(page, make_user):
    from campus.tests.factories import StudentFactory

    student_user = with_password(make_user(role="student", username="s.ito"))
    StudentFactory(user=student_user)
    log_in(page, "s.ito")
    shot(page, "student-01-refused")
    body = page.inner_text("body")
    assert "this admin is for campus staff" in body and "student account" in body
    assert page.url.endswith("/admin/login/")
    # Not signed in, an admin page sends them to the sign-in form, never to a trace.
    page.goto("/admin/attendance/attendancerecord/")
    assert "/admin/login/" in page.url
    page.goto("/no-such-page/")
    shot(page, "student-02-not-found")
    assert "This page does not exist" in page.inner_text("body")
