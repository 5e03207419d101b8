"""Every list endpoint costs the same number of queries whatever the page size.

Each request, as a (non-superuser) teacher:
  1. the user behind the bearer token, with its own and its group's permissions
     (one query: accounts.selectors.user_with_permissions)
  2. COUNT(*) for the paginator
  3. the page, with its foreign keys joined (select_related)
  (+ one prefetch of the section teachers for sections)
"""

import pytest

from campus.tests import factories as f

pytestmark = pytest.mark.django_db

ROWS = 6
BASE = 3  # user with its permissions, count, page

LISTS = {
    "buildings": BASE,
    "rooms": BASE,
    "departments": BASE,
    "courses": BASE,
    "terms": BASE,
    "sections": BASE + 1,  # + teachers prefetch
    "students": BASE,
    "enrolments": BASE,
    "teachers": BASE,
    "timetable-slots": BASE,
    "complaints": BASE,  # comment_count is an annotation, not a query per row
    "complaint-comments": BASE,
}


@pytest.fixture
def campus_rows(teacher_user, make_user):
    """ROWS of every kind, all visible to teacher_user."""
    student_author = make_user(role="student")
    sections = []
    for _ in range(ROWS):
        section = f.SectionFactory(teachers=[teacher_user, f.TeacherFactory().user])
        sections.append(section)
        f.EnrolmentFactory(section=section)
        f.TimetableSlotFactory(section=section)
        complaint = f.ComplaintFactory(author=student_author, assignee=teacher_user, room=f.RoomFactory())
        f.ComplaintCommentFactory(complaint=complaint)
        f.ComplaintCommentFactory(complaint=complaint, author=teacher_user)
    return sections


@pytest.mark.parametrize("endpoint", list(LISTS))
@pytest.mark.parametrize("page_size", [1, ROWS])
def test_list_query_count_does_not_grow_with_page_size(
    client_for, teacher_user, campus_rows, django_assert_num_queries, endpoint, page_size
):
    client = client_for(teacher_user)
    with django_assert_num_queries(LISTS[endpoint]):
        response = client.get(f"/api/v1/{endpoint}?page_size={page_size}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] >= ROWS
    assert len(body["results"]) == page_size


@pytest.fixture
def nested_list(request):
    """A list under one object, holding ROWS rows: (the user who reads it, its path, its other parameters)."""
    if request.param == "roster":
        teacher_user = request.getfixturevalue("teacher_user")
        section = f.SectionFactory(teachers=[teacher_user])
        f.EnrolmentFactory.create_batch(ROWS, section=section)
        return teacher_user, f"/api/v1/sections/{section.pk}/roster", {"date": "2026-10-01"}
    complaint = f.ComplaintFactory()
    f.ComplaintCommentFactory.create_batch(ROWS, complaint=complaint)
    return request.getfixturevalue("staff_user"), f"/api/v1/complaints/{complaint.pk}/comments", {}


@pytest.mark.parametrize(
    ("nested_list", "queries"),
    [
        # user with its permissions, the section (get_object) and its teachers (prefetch),
        # is it taught by me, COUNT(*), the page
        pytest.param("roster", 6, id="roster"),
        # user with its permissions, the complaint (get_object), COUNT(*), the page with authors
        pytest.param("complaint-comments", 4, id="complaint-comments"),
    ],
    indirect=["nested_list"],
)
@pytest.mark.parametrize("page_size", [1, ROWS])
def test_nested_list_query_count_is_constant(client_for, nested_list, queries, django_assert_num_queries, page_size):
    user, path, params = nested_list
    client = client_for(user)
    with django_assert_num_queries(queries):
        response = client.get(path, {**params, "page_size": page_size})
    assert response.json()["count"] == ROWS
    assert len(response.json()["results"]) == page_size
