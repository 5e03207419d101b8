from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project's cross-cutting layer: errors, logging, health, metrics, operations."""

    name = "config"
    verbose_name = "Operations"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers OpenAPI auth extensions)
