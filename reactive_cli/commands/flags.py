"""``--help`` without a ``<bool>`` after every flag.

typer 0.29's rich help prints a value placeholder for every option, ``--help`` included,
and ``<bool>`` for a flag, which takes no value. The command classes here blank the
placeholder of every flag (a ``metavar`` of ""); ``reactive_cli.main`` and the ``dlq`` group
build their commands with them.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup


def _without_flag_placeholders(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = param.metavar or ""
    return params


class Command(TyperCommand):
    """A command whose flags show no ``<bool>`` in --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_flag_placeholders(list(super().get_params(ctx)))


class Group(TyperGroup):
    """A command group whose flags (``--help``) show no ``<bool>`` in --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_flag_placeholders(list(super().get_params(ctx)))
