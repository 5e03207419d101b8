from django.core.management.base import BaseCommand

from accounts.services import sync_roles


class Command(BaseCommand):
    help = "Creates or repairs the four role groups and their permissions (idempotent)."

    def handle(self, *args, **options):
        counts = sync_roles()
        for role, count in counts.items():
            self.stdout.write(f"{role}: {count} permissions")
        self.stdout.write(self.style.SUCCESS("Roles are in sync."))
