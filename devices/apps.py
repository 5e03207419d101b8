from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self) -> None:
        from config.health import register_component
        from config.retention import register_purger

        from . import schema, selectors, services  # noqa: F401 (schema registers the OpenAPI extension)

        register_purger("device_heartbeats", services.prune_heartbeats)
        register_component("devices", lambda: selectors.fleet_status())
