"""``reactive emit-test``'s errors: one red line with the fix and an exit code that means it.

Delivery itself is proven end to end in ``tests/e2e/test_emit.py``.
"""

from __future__ import annotations

from devstack.processes import free_port
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core import exitcodes
from reactive_users.core.settings import Settings


def test_an_unknown_client_is_refused_naming_the_known_ones(reactive):
    ran = reactive("emit-test", "id:1", "--client", "nope")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == [
        "ConfigError: unknown client 'nope' in the local defaults (no reactive.toml): "
        "known clients: shop, blog"
    ]


def test_id_0_is_an_unknown_user(reactive):
    ran = reactive("emit-test", "id:0")
    assert ran.code == exitcodes.USAGE
    assert ran.err.splitlines() == ["UnknownUser: id:0: master user ids start at 1"]


def test_without_a_provisioned_topic_it_says_to_provision(reactive, prefix):
    ran = reactive("emit-test", "id:1", "--no-wait", REACTIVE_PREFIX=prefix)
    assert ran.code == exitcodes.NOT_PROVISIONED
    assert ran.err.splitlines() == [
        f"TopicNotFound: topic {prefix}-users does not exist: run provisioning first"
    ]


def test_an_unreachable_redis_is_one_line_naming_it(reactive, prefix, moto_endpoint):
    ensure(Settings(prefix=prefix, aws_endpoint_url=moto_endpoint), [ClientSpec(name="shop")])
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    ran = reactive(
        "emit-test", "id:1", "--client", "shop", REACTIVE_PREFIX=prefix, REDIS_URL=redis_url
    )
    assert ran.code == exitcodes.STACK
    assert len(ran.err.splitlines()) == 1
    assert ran.err.startswith(f"ChannelLayerError: channel layer at {redis_url} failed: ")
    assert ran.err.rstrip().endswith("is the stack's Redis running (REDIS_URL)?")
