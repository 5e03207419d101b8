#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Commands that read only the code (models, migrations, wiring), never data or secrets: with DEBUG not set they
# load the development settings, so a fresh checkout can check itself. `check --deploy` judges production's.
CODE_ONLY_COMMANDS = {"makemigrations", "check", "help"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command in CODE_ONLY_COMMANDS and "--deploy" not in sys.argv:
        os.environ.setdefault("DEBUG", "1")

    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    # Django would keep a settings refusal to itself and fail later with "Models aren't loaded yet".
    try:
        settings.INSTALLED_APPS  # noqa: B018 (loads the settings)
    except ImproperlyConfigured as refusal:
        sys.exit(f"manage.py {command}: {refusal}\nIn development, set DEBUG=1 (in the environment or in .env).")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
