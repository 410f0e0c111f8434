"""The local stack's plan: what runs, on which ports, in a config supervisord accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from reactive_cli import localstack
from reactive_users.core.errors import ConfigError


def test_the_stack_runs_infrastructure_master_and_each_clients_web_and_listener(tmp_path: Path):
    layout = localstack.Layout(state_dir=tmp_path, clients=("shop", "blog"))
    names = [p.name for p in localstack.programs(layout, "/bin/redis-server")]
    assert names == [
        "moto",
        "redis",
        "master-web",
        "master-worker",
        "master-beat",
        "shop-web",
        "shop-listener",
        "blog-web",
        "blog-listener",
    ]
    assert layout.ports() == {
        "moto": 15000,
        "redis": 16379,
        "master": 8000,
        "shop": 8001,
        "blog": 8002,
    }


def test_infra_only_runs_moto_and_redis_alone_and_holds_no_project_port(tmp_path: Path):
    layout = localstack.Layout(state_dir=tmp_path, clients=("shop",), infra_only=True)
    assert [p.name for p in localstack.programs(layout, "/bin/redis-server")] == ["moto", "redis"]
    assert layout.ports() == {"moto": 15000, "redis": 16379}
    layout.record_path.write_text(json.dumps(layout.as_json()))
    assert localstack.Layout.recorded(tmp_path) == layout


def test_the_projects_run_with_this_checkout_first_on_their_python_path(tmp_path: Path):
    layout = localstack.Layout(state_dir=tmp_path, clients=("shop",))
    root = str(Path(__file__).resolve().parents[2])
    for program in localstack.programs(layout, "/bin/redis-server")[2:]:
        assert program.env["PYTHONPATH"].split(":")[0] == root, program.name


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
    assert listener.command.endswith("-m client listen --wait-seconds 20")
    assert options.umask == 0o077  # what the stack's processes create is their owner's alone


def test_listeners_per_client_become_numprocs_named_client_listener_nn(tmp_path: Path):
    layout = localstack.Layout(state_dir=tmp_path, clients=("shop", "blog"), listeners={"shop": 3})
    programs = localstack.programs(layout, "/bin/redis-server")
    layout.config_path.write_text(localstack.render_config(layout, programs))
    (tmp_path / "logs").mkdir()

    options = ServerOptions()
    options.realize(["-c", str(layout.config_path)])

    groups = {g.name: [p.name for p in g.process_configs] for g in options.process_group_configs}
    assert groups["shop-listener"] == ["shop-listener-00", "shop-listener-01", "shop-listener-02"]
    assert groups["blog-listener"] == ["blog-listener"]


def test_each_clients_sockets_accept_only_its_own_pages_origins(tmp_path: Path):
    layout = localstack.Layout(
        state_dir=tmp_path,
        clients=("shop", "blog"),
        bind=localstack.Ports(clients=(20003, 20004)),
    )
    assert layout.client_env("shop")["REACTIVE_ALLOWED_ORIGINS"] == (
        "http://127.0.0.1:20003,http://localhost:20003"
    )
    assert layout.client_env("blog")["REACTIVE_ALLOWED_ORIGINS"] == (
        "http://127.0.0.1:20004,http://localhost:20004"
    )


def test_ports_and_an_operators_redis_url_replace_the_defaults(tmp_path: Path):
    layout = localstack.Layout(
        state_dir=tmp_path,
        clients=("shop",),
        bind=localstack.Ports(moto=20001, master=20002, clients=(20003,)),
        redis_url="redis://127.0.0.1:7777/1",
    )
    names = [p.name for p in localstack.programs(layout, "/bin/redis-server")]
    assert "redis" not in names  # the operator's Redis: none started
    assert layout.ports() == {"moto": 20001, "master": 20002, "shop": 20003}
    assert layout.common_env()["REDIS_URL"] == "redis://127.0.0.1:7777/1"
    assert layout.common_env()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:20001"


def test_the_layout_up_records_is_the_layout_later_commands_read(tmp_path: Path):
    layout = localstack.Layout(
        state_dir=tmp_path,
        clients=("shop",),
        bind=localstack.Ports(moto=20001, clients=(20003,)),
        listeners={"shop": 2},
        listener_wait_seconds=3,
    )
    layout.record_path.write_text(json.dumps(layout.as_json()))
    assert localstack.Layout.recorded(tmp_path) == layout
    assert localstack.Layout.recorded(tmp_path / "elsewhere") is None


def test_a_busy_port_is_named_with_the_option_that_moves_it():
    message = localstack.port_in_use_message([("moto", 15000), ("shop", 8001)])
    assert message == (
        "ports already in use: 15000 (moto; --moto-port / REACTIVE_MOTO_PORT), 8001 (shop; "
        "--client-port / REACTIVE_CLIENT_PORTS): stop what listens there, or choose free ports "
        "with the options named"
    )


def test_one_port_per_client_or_none():
    with pytest.raises(ConfigError, match="give one --client-port / REACTIVE_CLIENT_PORTS per"):
        localstack.Layout(
            state_dir=Path("/x"), clients=("shop", "blog"), bind=localstack.Ports(clients=(1,))
        )


def test_client_names_on_the_command_line_are_checked():
    with pytest.raises(ConfigError, match="invalid client name 'Bad_Name'"):
        localstack.check_clients(["shop", "Bad_Name"])


def test_up_clients_n_names_the_first_two_shop_and_blog_then_more():
    assert localstack.client_names(1) == ("shop",)
    assert localstack.client_names(2) == localstack.DEFAULT_CLIENTS
    assert localstack.client_names(8)[-3:] == ("docs", "client7", "client8")
    with pytest.raises(ConfigError, match=r"--clients 0: must be within 1\.\.20"):
        localstack.client_names(0)
