"""The range export as a download: rows in session then student order, whatever path reads them,
and a stream that starts with the header alone and grows its blocks."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from attendance import selectors
from attendance.csv_export import _csv_chunks
from attendance.tests.conftest import DAY
from attendance.tests.test_list_queries import add_records, add_sessions

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/attendance/reports/export"


def _download(client, **params):
    params = {"date_from": DAY.isoformat(), "date_to": (DAY + dt.timedelta(days=30)).isoformat(), **params}
    response = client.get(EXPORT, params)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("block_rows", [2, 500])  # 2: every session by keyset blocks; 500: many per query
def test_each_session_is_complete_in_date_then_student_order(client_for, teacher, section, room, students,
                                                             monkeypatch, block_rows):
    monkeypatch.setattr(selectors, "EXPORT_BLOCK_ROWS", block_rows)
    # Made latest first, so that id order is not date order.
    sessions = list(reversed(add_sessions(6, section, room)))
    add_records(sessions, students, teacher)
    rows = _download(client_for(teacher))
    by_date = sorted(sessions, key=lambda s: s.date)
    by_id = sorted(students, key=lambda s: s.pk)
    assert [(r["date"], r["student_number"]) for r in rows] == [
        (session.date.isoformat(), student.student_number) for session in by_date for student in by_id
    ]
    first = rows[0]
    assert (first["course"], first["section"], first["room"]) == (section.course.code, section.code, room.code)
    assert first["scheduled_start"] == by_date[0].scheduled_start.isoformat()
    assert first["marked_by"] == teacher.username
    assert first["student_name"] == by_id[0].full_name


def test_the_range_export_shows_what_the_admin_export_shows(client_for, teacher, section, room, students):
    from attendance.models import AttendanceRecord

    add_records(add_sessions(2, section, room), students, teacher)
    api = list(selectors.export_range_rows(
        AttendanceRecord.objects.all(), date_from=DAY, date_to=DAY + dt.timedelta(days=5)
    ))
    admin = list(selectors.export_rows(AttendanceRecord.objects.all()))
    assert api[0] == admin[0] == selectors.CSV_HEADER
    assert sorted(api[1:]) == sorted(admin[1:])
    assert len(api) == 1 + 2 * len(students)


def test_the_stream_sends_the_header_alone_then_growing_blocks():
    rows = [["h1", "h2"]] + [[str(i), "x"] for i in range(400)]
    chunks = list(_csv_chunks(rows, rows_per_chunk=150))
    assert chunks[0] == "h1,h2\r\n"
    assert [chunk.count("\n") for chunk in chunks[1:]] == [50, 100, 150, 100]
    assert "".join(chunks) == "".join(f"{a},{b}\r\n" for a, b in rows)


def test_once_the_client_has_gone_no_more_rows_are_read():
    pulled: list[int] = []

    def rows():
        yield ["h"]
        for i in range(1000):
            pulled.append(i)
            yield [str(i)]

    chunks: list[str] = []
    # The client hangs up once it has the header and the first block.
    for chunk in _csv_chunks(rows(), client_gone=lambda: len(chunks) >= 2):
        chunks.append(chunk)
    assert [chunk.count("\n") for chunk in chunks] == [1, 50]
    assert len(pulled) == 50


def test_an_empty_export_is_the_header():
    assert list(_csv_chunks([["h"]])) == ["h\r\n"]


def test_the_export_keeps_to_its_range_the_live_sessions_the_filters_and_what_the_user_sees(
    client_for, teacher, section, room, students
):
    """The range, cancelled sessions and the section/course filters bound the sessions the blocks
    read; the visibility rule and the student filter bound the records themselves."""
    from attendance.choices import SessionStatus
    from attendance.tests.factories import EnrolmentFactory

    inside, cancelled = add_sessions(2, section, room)
    [later] = add_sessions(1, section, room, start=40)  # after date_to
    cancelled.status = SessionStatus.CANCELLED
    cancelled.save()
    # Another teacher's section in the same days: not the teacher's to see.
    other_section = EnrolmentFactory(student=students[0]).section
    [other] = add_sessions(1, other_section, room)
    add_records([inside, cancelled, later], students, teacher)
    add_records([other], students[:1], None)
    client = client_for(teacher)

    rows = _download(client)
    assert {(r["date"], r["section"]) for r in rows} == {(inside.date.isoformat(), section.code)}
    assert len(rows) == len(students)
    assert len(_download(client, section=section.pk)) == len(students)
    assert len(_download(client, course=section.course.pk)) == len(students)
    assert [r["student_number"] for r in _download(client, student=students[1].pk)] == [students[1].student_number]
