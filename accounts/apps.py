from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from . import checks, schema  # noqa: F401  (register the system checks and the OpenAPI auth scheme)
        from .services import sync_roles_after_migrate

        # Role groups are data the app cannot run without; repair them after every migrate.
        post_migrate.connect(sync_roles_after_migrate, sender=self)
