from django.core.management.base import BaseCommand

from accounts.roles import roles_markdown_table


class Command(BaseCommand):
    help = "Prints the role -> permission matrix from accounts/roles.py as the README's Markdown table."

    def handle(self, *args, **options):
        self.stdout.write(roles_markdown_table())
