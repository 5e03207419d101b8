"""The records changelist says how many rows there are without counting a million of them, and never lies."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from attendance.tests.factories import AttendanceRecordFactory
from config.admin_pagination import HonestCountPaginator

pytestmark = pytest.mark.django_db

URL = "/admin/attendance/attendancerecord/"


def shown_count(client, url: str = URL, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    paginator = re.search(r'<p class="paginator">(.*?)</p>', response.content.decode(), re.S).group(1)
    return re.sub(r"<[^>]+>|\s+", " ", paginator).strip()


@pytest.fixture
def admin_browser(client, admin_user):
    client.force_login(admin_user)
    return client


def test_a_small_table_is_counted_exactly(admin_browser):
    AttendanceRecordFactory.create_batch(3)
    assert shown_count(admin_browser).endswith("3 attendance records")


def test_a_big_table_shows_the_planners_estimate_as_an_estimate(admin_browser, monkeypatch):
    AttendanceRecordFactory.create_batch(4)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE attendance_attendancerecord")
    monkeypatch.setattr(HonestCountPaginator, "COUNT_CAP", 2)
    assert shown_count(admin_browser).endswith("about 4 attendance records")


def test_a_filtered_list_past_the_cap_says_more_than(admin_browser, monkeypatch):
    AttendanceRecordFactory.create_batch(4, status="absent")
    AttendanceRecordFactory(status="present")
    monkeypatch.setattr(HonestCountPaginator, "COUNT_CAP", 2)
    assert shown_count(admin_browser, status__exact="absent").endswith("more than 2 attendance records")
    monkeypatch.setattr(HonestCountPaginator, "COUNT_CAP", 10)
    assert shown_count(admin_browser, status__exact="absent").endswith("4 attendance records")


def test_the_changelist_runs_no_count_of_the_table(admin_browser, django_assert_num_queries, monkeypatch):
    AttendanceRecordFactory.create_batch(4)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE attendance_attendancerecord")
    monkeypatch.setattr(HonestCountPaginator, "COUNT_CAP", 2)
    # 1 the session; 2 its user; 3 the planner's estimate (pg_class); 4 the page with its joins
    with django_assert_num_queries(4):
        admin_browser.get(URL)
