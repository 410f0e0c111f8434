"""``python -m reactive_cli`` is the ``reactive`` command."""

from reactive_cli.main import run

run()
