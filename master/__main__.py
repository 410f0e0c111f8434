"""``python -m master <command>``: Django's manage.py for the master project."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run a management command with ``master.settings`` unless told otherwise."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "master.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["python -m master", *sys.argv[1:]])


if __name__ == "__main__":
    main()
