from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self) -> None:
        # Its purger, health component and status source are provided by cameras.composition.
        from . import schema  # noqa: F401 (registers the OpenAPI extension)
