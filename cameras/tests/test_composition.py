"""Every extension point holds what cameras.composition provides, and nothing else provides one."""

from pathlib import Path

from attendance import services as attendance_services
from cameras import composition as extensions
from cameras import retention as camera_retention
from cameras import selectors as camera_selectors
from config import health, retention, status
from devices import selectors as device_selectors

ROOT = Path(__file__).resolve().parents[2]


def test_every_point_holds_what_the_composition_provides():
    assert health.components.entries() == extensions.HEALTH_COMPONENTS
    assert retention.purgers.entries() == extensions.PURGERS
    assert status.sources.entries() == extensions.STATUS_SOURCES
    assert attendance_services.coverage_providers.entries() == extensions.COVERAGE_PROVIDERS
    assert status.sources.entries()["devices"] is device_selectors.fleet_status
    assert retention.purgers.entries()["face_sightings"] is camera_retention.purge_sightings
    assert attendance_services.coverage_providers.entries() == {"cameras": camera_selectors.session_camera_coverage}


def test_providing_again_changes_nothing():
    before = retention.purgers.entries()
    extensions.provide_all()
    assert retention.purgers.entries() == before


def test_replaced_restores_the_provided_entries():
    provided = status.sources.entries()
    with status.sources.replaced({"probe": dict}) as point:
        assert point.entries() == {"probe": dict}
    assert status.sources.entries() == provided


def test_no_module_outside_the_composition_provides_a_point():
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("accounts", "campus", "attendance", "cameras", "devices", "config")
        for path in (ROOT / package).rglob("*.py")
        if "tests" not in path.parts and path.name != "composition.py" and ".provide(" in path.read_text()
    ]
    assert offenders == []
