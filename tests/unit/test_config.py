"""reactive.toml: where it is found, what it becomes, and errors that name the key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactive_cli import config
from reactive_users.core.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "reactive.toml.example"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reactive.toml"
    path.write_text(text)
    return path


def load(path: Path) -> config.Config:
    return config.load(path, {}, path.parent, required=True)


def test_the_shipped_example_is_a_valid_config():
    cfg = load(EXAMPLE)
    assert (cfg.prefix, cfg.fifo) == ("reactive", False)
    assert [c.name for c in cfg.clients] == ["shop", "blog"]
    assert cfg.client("shop").listeners == 2


def test_a_full_config_becomes_frozen_dataclasses_with_the_given_options(tmp_path):
    path = write(
        tmp_path,
        """
prefix = "acme"
fifo = true
[clients.shop]
max_receive_count = 3
visibility_timeout = 60
listeners = 4
filter_policy = { action = ["created", "updated"] }
""",
    )
    cfg = load(path)
    shop = cfg.client("shop")
    assert (cfg.prefix, cfg.fifo, cfg.path) == ("acme", True, path)
    assert (shop.max_receive_count, shop.visibility_timeout, shop.listeners) == (3, 60, 4)
    assert shop.filter_policy_json() == '{"action":["created","updated"]}'


def test_omitted_options_take_the_defaults_and_the_prefix_comes_from_the_environment(tmp_path):
    cfg = config.load(
        write(tmp_path, "[clients.shop]\n"), {"REACTIVE_PREFIX": "env"}, tmp_path, required=True
    )
    assert cfg.prefix == "env" and not cfg.fifo
    assert cfg.client("shop") == config.ClientConfig(name="shop")


def test_the_flag_wins_over_the_variable_which_wins_over_the_working_directory(tmp_path):
    env = {"REACTIVE_CONFIG": "/from/env.toml"}
    assert config.locate(Path("/flag.toml"), env, tmp_path) == (Path("/flag.toml"), "--config")
    assert config.locate(None, env, tmp_path) == (Path("/from/env.toml"), "REACTIVE_CONFIG")
    assert config.locate(None, {}, tmp_path) == (
        tmp_path / "reactive.toml",
        "the working directory",
    )


def test_a_missing_file_says_where_it_looked_and_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError) as info:
        config.load(None, {"REACTIVE_CONFIG": str(tmp_path / "x.toml")}, tmp_path, required=False)
    assert str(info.value) == (
        f"no config file at {tmp_path / 'x.toml'} (from REACTIVE_CONFIG): copy "
        "reactive.toml.example to reactive.toml and edit it, or pass --config PATH"
    )


def test_without_a_file_in_the_working_directory_optional_loads_use_the_local_defaults(tmp_path):
    cfg = config.load(None, {}, tmp_path, required=False)
    assert cfg.path is None and [c.name for c in cfg.clients] == ["shop", "blog"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[clients.shop]\nmax_receive_count = 0\n",
            "reactive.toml: clients.shop.max_receive_count = 0: must be within 1..1000",
        ),
        (
            "[clients.shop]\nvisibility_timeout = -1\n",
            "reactive.toml: clients.shop.visibility_timeout = -1: "
            "must be within 0..43200 (seconds)",
        ),
        (
            "[clients.shop]\nlisteners = true\n",
            "reactive.toml: clients.shop.listeners = True: must be within 1..64",
        ),
        (
            "[clients.shop]\nmax_recieve_count = 3\n",
            "reactive.toml: unknown key clients.shop.max_recieve_count: allowed keys are "
            "filter_policy, listeners, max_receive_count, pythonpath, settings, visibility_timeout",
        ),
        (
            "prefx = 'a'\n[clients.shop]\n",
            "reactive.toml: unknown key prefx: allowed keys are clients, fifo, master, prefix",
        ),
        ("fifo = 'yes'\n[clients.shop]\n", "reactive.toml: fifo = 'yes': must be true or false"),
        (
            "prefix = 'a'\n",
            "reactive.toml: clients: add at least one client table, e.g. [clients.shop]",
        ),
        (
            "[clients.Shop]\n",
            "reactive.toml: clients.Shop: invalid client name 'Shop': use lowercase letters, "
            "digits and '-', starting with a letter, at most 40 characters",
        ),
        (
            "[clients]\nshop = 1\n",
            "reactive.toml: clients.shop must be a table: write [clients.shop]",
        ),
        (
            "[clients.shop]\nfilter_policy = 'created'\n",
            "reactive.toml: clients.shop.filter_policy = 'created': must be a non-empty SNS filter "
            'policy table, e.g. filter_policy = { action = ["created", "updated"] }',
        ),
        ("[clients.shop\n", None),
    ],
)
def test_invalid_values_name_the_file_the_key_and_the_fix(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text))
    if message is None:
        assert str(info.value).startswith(f"{tmp_path / 'reactive.toml'}: not valid TOML: ")
    else:
        assert str(info.value) == message


def test_an_unknown_client_names_the_known_ones(tmp_path):
    cfg = load(write(tmp_path, "[clients.shop]\n[clients.blog]\n"))
    with pytest.raises(ConfigError) as info:
        cfg.client("news")
    assert str(info.value) == "unknown client 'news' in reactive.toml: known clients: shop, blog"


def test_client_flags_without_a_file_provision_those_clients_with_default_options(tmp_path):
    cfg = config.with_clients(config.local_defaults({}), ["news"])
    assert cfg.path is None and cfg.clients == (config.ClientConfig(name="news"),)


@pytest.mark.parametrize(
    ("flag", "recorded", "env", "cwd_file", "source"),
    [
        (Path("f.toml"), True, {"REACTIVE_CONFIG": "e.toml"}, True, config.Source.FLAG),
        (None, True, {"REACTIVE_CONFIG": "e.toml"}, True, config.Source.LOCAL_STACK),
        (None, False, {"REACTIVE_CONFIG": "e.toml"}, True, config.Source.ENV),
        (None, False, {}, True, config.Source.WORKING_DIR),
        (None, False, {}, False, config.Source.DEFAULTS),
    ],
)
def test_one_rule_chooses_which_configuration_a_command_uses(flag, recorded, env, cwd_file, source):
    assert config.choose(flag=flag, stack_recorded=recorded, env=env, cwd_file=cwd_file) is source


def test_a_named_file_is_read_even_when_the_local_stack_wins_so_a_broken_one_is_an_error(
    tmp_path,
):
    env = {"REACTIVE_CONFIG": str(tmp_path / "missing.toml")}
    with pytest.raises(ConfigError, match="no config file at .*missing.toml .from REACTIVE_CONFIG"):
        config.resolve(None, env, tmp_path, stack_recorded=True)
    assert config.resolve(None, {}, tmp_path, stack_recorded=True) == (
        config.Source.LOCAL_STACK,
        None,
    )


def test_the_master_and_each_client_name_their_own_django_project(tmp_path):
    path = write(
        tmp_path,
        '[master]\nsettings = "identity.settings"\npythonpath = "../srv/identity"\n'
        '[clients.shop]\nsettings = "shop.settings"\npythonpath = ["/srv/shop", "lib"]\n'
        "[clients.blog]\n",
    )
    cfg = load(path)
    assert cfg.master == config.ProjectConfig(
        settings="identity.settings", pythonpath=(str((tmp_path / "../srv/identity").resolve()),)
    )
    assert cfg.client("shop").project == config.ProjectConfig(
        settings="shop.settings", pythonpath=("/srv/shop", str(tmp_path / "lib"))
    )
    # Left out, a component is this checkout's reference project
    assert cfg.client("blog").project == config.REFERENCE_CLIENT
    assert load(write(tmp_path, "[clients.shop]\n")).master == config.REFERENCE_MASTER


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[master]\nsettings = "identity/settings.py"\n[clients.shop]\n',
            "reactive.toml: master.settings = 'identity/settings.py': must be a dotted module "
            'name such as "mysite.settings"',
        ),
        (
            "[master]\npythonpath = 3\n[clients.shop]\n",
            "reactive.toml: master.pythonpath = 3: must be a directory or a list of them, "
            'e.g. "/srv/shop"',
        ),
        (
            '[master]\nsetings = "x.settings"\n[clients.shop]\n',
            "reactive.toml: unknown key master.setings: allowed keys are pythonpath, settings",
        ),
        ('master = "x"\n[clients.shop]\n', "reactive.toml: master must be a table: write [master]"),
    ],
)
def test_a_bad_project_table_names_the_key_and_the_fix(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text))
    assert str(e.value) == message
