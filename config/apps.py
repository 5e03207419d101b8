from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project's cross-cutting layer: errors, logging, health, metrics, operations."""

    name = "config"
    verbose_name = "Operations"
