"""supervisord accepts deploy/supervisord.conf, with the names and stop rules the CLI expects."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
import yaml
from supervisor.options import ServerOptions

from reactive_cli.supervisor import LISTENER_SUFFIX

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
        1, str(tmp_path / "supervisor.sock"), 0o700
    )  # fmt: skip


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
