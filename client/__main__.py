"""``python -m client <command>``: manage.py for a client (settings default: client.settings)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run a Django management command with this client's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "client.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["python -m client", *sys.argv[1:]])


if __name__ == "__main__":
    main()
