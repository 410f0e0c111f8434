"""The one generated place for what provisioning produced: ``<state dir>/resources.json``.

``reactive provision`` records the topic ARN and each client's queue and DLQ URLs here
(written atomically); ``reactive teardown`` removes them. Master and clients read it when
``REACTIVE_TOPIC_ARN`` / ``REACTIVE_QUEUE_URL`` are not set: the environment wins, then this
file, then a lookup by name. Entries are per prefix and only used for the same endpoint and
region they were made for. Stdlib-only and read on demand, so settings stay cheap.

Shape::

    {"version": 1, "stacks": {"<prefix>": {"endpoint_url": ..., "region": ...,
     "topic_arn": ..., "clients": {"<name>": {"queue_url": ..., "dlq_url": ...}}}}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reactive_users.core.errors import ConfigError
from reactive_users.core.files import write_atomic
from reactive_users.core.statedir import private_dir

#: The file's name inside the state directory.
FILE_NAME = "resources.json"
#: The version of the file's shape; another version is refused with a fix.
VERSION = 1


def path(state_dir: Path) -> Path:
    """Where the generated resources file lives."""
    return state_dir / FILE_NAME


def read(state_dir: Path) -> dict[str, Any]:
    """The whole file's data; an empty structure when there is no file."""
    file = path(state_dir)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": VERSION, "stacks": {}}
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"{file}: unreadable ({e}): delete it and run `reactive provision`"
        ) from e
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ConfigError(
            f"{file}: not a version {VERSION} file: delete it and run `reactive provision`"
        )
    return data


def stack(
    state_dir: Path, prefix: str, *, endpoint_url: str | None, region: str
) -> Mapping[str, Any] | None:
    """The recorded entry for ``prefix`` if it was made for this endpoint and region."""
    entry = read(state_dir)["stacks"].get(prefix)
    if not isinstance(entry, dict):
        return None
    if entry.get("endpoint_url") != endpoint_url or entry.get("region") != region:
        return None
    return entry


def topic_arn(state_dir: Path, prefix: str, *, endpoint_url: str | None, region: str) -> str | None:
    """The recorded topic ARN for ``prefix``, or None."""
    entry = stack(state_dir, prefix, endpoint_url=endpoint_url, region=region)
    value = entry.get("topic_arn") if entry else None
    return str(value) if value else None


def queue_url(
    state_dir: Path, prefix: str, client: str, *, endpoint_url: str | None, region: str
) -> str | None:
    """The recorded queue URL of ``client`` under ``prefix``, or None."""
    entry = stack(state_dir, prefix, endpoint_url=endpoint_url, region=region)
    value = (entry or {}).get("clients", {}).get(client, {}).get("queue_url")
    return str(value) if value else None


def record(
    state_dir: Path,
    prefix: str,
    produced: Mapping[str, Any],
    *,
    endpoint_url: str | None,
    region: str,
) -> Path:
    """Merge ``produced`` (``Provisioned.as_json()``) into the file for ``prefix``."""
    data = read(state_dir)
    old = data["stacks"].get(prefix) or {}
    same_place = old.get("endpoint_url") == endpoint_url and old.get("region") == region
    clients = dict(old.get("clients", {})) if same_place else {}
    clients.update(produced["clients"])
    data["stacks"][prefix] = {
        "endpoint_url": endpoint_url,
        "region": region,
        "topic_arn": produced["topic_arn"],
        "clients": clients,
    }
    return _write(state_dir, data)


def forget(state_dir: Path, prefix: str, clients: list[str] | None = None) -> Path | None:
    """Remove ``clients`` (None: the whole prefix) from the file; returns it if it exists."""
    if not path(state_dir).exists():
        return None
    data = read(state_dir)
    entry = data["stacks"].get(prefix)
    if entry is None:
        return path(state_dir)
    if clients is None:
        del data["stacks"][prefix]
    else:
        for name in clients:
            entry.get("clients", {}).pop(name, None)
    return _write(state_dir, data)


def recorded_clients(state_dir: Path, prefix: str) -> list[str]:
    """Client names recorded for ``prefix`` (whatever the endpoint)."""
    entry = read(state_dir)["stacks"].get(prefix) or {}
    return sorted(entry.get("clients", {}))


def _write(state_dir: Path, data: Mapping[str, Any]) -> Path:
    """Write atomically (``files.write_atomic``) in the private state directory."""
    private_dir(state_dir)
    return write_atomic(path(state_dir), json.dumps(data, indent=2, sort_keys=True) + "\n")
