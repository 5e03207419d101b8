"""Query counts of the cameras lists, and the sightings list's keyset pages.

Each count names its queries. The token's user comes with its permissions (the
user's own and its role group's) in one query (accounts.selectors.user_with_permissions).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cameras.choices import SightingOutcome
from cameras.models import FaceSighting, Frame, UnknownFace, UnknownFaceGroup
from campus.tests.factories import StudentFactory

from .factories import CameraFactory

pytestmark = pytest.mark.django_db

SIGHTINGS = "/api/v1/face-sightings"
NOW = timezone.now()


@pytest.fixture
def camera(room):
    return CameraFactory(room=room)


def add_sightings(camera, n, *, start=0, student=None):
    return FaceSighting.objects.bulk_create(
        FaceSighting(camera=camera, room_id=camera.room_id, seen_at=NOW - dt.timedelta(seconds=start + i),
                     student=student, outcome=SightingOutcome.MARKED if student else SightingOutcome.UNKNOWN)
        for i in range(n)
    )


def test_sightings_list_is_one_page_query_without_count(client_for, staff_user, camera, django_assert_num_queries):
    client = client_for(staff_user)
    add_sightings(camera, 2)
    # 1 the token's user with its permissions; 2 one page of sightings (the table alone, no COUNT)
    with django_assert_num_queries(2):
        small = client.get(SIGHTINGS)
    add_sightings(camera, 40, start=2)
    with django_assert_num_queries(2):
        big = client.get(SIGHTINGS)
    assert (len(small.json()["results"]), len(big.json()["results"])) == (2, 42)
    assert "count" not in big.json()


def test_sightings_pages_latest_first_and_filters_still_apply(client_for, staff_user, camera):
    student = StudentFactory()
    mine = add_sightings(camera, 5, student=student)
    add_sightings(camera, 3, start=100)
    client = client_for(staff_user)
    first = client.get(SIGHTINGS, {"student": student.pk, "page_size": 3}).json()
    second = client.get(first["next"]).json()
    assert [row["id"] for row in first["results"] + second["results"]] == [s.pk for s in mine]
    assert second["next"] is None
    # Same second: the id breaks the tie, newest id first.
    same = FaceSighting.objects.bulk_create(
        FaceSighting(camera=camera, room_id=camera.room_id, seen_at=NOW + dt.timedelta(hours=1)) for _ in range(3)
    )
    top = client.get(SIGHTINGS, {"page_size": 2}).json()
    rest = client.get(top["next"]).json()
    assert [row["id"] for row in top["results"] + rest["results"][:1]] == sorted((s.pk for s in same), reverse=True)


def test_frame_list_query_count_does_not_grow(client_for, staff_user, camera, django_assert_num_queries):
    client = client_for(staff_user)

    def add_frames(n, start):
        Frame.objects.bulk_create(
            Frame(camera=camera, captured_at=NOW - dt.timedelta(seconds=start + i), sha256=f"{start + i:064x}")
            for i in range(n)
        )

    add_frames(2, 0)
    url = f"/api/v1/cameras/{camera.pk}/frames"
    # 1 the token's user with its permissions; 2 the camera; 3 COUNT of its frames (a camera's
    # frames are purged after processing: few); 4 one page of frames
    with django_assert_num_queries(4):
        client.get(url)
    add_frames(20, 2)
    with django_assert_num_queries(4):
        response = client.get(url)
    assert response.json()["count"] == 22


def test_unknown_face_lists_query_counts_do_not_grow(client_for, staff_user, camera, django_assert_num_queries):
    from django.contrib.auth.models import Permission

    # Faces seen outside any class are reviewed by staff with campus-wide duties.
    staff_user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts",
                                                           codename="view_all_students"))
    client = client_for(staff_user)

    def add_faces(n):
        group = UnknownFaceGroup.objects.create(centroid_ciphertext=b"x", engine_name="e", engine_version="1",
                                                size=n, last_seen_at=NOW)
        for sighting in add_sightings(camera, n):
            UnknownFace.objects.create(sighting=sighting, camera=camera, seen_at=sighting.seen_at, group=group,
                                       embedding_ciphertext=b"x", engine_name="e", engine_version="1")

    add_faces(1)
    # 1 the token's user with its permissions; 2 COUNT; 3 one page with camera, room, group and
    # sighting joined
    with django_assert_num_queries(3):
        client.get("/api/v1/unknown-faces")
    # 1 the token's user with its permissions; 2 COUNT; 3 one page of groups with pending counts
    with django_assert_num_queries(3):
        client.get("/api/v1/unknown-face-groups")
    add_faces(6)
    with django_assert_num_queries(3):
        faces = client.get("/api/v1/unknown-faces")
    with django_assert_num_queries(3):
        groups = client.get("/api/v1/unknown-face-groups")
    assert (faces.json()["count"], groups.json()["count"]) == (7, 2)


@pytest.mark.parametrize("filled", [True, False])
def test_sighting_representation_is_what_the_declared_fields_give(camera, filled):
    from rest_framework import serializers as drf

    from cameras.api.serializers import FaceSightingSerializer

    [sighting] = add_sightings(camera, 1, student=StudentFactory() if filled else None)
    if filled:
        sighting.box, sighting.distance, sighting.runner_up_distance = [10, 80, 90, 20], 0.41, 0.63
        sighting.match_reason, sighting.tracked, sighting.needs_review = "match", True, True
        sighting.save()
    sighting = FaceSighting.objects.get(pk=sighting.pk)
    fast = FaceSightingSerializer(sighting).data
    generic = drf.ModelSerializer.to_representation(FaceSightingSerializer(), sighting)
    assert list(fast.items()) == list(generic.items())
    # And a listed row (plain rows, as the list reads them) is shown the same.
    from cameras.api.serializers import sighting_rows_data
    from cameras.selectors import sighting_rows

    [listed] = sighting_rows_data(list(sighting_rows().filter(pk=sighting.pk)))
    assert list(listed.items()) == list(fast.items())
