"""The local stack's plan: what runs, on which ports, in a config supervisord accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from reactive_cli import localstack
from reactive_cli.errors import ConfigError


def test_the_stack_runs_infrastructure_master_and_each_clients_web_and_listener(tmp_path: Path):
    layout = localstack.Layout(state_dir=tmp_path, clients=("shop", "blog"))
    names = [p.name for p in localstack.programs(layout, "/bin/redis-server")]
    assert names == ["moto", "redis", "master-web", "master-worker", "master-beat",
                     "shop-web", "shop-listener", "blog-web", "blog-listener"]  # fmt: skip
    assert layout.ports() == {"moto": 15000, "redis": 16379, "master": 8000, "shop": 8001,
                              "blog": 8002}  # fmt: skip


def test_every_process_talks_to_the_embedded_endpoint_and_redis_never_6379(tmp_path: Path):
    layout = localstack.Layout(state_dir=tmp_path)
    for program in localstack.programs(layout, "/bin/redis-server")[2:]:
        assert program.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:15000"
        assert program.env["REDIS_URL"] == "redis://127.0.0.1:16379/0"


def test_supervisord_accepts_the_generated_config(tmp_path: Path):
    layout = localstack.Layout(state_dir=tmp_path, clients=("shop",))
    programs = localstack.programs(layout, "/bin/redis-server")
    layout.config_path.write_text(localstack.render_config(layout, programs))
    (tmp_path / "logs").mkdir()

    options = ServerOptions()
    options.realize(["-c", str(layout.config_path)])

    groups = {g.name: g for g in options.process_group_configs}
    assert set(groups) == {p.name for p in programs}
    listener = groups["shop-listener"].process_configs[0]
    assert listener.stopsignal == 15 and listener.stopwaitsecs == 30
    assert listener.environment["REACTIVE_CLIENT"] == "shop"
    assert listener.command.endswith("-m client listen")


def test_client_names_on_the_command_line_are_checked():
    with pytest.raises(ConfigError, match="invalid client name 'Bad_Name'"):
        localstack.check_clients(["shop", "Bad_Name"])
