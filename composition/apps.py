from django.apps import AppConfig


class CompositionConfig(AppConfig):
    """Last in INSTALLED_APPS: every app is loaded when it provides their extension points."""

    name = "composition"
    verbose_name = "Composition"

    def ready(self) -> None:
        from . import extensions

        extensions.provide_all()
