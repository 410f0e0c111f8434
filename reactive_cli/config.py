"""``reactive.toml``: the topic prefix, FIFO or not, the clients with their options, and the
Django project (settings module, Python path) the master and each client run as.

Which configuration a command uses is one rule, ``RULE`` (``choose`` is it in code): a
file named by ``--config``, else the local stack ``reactive up`` recorded, else
``$REACTIVE_CONFIG``, else ``./reactive.toml``, else the local defaults. Parsed with
stdlib ``tomllib`` into frozen dataclasses; every error is a ``ConfigError`` naming the file,
the key and the fix. Unknown keys are errors, so a typo is never silently ignored.
Stdlib-only (no boto3, typer or Django), so loading it stays cheap.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from reactive_cli.checkout import reference_pythonpath
from reactive_users.core import naming
from reactive_users.core.errors import ConfigError

#: The file looked for in the working directory when neither flag nor variable names one.
DEFAULT_FILE = "reactive.toml"
#: The environment variable naming the file (after ``--config``).
CONFIG_ENV = "REACTIVE_CONFIG"
#: Clients the local defaults have when there is no config file (as ``reactive up``).
LOCAL_CLIENTS = ("shop", "blog")
#: Receives of one message before SQS moves it to the dead-letter queue.
DEFAULT_MAX_RECEIVE_COUNT = 5
#: Seconds a received message stays invisible to other listeners.
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30
#: Listener processes per client (supervisord ``numprocs``).
DEFAULT_LISTENERS = 1
#: SQS bounds on the dead-letter threshold; visibility timeout in seconds; our process cap.
MAX_RECEIVE_COUNT_RANGE = (1, 1000)
VISIBILITY_TIMEOUT_RANGE = (0, 12 * 3600)
LISTENERS_RANGE = (1, 64)

#: The reference projects of this checkout, which ``reactive up`` runs.
REFERENCE_MASTER_SETTINGS = "master.settings"
REFERENCE_CLIENT_SETTINGS = "client.settings"

_TOP_KEYS = {"prefix", "fifo", "clients", "master"}
_PROJECT_KEYS = {"settings", "pythonpath"}
_CLIENT_KEYS = {"max_receive_count", "visibility_timeout", "listeners", "filter_policy"}
_CLIENT_KEYS |= _PROJECT_KEYS


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """The Django project a component runs as: its settings module, and directories put
    before the Python path so that the module imports (absolute, or relative to the file)."""

    settings: str
    pythonpath: tuple[str, ...] = ()


#: The defaults: this checkout's reference projects, imported from the checkout's root (they
#: are not installed packages: ``reactive_cli.checkout``).
REFERENCE_MASTER = ProjectConfig(
    settings=REFERENCE_MASTER_SETTINGS, pythonpath=reference_pythonpath()
)
REFERENCE_CLIENT = ProjectConfig(
    settings=REFERENCE_CLIENT_SETTINGS, pythonpath=reference_pythonpath()
)


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """One client: its name and the options of its queue, subscription and listeners."""

    name: str
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
    listeners: int = DEFAULT_LISTENERS
    #: An SNS filter policy (on message attributes); None delivers every event.
    filter_policy: Mapping[str, Any] | None = None
    #: The client's Django project (default: the reference client project).
    project: ProjectConfig = REFERENCE_CLIENT

    def filter_policy_json(self) -> str | None:
        """The filter policy as canonical JSON (sorted keys), as SNS stores it."""
        if self.filter_policy is None:
            return None
        return json.dumps(self.filter_policy, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole configuration; ``path`` is None for the local defaults."""

    path: Path | None
    prefix: str
    fifo: bool = False
    clients: tuple[ClientConfig, ...] = field(default_factory=tuple)
    #: The master's Django project (default: the reference master project).
    master: ProjectConfig = REFERENCE_MASTER
    #: Where a configuration with no file came from, for messages.
    where: str = "the local defaults (no reactive.toml)"

    @property
    def source(self) -> str:
        """Where this configuration came from, for messages."""
        return self.path.name if self.path else self.where

    def client(self, name: str) -> ClientConfig:
        """The client called ``name``; ``ConfigError`` naming the known clients if absent."""
        for client in self.clients:
            if client.name == name:
                return client
        known = ", ".join(c.name for c in self.clients) or "none"
        raise ConfigError(f"unknown client {name!r} in {self.source}: known clients: {known}")


