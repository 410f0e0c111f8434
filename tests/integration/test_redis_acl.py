"""Two clients' channel layers on one real redis-server, each through its own ACL user and
database (the README's commands: reactive_cli/redis_acl.py). Each layer works; neither client's
credentials reach the other's keys or the master's broker. The same attack through the one
shared user of the old deployment succeeds: the control that shows the probe is real.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from channels_redis.core import RedisChannelLayer

from reactive_cli import redis_acl
from reactive_users.core import naming
from tests.support import security

AREA = "deployment: redis"
REFUSED = "refused by the ACL"
#: Each client's database number, as in the README's example.
DATABASES = {"shop": 1, "blog": 2}


@pytest.fixture
def urls(redis_url: str) -> Iterator[dict[str, str]]:
    """Users ``shop`` and ``blog`` made by the README's commands; each one's REDIS_URL."""
    where = urlsplit(redis_url).netloc
    admin = redis.Redis.from_url(redis_url)
    found = {}
    for client, db in DATABASES.items():
        password = secrets.token_urlsafe(16)
        admin.execute_command(*redis_acl.client_setuser(client, password))
        found[client] = f"redis://{client}:{password}@{where}/{db}"
    yield found
    for client in DATABASES:
        admin.execute_command("ACL", "DELUSER", client)
    admin.close()


def on_db(url: str, number: int) -> str:
    """``url`` with another database number."""
    return f"{url.rsplit('/', 1)[0]}/{number}"


def layer(url: str, client: str) -> RedisChannelLayer:
    """A channel layer as ``client``'s settings make it, on ``url``."""
    return RedisChannelLayer(hosts=[url], prefix=naming.channel_layer_prefix(client))


async def refused(action: Awaitable[Any]) -> str:
    """What became of a channel-layer call: refused for want of permission, or done."""
    try:
        await action
    except redis.exceptions.NoPermissionError:
        return REFUSED
    return "done"


def refused_now(call: Callable[..., Any], *args: Any) -> str:
    """What became of one redis-py command."""
    try:
        call(*args)
    except redis.exceptions.NoPermissionError:
        return REFUSED
    except redis.exceptions.ResponseError as e:
        if "can't access" not in str(e):  # what Redis says of a script's refused command
            raise
        return REFUSED
    return "done"


def probe(attack: str, expected: str, observed: str) -> None:
    security.record(area=AREA, attack=attack, expected=expected, observed=observed)


@pytest.mark.asyncio
async def test_each_clients_channel_layer_works_through_its_own_user(urls: dict[str, str]):
    for client, url in urls.items():
        own = layer(url, client)
        channel = await own.new_channel()
        await own.group_add("user.7", channel)
        await own.group_send("user.7", {"type": "user.changed", "to": client})
        await own.send(channel, {"type": "user.recheck"})

        received = [await own.receive(channel), await own.receive(channel)]

        assert received == [{"type": "user.changed", "to": client}, {"type": "user.recheck"}]
        await own.group_discard("user.7", channel)
        await own.close_pools()


def test_a_clients_own_settings_run_its_channel_layer_through_its_user(
    urls: dict[str, str], tmp_path: Path
):
    # Given client shop's settings with its own REDIS_URL, as deploy/supervisord.conf gives it
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "client.settings",
        "REACTIVE_CLIENT": "shop",
        "REDIS_URL": urls["shop"],
        "REACTIVE_STATE_DIR": str(tmp_path),
    }

    # When its channel layer (client/settings.py's options) does what its daphne and listener do
    done = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then it works, on shop's user
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["user.changed", urls["shop"].split("@")[0] + "@"]


#: A group message and its receipt through the settings' own layer, and the user it connected as.
ROUND_TRIP = """
import asyncio, django
django.setup()
from channels.layers import get_channel_layer
async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("user.7", channel)
    await layer.group_send("user.7", {"type": "user.changed"})
    print((await layer.receive(channel))["type"])
    print(layer.hosts[0]["address"].split("@")[0] + "@")
asyncio.run(main())
"""


@pytest.mark.asyncio
async def test_a_clients_redis_user_cannot_reach_another_clients_keys_or_the_broker(
    urls: dict[str, str], redis_url: str
):
    # Given blog's socket of user 7 in its group, and a frame's worth of shop's credentials
    blog = layer(urls["blog"], "blog")
    socket = await blog.new_channel()
    await blog.group_add("user.7", socket)
    group_key = f"{naming.channel_layer_prefix('blog')}:group:user.7"
    socket_key = naming.channel_layer_prefix("blog") + socket.split("!")[0] + "!"
    frame = {"type": "user.changed", "first_name": "forged"}
    shop = redis.Redis.from_url(urls["shop"])
    shop_on_blogs_db = redis.Redis.from_url(on_db(urls["shop"], 2))
    as_blog = layer(on_db(urls["shop"], 2), "blog")  # shop's user, blog's keys

    # When shop's user tries what a compromised shop would, Then Redis refuses each
    attempts = {
        (
            "client shop's Redis user sends a frame to blog's group (blog's prefix, blog's db)"
        ): await refused(as_blog.group_send("user.7", frame)),
        "client shop's Redis user reads blog's group (its sockets' channel names)": refused_now(
            shop_on_blogs_db.zrange, group_key, 0, -1
        ),
        (
            "client shop's Redis user reads blog's group from a Lua script (EVAL, key in ARGV)"
        ): refused_now(
            shop_on_blogs_db.eval, "return redis.call('ZRANGE', ARGV[1], 0, -1)", 0, group_key
        ),
        "client shop's Redis user lists the keys (KEYS *)": refused_now(shop.keys, "*"),
        "client shop's Redis user pushes a task onto the master's Celery queue": refused_now(
            shop.lpush, "celery", "{}"
        ),
    }
    with redis.Redis.from_url(on_db(redis_url, 2)) as admin:
        queued = admin.zcard(socket_key)
    attempts["blog's socket after those attempts"] = f"{queued} frame(s) queued"
    expected = dict.fromkeys(attempts, REFUSED) | {
        "blog's socket after those attempts": "0 frame(s) queued"
    }
    for attack, observed in attempts.items():
        probe(attack, expected[attack], observed)
    assert attempts == expected

    # (the control: through one user shared by every component, as before, the frame arrives)
    shared = layer(on_db(redis_url, 2), "blog")
    await shared.group_send("user.7", frame)
    with redis.Redis.from_url(on_db(redis_url, 2)) as admin:
        assert admin.zcard(socket_key) == 1  # the key counted above is the socket's
    assert await blog.receive(socket) == frame
    for closing in (blog, as_blog, shared):
        await closing.close_pools()
    shop.close()
    shop_on_blogs_db.close()


def test_the_readme_gives_exactly_the_acl_rules_these_tests_run():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    master = redis_acl.setuser("master", "MASTER_REDIS_PASSWORD", redis_acl.MASTER_RULES)
    shop = redis_acl.client_setuser("shop", "SHOP_REDIS_PASSWORD")

    assert f"\n{' '.join(master)}\n" in readme
    assert f"\n{' '.join(shop)}\n" in readme
    assert "~reactive.shop:group:* ~reactive.shopspecific.* resetchannels -@all" in " ".join(shop)
