import pytest

from campus.tests.factories import TeacherFactory


@pytest.fixture
def teacher_user(make_user):
    """A staff user with a teacher profile."""
    user = make_user(role="staff", username="teacher1")
    TeacherFactory(user=user)
    return user
