from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "cameras"
    verbose_name = "Cameras"

    def ready(self) -> None:
        from . import capture, composition, metrics, services  # noqa: F401 (capture: its beat tasks)

        # Every extension point of every app (purgers, health, status, coverage), in one module.
        composition.provide_all()

        metrics.register_collectors()

        from campus.signals import face_consent_withdrawn

        face_consent_withdrawn.connect(
            services.erase_biometrics_on_withdrawal, dispatch_uid="cameras.erase_on_withdrawal"
        )
