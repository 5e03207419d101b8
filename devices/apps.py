from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self) -> None:
        from config.health import register_component
        from config.retention import register_purger

        from . import selectors, services

        register_purger("device_heartbeats", services.prune_heartbeats)
        register_component("devices", lambda: selectors.fleet_status())
