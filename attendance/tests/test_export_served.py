"""The export under real gunicorn: a client that hangs up stops the server reading records."""

from __future__ import annotations

import datetime as dt
import socket

import httpx
import pytest
from django.db import connection

from attendance.models import AttendanceRecord
from attendance.tests.conftest import DAY
from attendance.tests.factories import AttendanceRecordFactory, StudentFactory
from attendance.tests.test_api import make_sessions
from config.tests.fault_tools import ServedApp, bearer, database_url_for, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HUNG_UP = "CSV export stopped: the client hung up"


def export_path() -> str:
    return f"/api/v1/attendance/reports/export?date_from={DAY}&date_to={DAY + dt.timedelta(days=30)}"


@pytest.fixture
def served_export(admin_user, section, room):
    """20 sessions of 150 students (3,000 rows, many blocks) and gunicorn serving them."""
    students = StudentFactory.create_batch(150)
    AttendanceRecord.objects.bulk_create(
        AttendanceRecordFactory.build(session=session, student=student)
        for session in make_sessions(20, section, room) for student in students
    )
    env = {"DEBUG": "1", "DATABASE_URL": database_url_for(connection.settings_dict), "LOG_LEVEL": "INFO"}
    with ServedApp(env, workers=1, threads=2) as app:
        yield app, bearer(admin_user)


def test_a_client_that_hangs_up_after_the_first_bytes_stops_the_export(served_export):
    app, auth = served_export
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as client:
        client.sendall(f"GET {export_path()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Authorization: {auth['Authorization']}\r\n\r\n".encode())
        received = b""
        while b"student_number" not in received:  # the response head and the CSV header
            received += client.recv(4096)
    assert received.startswith(b"HTTP/1.1 200")

    wait_until(lambda: HUNG_UP in app.log.read_text(), timeout=15, what="the export to notice the hang-up")
    [line] = [line for line in app.log.read_text().splitlines() if HUNG_UP in line]
    assert "rows_sent" in line


def test_a_client_that_reads_on_gets_every_row(served_export):
    app, auth = served_export
    response = httpx.get(f"{app.base_url}{export_path()}", headers=auth, timeout=30)
    assert response.status_code == 200
    assert len(response.text.strip().splitlines()) == 1 + 3000
    assert HUNG_UP not in app.log.read_text()
