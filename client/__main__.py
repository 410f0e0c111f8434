"""``python -m client <command>``: manage.py for a client (settings default: client.settings)."""

from __future__ import annotations

import os
import sys

from reactive_users.core import exitcodes
from reactive_users.core.errors import ConfigError


def main() -> None:
    """Run a Django management command with this client's settings.

    A settings error (``ConfigError``) is one line on stderr and exit 2, no traceback.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "client.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["python -m client", *sys.argv[1:]])
    except ConfigError as e:
        sys.stderr.write(f"ConfigError: {e}\n")
        raise SystemExit(exitcodes.USAGE) from None


if __name__ == "__main__":
    main()
