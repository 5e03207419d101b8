from django.apps import AppConfig


class CamerasConfig(AppConfig):
    name = "cameras"
    verbose_name = "Cameras"

    def ready(self) -> None:
        from attendance.dashboard import register_status_source
        from attendance.services import register_coverage_provider
        from config.health import register_component
        from config.retention import register_purger

        from . import capture, metrics, retention, selectors, services  # noqa: F401 (capture: its beat tasks)

        register_coverage_provider(selectors.session_camera_coverage)
        register_status_source("cameras", selectors.camera_status_counts)
        # attendance may not import devices; cameras may import both, so it wires them.
        from devices.selectors import fleet_status

        register_status_source("devices", fleet_status)
        register_purger("camera_frames", retention.purge_frames)
        register_purger("unknown_face_crops", retention.purge_unknown_faces)
        register_purger("face_sightings", retention.purge_sightings)
        register_purger("enrolment_photos", retention.purge_enrolment_photos)
        register_purger("biometric_orphan_files", retention.purge_orphan_files)
        register_component("cameras", selectors.camera_health)
        metrics.register_collectors()

        from campus.signals import face_consent_withdrawn

        face_consent_withdrawn.connect(
            services.erase_biometrics_on_withdrawal, dispatch_uid="cameras.erase_on_withdrawal"
        )
