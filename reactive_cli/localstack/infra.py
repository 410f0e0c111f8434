"""What ``reactive up --infra-only`` gives the operator's own projects: the endpoints of the
embedded SNS/SQS and Redis, and the environment variables their master and clients need.

``up --infra-only`` runs moto and Redis alone, provisions the topic and the queues of the
clients named (``--client``, ``--clients`` or a reactive.toml: none with the local defaults,
so no demo client's queue appears unasked), migrates and seeds nothing. Pure: read from the
``Layout`` and the ``resources.json`` provisioning wrote.
"""

from __future__ import annotations

import shlex
from typing import Any

from reactive_cli.localstack.layout import Layout
from reactive_users.core import resources
from reactive_users.core.settings import SIGNING_KEY_FILE


def endpoints(layout: Layout) -> dict[str, str]:
    """What answers where: SNS/SQS (moto) and Redis."""
    env = layout.common_env()
    return {"SNS/SQS (moto)": env["AWS_ENDPOINT_URL"], "Redis": env["REDIS_URL"]}


def shared_environment(layout: Layout) -> dict[str, str]:
    """The variables the master and every client need, as shell-ready ``NAME=value`` text
    (the signing keys as ``$(cat FILE)``: the key file the stack made, never its value)."""
    env = layout.common_env()
    found = {
        name: shlex.quote(env[name])
        for name in (
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "REDIS_URL",
            "REACTIVE_PREFIX",
        )
    }
    topic = _stack(layout).get("topic_arn")
    if topic:
        found["REACTIVE_TOPIC_ARN"] = shlex.quote(str(topic))
    keys = shlex.quote(str(layout.state_dir / SIGNING_KEY_FILE))
    found["REACTIVE_SIGNING_KEYS"] = f'"$(cat {keys})"'
    return found


def client_environment(layout: Layout) -> dict[str, dict[str, str]]:
    """Per provisioned client, what its project adds: its name and its queue."""
    queues = _stack(layout).get("clients") or {}
    return {
        name: {
            "REACTIVE_CLIENT": shlex.quote(name),
            "REACTIVE_QUEUE_URL": shlex.quote(str(queues.get(name, {}).get("queue_url", ""))),
        }
        for name in layout.clients
    }


def _stack(layout: Layout) -> dict[str, Any]:
    """What provisioning recorded for this stack's prefix (empty if nothing)."""
    found = resources.read(layout.state_dir).get("stacks", {}).get(layout.prefix, {})
    return found if isinstance(found, dict) else {}