class Source(StrEnum):
    """Where a command's configuration comes from, in the order ``choose`` tries them."""

    FLAG = "--config"
    LOCAL_STACK = "the local stack"
    ENV = CONFIG_ENV
    WORKING_DIR = "the working directory"
    DEFAULTS = "the local defaults"


#: Which configuration every command uses, as its --help states it (``choose`` in code).
RULE = (
    "Configuration: --config FILE if given; else the local stack `reactive up` recorded in "
    "STATE_DIR (its clients, ports and endpoint); else $REACTIVE_CONFIG; else ./reactive.toml; "
    "else the local defaults (clients shop and blog). A file named by --config or "
    "$REACTIVE_CONFIG must exist and be valid (exit 2)."
)


def choose(
    *, flag: Path | None, stack_recorded: bool, env: Mapping[str, str], cwd_file: bool
) -> Source:
    """Where the configuration comes from (``RULE``): ``flag`` is --config, ``stack_recorded``
    whether STATE_DIR holds a local stack, ``cwd_file`` whether ./reactive.toml exists."""
    if flag is not None:
        return Source.FLAG
    if stack_recorded:
        return Source.LOCAL_STACK
    if env.get(CONFIG_ENV):
        return Source.ENV
    return Source.WORKING_DIR if cwd_file else Source.DEFAULTS


def resolve(
    flag: Path | None, env: Mapping[str, str], cwd: Path, *, stack_recorded: bool
) -> tuple[Source, Config | None]:
    """The configuration a command uses (``RULE``): its source, and the ``Config`` (None when
    the local stack is used: the caller reads its record). Every file named by --config or
    $REACTIVE_CONFIG is read, used or not, so a missing or invalid one is always an error."""
    named = {Source.FLAG: flag, Source.ENV: Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None}
    loaded = {source: read(path, source, env) for source, path in named.items() if path}
    cwd_file = cwd / DEFAULT_FILE
    source = choose(flag=flag, stack_recorded=stack_recorded, env=env, cwd_file=cwd_file.is_file())
    if source is Source.LOCAL_STACK:
        return source, None
    if source in loaded:
        return source, loaded[source]
    if source is Source.WORKING_DIR:
        return source, read(cwd_file, source, env)
    return source, local_defaults(env)


def locate(flag: Path | None, env: Mapping[str, str], cwd: Path) -> tuple[Path, str]:
    """The config file to read and how it was chosen (flag > environment > working directory)."""
    if flag is not None:
        return flag, "--config"
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]), CONFIG_ENV
    return cwd / DEFAULT_FILE, "the working directory"


def load(flag: Path | None, env: Mapping[str, str], cwd: Path, *, required: bool) -> Config:
    """Load the config; with ``required=False`` a missing ``./reactive.toml`` means defaults.

    A file named by ``--config`` or ``$REACTIVE_CONFIG`` must always exist.
    """
    path, how = locate(flag, env, cwd)
    if not required and how == "the working directory" and not path.is_file():
        return local_defaults(env)
    return read(path, how, env)


