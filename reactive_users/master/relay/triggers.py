"""After a commit: start publishing the rows it recorded, by the path REACTIVE_RELAY names.

``thread`` hands the row to this process's publisher thread (``publisher.py``); ``celery``
enqueues one relay task, coalesced (``kicks.py``). Neither raises nor waits on SNS: what
is not published this way is the sweep's.
"""

from __future__ import annotations

from reactive_users.master import conf
from reactive_users.master.relay import kicks
from reactive_users.master.relay.publisher import PUBLISHER


def kick(row_id: int) -> None:
    """Publish the committed row ``row_id`` now, by the configured relay path."""
    if conf.relay_mode() == "thread":
        PUBLISHER.submit(row_id)
        return
    kicks.enqueue_relay(conf.celery_app(), conf.reactive_settings().prefix)
