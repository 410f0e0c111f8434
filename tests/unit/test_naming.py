"""Names of AWS resources and Channels groups."""

from __future__ import annotations

import re
import uuid

import pytest

from reactive_users.core import naming
from reactive_users.core.errors import ConfigError

CHANNELS_GROUP = re.compile(r"^[a-zA-Z\d\-_.]{1,99}$")


def test_resource_names_follow_the_prefix_and_client():
    assert naming.topic_name("reactive") == "reactive-users"
    assert naming.queue_name("reactive", "shop") == "reactive-shop"
    assert naming.dlq_name("reactive", "shop") == "reactive-shop-dlq"
    assert naming.queue_name("reactive", "shop", fifo=True) == "reactive-shop.fifo"
    assert naming.dlq_name("reactive", "shop", fifo=True) == "reactive-shop-dlq.fifo"


def test_the_longest_names_fit_sqs_limits():
    client = "a" * naming.MAX_CLIENT_NAME_CHARS
    assert len(naming.dlq_name("p" * 20, client, fifo=True)) <= 80


@pytest.mark.parametrize("name", ["", "Shop", "1shop", "shop_1", "shop.x", "a" * 41, "shöp"])
def test_invalid_client_names_are_refused_with_the_rule(name):
    with pytest.raises(ConfigError, match="lowercase letters, digits and '-'"):
        naming.check_client_name(name)


@pytest.mark.parametrize("prefix", ["", "Re", "a" * 21, "re_x"])
def test_invalid_prefixes_are_refused(prefix):
    with pytest.raises(ConfigError, match="invalid prefix"):
        naming.check_prefix(prefix)


@pytest.mark.parametrize("user_id", [1, 42, 2**63 - 1])
def test_user_groups_are_valid_channels_group_names_for_any_id(user_id):
    assert CHANNELS_GROUP.match(naming.user_group(user_id))
    assert CHANNELS_GROUP.match(naming.channel_layer_prefix("a" * 40))


def test_the_emit_reply_group_derives_from_the_event_id_and_is_a_channels_group_name():
    event_id = uuid.uuid4()
    group = naming.emit_reply_group(event_id)
    assert group == naming.emit_reply_group(str(event_id)) == f"emit.{event_id}"
    assert CHANNELS_GROUP.match(group)


def test_an_emit_reply_group_needs_a_uuid():
    with pytest.raises(ValueError):
        naming.emit_reply_group("e-1")