def read(path: Path, how: str, env: Mapping[str, str]) -> Config:
    """The config file at ``path`` (named by ``how``, for messages); ConfigError if it is
    missing or invalid."""
    if not path.is_file():
        raise ConfigError(
            f"no config file at {path} (from {how}): copy reactive.toml.example to "
            f"{DEFAULT_FILE} and edit it, or pass --config PATH"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return parse(data, path=path, env=env)


def with_clients(cfg: Config, names: Iterable[str]) -> Config:
    """``cfg`` with exactly these clients, each with default options (what
    ``reactive provision --client NAME`` does with the local defaults)."""
    clients = tuple(ClientConfig(name=naming.check_client_name(n)) for n in names)
    return replace(cfg, clients=clients)


def local_defaults(env: Mapping[str, str]) -> Config:
    """The local stack's configuration: clients shop and blog with default options."""
    prefix = naming.check_prefix(env.get("REACTIVE_PREFIX") or naming.DEFAULT_PREFIX)
    return Config(
        path=None, prefix=prefix, clients=tuple(ClientConfig(name=n) for n in LOCAL_CLIENTS)
    )


def parse(data: Mapping[str, Any], *, path: Path, env: Mapping[str, str]) -> Config:
    """Validate parsed TOML into a ``Config``; every error names ``path`` and the key."""
    where = path.name
    _no_unknown(data, _TOP_KEYS, where, "")
    prefix = data.get("prefix", env.get("REACTIVE_PREFIX") or naming.DEFAULT_PREFIX)
    if not isinstance(prefix, str):
        raise ConfigError(f'{where}: prefix = {prefix!r}: must be a string such as "reactive"')
    try:
        naming.check_prefix(prefix)
    except ConfigError as e:
        raise ConfigError(f"{where}: prefix: {e}") from None
    fifo = data.get("fifo", False)
    if not isinstance(fifo, bool):
        raise ConfigError(f"{where}: fifo = {fifo!r}: must be true or false")
    clients = data.get("clients")
    if not isinstance(clients, dict) or not clients:
        raise ConfigError(f"{where}: clients: add at least one client table, e.g. [clients.shop]")
    parsed = tuple(_client(name, table, path) for name, table in clients.items())
    master = REFERENCE_MASTER
    if "master" in data:
        table = data["master"]
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: master must be a table: write [master]")
        _no_unknown(table, _PROJECT_KEYS, where, "master.")
        master = _project(table, path, "master", REFERENCE_MASTER)
    return Config(path=path, prefix=prefix, fifo=fifo, clients=parsed, master=master)


def _project(
    table: Mapping[str, Any], path: Path, key: str, default: ProjectConfig
) -> ProjectConfig:
    """The ``settings`` and ``pythonpath`` of a ``[master]`` or ``[clients.NAME]`` table."""
    where = f"{path.name}: {key}"
    settings = table.get("settings", default.settings)
    if not isinstance(settings, str) or not all(p.isidentifier() for p in settings.split(".")):
        raise ConfigError(
            f"{where}.settings = {settings!r}: must be a dotted module name such as "
            '"mysite.settings"'
        )
    raw = table.get("pythonpath", [])
    raw = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise ConfigError(
            f'{where}.pythonpath = {raw!r}: must be a directory or a list of them, e.g. "/srv/shop"'
        )
    dirs = tuple(str((path.parent / p).resolve()) for p in raw)
    if "pythonpath" not in table and settings == default.settings:
        dirs = default.pythonpath  # the reference project, from this checkout
    return ProjectConfig(settings=settings, pythonpath=dirs)


def _client(name: str, table: Any, path: Path) -> ClientConfig:
    where, key = path.name, f"clients.{name}"
    try:
        naming.check_client_name(name)
    except ConfigError as e:
        raise ConfigError(f"{where}: {key}: {e}") from None
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {key} must be a table: write [clients.{name}]")
    _no_unknown(table, _CLIENT_KEYS, where, f"{key}.")
    values: dict[str, Any] = {"name": name}
    for option, bounds, unit in (
        ("max_receive_count", MAX_RECEIVE_COUNT_RANGE, ""),
        ("visibility_timeout", VISIBILITY_TIMEOUT_RANGE, " (seconds)"),
        ("listeners", LISTENERS_RANGE, ""),
    ):
        if option in table:
            values[option] = _int_within(table[option], bounds, f"{where}: {key}.{option}", unit)
    if "filter_policy" in table:
        values["filter_policy"] = _filter_policy(table["filter_policy"], f"{where}: {key}")
    values["project"] = _project(table, path, key, REFERENCE_CLIENT)
    return ClientConfig(**values)


def _int_within(value: Any, bounds: tuple[int, int], what: str, unit: str) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{what} = {value!r}: must be within {low}..{high}{unit}")
    return value


def _filter_policy(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            f"{what}.filter_policy = {value!r}: must be a non-empty SNS filter policy table, "
            'e.g. filter_policy = { action = ["created", "updated"] }'
        )
    return value


def _no_unknown(table: Mapping[str, Any], allowed: set[str], where: str, scope: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {scope}{unknown[0]}: allowed keys are "
            f"{', '.join(sorted(allowed))}"
        )
