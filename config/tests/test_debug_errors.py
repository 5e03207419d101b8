"""`make run` sets DEBUG=1: /api/ errors must stay in the error format there too,
and the site root (where the admin's "View site" leads) is a landing page."""

import pytest
from django.test import Client

from .test_errors import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


def test_unknown_api_path_under_debug_is_404_in_the_error_format(debug_on):
    response = Client().get("/api/v1/no/such/thing")
    assert_error(response, 404, "not_found")
    assert b"URLconf" not in response.content  # not Django's debug page listing every pattern


def test_unknown_api_root_path_under_debug_is_404_in_the_error_format(debug_on):
    assert_error(Client().get("/api/nothing-here"), 404, "not_found")


@pytest.mark.urls("config.tests.error_views")
def test_crash_outside_drf_under_debug_is_500_without_a_trace(debug_on):
    response = Client(raise_request_exception=False).get("/api/v1/test/plain-crash")
    assert_error(response, 500, "server_error")
    assert b"secret internal detail" not in response.content
    assert b"Traceback" not in response.content


def test_non_api_paths_keep_django_pages_under_debug(debug_on):
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("debug", [True, False])
def test_site_root_links_to_the_admin_the_api_docs_and_health(settings, debug):
    settings.DEBUG = debug
    response = Client().get("/")
    assert response.status_code == 200
    page = response.content.decode()
    for link in (f'href="/{settings.ADMIN_URL}"', 'href="/api/docs/"', 'href="/health/ready"'):
        assert link in page


def test_admin_view_site_link_leads_to_the_landing_page(settings, admin_user):
    client = Client()
    client.force_login(admin_user)
    admin_page = client.get(f"/{settings.ADMIN_URL}")
    assert admin_page.status_code == 200
    assert 'href="/"' in admin_page.content.decode()  # "View site"
    assert "API documentation" in client.get("/").content.decode()
