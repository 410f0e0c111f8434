"""``listen``: the old name of ``reactive_listen``, kept so that existing process
definitions (``python -m client listen``, supervisord programs) keep working."""

from __future__ import annotations

from reactive_users.client.management.commands.reactive_listen import Command

__all__ = ["Command"]
