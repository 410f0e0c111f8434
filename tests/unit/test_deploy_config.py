"""supervisord accepts deploy/supervisord.conf, with the names and stop rules the CLI expects,
one secret, database and Redis per component, HTTPS behind the proxy, and the environment
the CI's `check --deploy` step (scripts/check-deploy) uses."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from supervisor.options import ServerOptions

from reactive_cli.supervisor import LISTENER_SUFFIX
from reactive_users.core.settings import OWN_VARIABLES, own_variable

CONF = Path(__file__).parents[2] / "deploy" / "supervisord.conf"
#: SQS's longest long poll: a listener finishes it after the first SIGTERM.
LONG_POLL_SECONDS = 20


@pytest.fixture
def options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerOptions:
    # Every %(ENV_X)s the file uses must be set, or supervisord refuses to start.
    for name in sorted(set(re.findall(r"%\(ENV_([A-Z0-9_]+)\)s", CONF.read_text()))):
        monkeypatch.setenv(name, str(tmp_path) if name.endswith("_DIR") else f"value-of-{name}")
    parsed = ServerOptions()
    parsed.realize(["-c", str(CONF)])
    return parsed


def test_supervisord_accepts_the_production_config(options: ServerOptions):
    groups = {g.name: [p.name for p in g.process_configs] for g in options.process_group_configs}
    assert groups == {
        "master-web": ["master-web"],
        "master-worker": ["master-worker-00", "master-worker-01"],
        "master-beat": ["master-beat"],
        "shop-web": ["shop-web"],
        "shop-listener": ["shop-listener-00", "shop-listener-01"],
    }


def test_every_program_stops_on_term_and_listeners_outwait_a_long_poll(options: ServerOptions):
    for group in options.process_group_configs:
        for process in group.process_configs:
            assert process.stopsignal == signal.SIGTERM, process.name
            assert process.stopasgroup and process.killasgroup, process.name
            if group.name.endswith(LISTENER_SUFFIX):
                assert process.stopwaitsecs > LONG_POLL_SECONDS, process.name


def test_the_xml_rpc_socket_is_private_to_its_owner(options: ServerOptions, tmp_path: Path):
    server = options.server_configs[0]
    assert (server["family"], server["file"], server["chmod"]) == (
        1,
        str(tmp_path / "supervisor.sock"),
        0o700,
    )


def test_prometheus_scrapes_every_metrics_port_supervisord_gives_out(options: ServerOptions):
    served = {
        f"127.0.0.1:{process.environment['REACTIVE_METRICS_PORT']}"
        for group in options.process_group_configs
        for process in group.process_configs
        if "REACTIVE_METRICS_PORT" in (process.environment or {})
    }
    config = yaml.safe_load((CONF.parent / "prometheus.yml").read_text())
    scraped = [
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    assert len(served) == 5  # master-web, two workers, two shop listeners
    assert sorted(scraped) == sorted(served)


def test_each_client_gets_its_own_websocket_origins(options: ServerOptions):
    for group in options.process_group_configs:
        for process in group.process_configs:
            env = process.environment or {}
            if env.get("DJANGO_SETTINGS_MODULE") == "client.settings":
                client = env["REACTIVE_CLIENT"].upper()
                expected = f"value-of-{client}_ALLOWED_ORIGINS"
                assert env["REACTIVE_ALLOWED_ORIGINS"] == expected, process.name


# --- One secret per component, HTTPS behind the proxy, `check --deploy` as CI runs it ------

#: Deployment variables every program may share: where things are, and the event signing
#: keys, which master and clients must hold alike (HMAC: docs/security.md says what that
#: leaves open).
SHARED = {
    "REACTIVE_PYTHON",
    "REACTIVE_RUN_DIR",
    "REACTIVE_LOG_DIR",
    "REACTIVE_SIGNING_KEYS",
    "REACTIVE_SIGNING_KEY_ID",
}


def component_of(process) -> str:
    return (process.environment or {}).get("REACTIVE_CLIENT", "master")


def processes(options: ServerOptions) -> list:
    return [p for group in options.process_group_configs for p in group.process_configs]


def check_deploy() -> ModuleType:
    """scripts/check-deploy, the CI step, as a module."""
    path = CONF.parents[1] / "scripts" / "check-deploy"
    loader = importlib.machinery.SourceFileLoader("check_deploy", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


def test_each_component_is_given_its_own_secret_database_and_redis_and_no_other(
    options: ServerOptions,
):
    own: dict[str, set[str]] = {}
    for process in processes(options):
        component, env = component_of(process), process.environment or {}
        for name, target in OWN_VARIABLES.items():
            assert env[target] == f"value-of-{own_variable(component, name)}", process.name
        given = {v.removeprefix("value-of-") for v in env.values() if v.startswith("value-of-")}
        foreign = sorted(n for n in given - SHARED if not n.startswith(own_variable(component, "")))
        assert foreign == [], process.name
        own.setdefault(component, set()).update(env[target] for target in OWN_VARIABLES.values())
    assert sorted(own) == ["master", "shop"]
    assert own["master"].isdisjoint(own["shop"])


def test_each_clients_channel_layer_and_the_masters_broker_use_their_own_redis_url(tmp_path):
    runs = {run.program: run for run in check_deploy().plan(CONF, tmp_path)}
    example = check_deploy().example_environment(CONF, tmp_path)
    code = {
        "master": "print(s.CELERY_BROKER_URL)",
        "client": "print(s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]['address'])",
    }
    for program, expected in [("master-web", "MASTER_REDIS_URL"), ("shop-web", "SHOP_REDIS_URL")]:
        run = runs[program]
        script = "import django; django.setup(); from django.conf import settings as s; "
        done = subprocess.run(
            [sys.executable, "-c", script + code[run.project]],
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"], **run.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == example[expected], program


def test_the_ci_deploy_check_runs_each_component_with_its_web_processes_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    module = check_deploy()
    example = module.example_environment(CONF, tmp_path)
    for name, value in example.items():
        monkeypatch.setenv(name, value)
    parsed = ServerOptions()
    parsed.realize(["-c", str(CONF)])
    given = {p.name: p.environment for p in processes(parsed)}

    runs = module.plan(CONF, tmp_path)

    assert [(r.program, r.project) for r in runs] == [
        ("master-web", "master"),
        ("shop-web", "client"),
    ]
    assert all(run.env == given[run.program] for run in runs)
    assert "check --deploy --fail-level WARNING" in " ".join(module.CHECK)
    assert "scripts/check-deploy" in (CONF.parents[1] / "scripts" / "check").read_text()
    secrets = [example[own_variable(c, "SECRET_KEY")] for c in ("master", "shop")]
    assert len(set(secrets)) == 2 and min(map(len, secrets)) >= 50  # Django's W009 bar


def test_web_processes_take_the_scheme_from_the_proxy_and_listen_on_loopback_only(
    options: ServerOptions,
):
    webs = [p for p in processes(options) if "-m daphne" in p.command]
    assert [p.name for p in webs] == ["master-web", "shop-web"]
    for process in webs:
        assert "--proxy-headers -b 127.0.0.1 " in process.command, process.name
        assert process.environment["DJANGO_SECURE_PROXY_SSL_HEADER"] == "X-Forwarded-Proto"


def test_every_program_creates_files_for_its_user_alone(options: ServerOptions):
    assert options.umask == 0o077


OWN = CONF.parent / "own-projects.supervisord.conf"


@pytest.fixture
def own_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerOptions:
    """deploy/own-projects.supervisord.conf merged, as its header says, into an operator's
    own supervisord.conf (here a minimal one)."""
    text = OWN.read_text()
    for name in sorted(set(re.findall(r"%\(ENV_([A-Z0-9_]+)\)s", text))):
        monkeypatch.setenv(name, str(tmp_path) if name.endswith("_DIR") else f"value-of-{name}")
    merged = tmp_path / "supervisord.conf"
    merged.write_text(f"[supervisord]\nlogfile={tmp_path}/supervisord.log\n\n{text}")
    parsed = ServerOptions()
    parsed.realize(["-c", str(merged)])
    return parsed


def test_the_own_projects_programs_parse_and_stop_as_the_listener_needs(own_options):
    groups = {g.name: g for g in own_options.process_group_configs}
    assert {name: [p.name for p in g.process_configs] for name, g in groups.items()} == {
        "identity-sweep": ["identity-sweep"],
        "names-listener": ["names-listener-00", "names-listener-01"],
    }
    for group in groups.values():
        for process in group.process_configs:
            assert process.stopsignal == signal.SIGTERM, process.name
            assert process.stopasgroup and process.killasgroup, process.name
            if group.name.endswith(LISTENER_SUFFIX):
                assert process.stopwaitsecs > LONG_POLL_SECONDS, process.name


def test_the_own_projects_programs_run_commands_our_apps_have(own_options):
    """Each program's ``manage.py`` command is one the master or client app provides, with
    the options it is given (a renamed command or option fails here, not on the VM), asked
    of the user-written test projects that install each app."""
    projects = {
        "publish_pending": "tests.projects.email_master.settings",
        "reactive_listen": "tests.projects.name_client.settings",
    }
    root = Path(__file__).parents[2]
    seen = set()
    for group in own_options.process_group_configs:
        argv = group.process_configs[0].command.split()
        assert argv[1] == "manage.py", argv
        name, options = argv[2], [o for o in argv[3:] if o.startswith("--")]
        # Not the placeholder REACTIVE_* values the fixture set for supervisord.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIVE_")}
        env.update(DJANGO_SETTINGS_MODULE=projects[name], PYTHONPATH=str(root))
        env.pop("DATABASE_URL", None)
        shown = subprocess.run(
            [sys.executable, "-m", "django", name, "--help"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr[-2000:]
        for option in options:
            assert option in shown.stdout, (name, option)
        seen.add(name)
    assert seen == set(projects)
