from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def sync_schedule_after_migrate(sender, *, using="default", verbosity=1, **kwargs) -> None:
    """The periodic tasks are data beat cannot run without; create missing ones after every migrate."""
    from django.db import connections

    if "django_celery_beat_periodictask" not in connections[using].introspection.table_names():
        return  # a partial migrate (e.g. back to zero) left beat's tables out
    from .scheduling import sync_schedule

    report = sync_schedule()
    if verbosity >= 1 and report.created:
        print(f"  Periodic tasks created: {len(report.created)}")


class ConfigConfig(AppConfig):
    """The project's cross-cutting layer: errors, logging, health, metrics, operations."""

    name = "config"
    verbose_name = "Operations"

    def ready(self) -> None:
        from . import checks, pg_types, slow_queries
        from .backups import register_backup_metrics

        post_migrate.connect(sync_schedule_after_migrate, sender=self)
        connection_created.connect(pg_types.use_compiled_timestamp_loader)
        register_backup_metrics()
        slow_queries.install()
        checks.register()
