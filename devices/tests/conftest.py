from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from .factories import DeviceFactory, give_credential


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def device_client(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {credential}")
    return client


@pytest.fixture
def device(db):
    return DeviceFactory()


@pytest.fixture
def device_api(device):
    """An API client authenticated as `device`."""
    return device_client(give_credential(device))


@pytest.fixture
def staff_api(make_user, client_for):
    """Admin role: the one with manage_devices."""
    return client_for(make_user(role="admin", username="devices-admin"))
