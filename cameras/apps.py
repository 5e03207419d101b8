from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "cameras"
    verbose_name = "Cameras"

    def ready(self) -> None:
        # Its extension points (purgers, health, status, coverage) are provided by composition.extensions.
        from . import capture, metrics, services  # noqa: F401 (capture: its beat tasks)

        metrics.register_collectors()

        from campus.signals import face_consent_withdrawn

        face_consent_withdrawn.connect(
            services.erase_biometrics_on_withdrawal, dispatch_uid="cameras.erase_on_withdrawal"
        )
