from __future__ import annotations

import hashlib
from datetime import timedelta

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from devices import keys
from devices.choices import DeviceState
from devices.models import Bundle, Device, DeviceCredential, DeviceGroup, RegistrationToken


class DeviceGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeviceGroup

    name = factory.Sequence(lambda n: f"group-{n}")


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    serial = factory.Sequence(lambda n: f"SN-{n:05d}")
    name = factory.LazyAttribute(lambda o: f"Box {o.serial}")
    state = DeviceState.ACTIVE
    registered_at = factory.LazyFunction(timezone.now)


def make_token(**kwargs) -> tuple[RegistrationToken, str]:
    """A registration token row and its plaintext."""
    issued = keys.issue()
    defaults = {"expires_at": timezone.now() + timedelta(hours=1), "max_uses": 5}
    defaults.update(kwargs)
    token = RegistrationToken.objects.create(prefix=issued.prefix, secret_hash=issued.secret_hash, **defaults)
    return token, issued.plaintext


def give_credential(device: Device) -> str:
    """A live credential for `device`; returns the plaintext."""
    issued = keys.issue()
    DeviceCredential.objects.create(device=device, prefix=issued.prefix, secret_hash=issued.secret_hash)
    return issued.plaintext


class BundleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bundle

    class Params:
        content = b"bundle-bytes"

    name = "agent"
    version = factory.Sequence(lambda n: f"1.0.{n}")
    file = factory.LazyAttribute(lambda o: ContentFile(o.content, name=f"{o.name}-{o.version}.bundle"))
    size_bytes = factory.LazyAttribute(lambda o: len(o.content))
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.content).hexdigest())
