"""The emit-test delivery report: acks in, one record per client and a summary out."""

from __future__ import annotations

from reactive_users.core.delivery import (
    ClientDelivery,
    Collector,
    failed_clients,
    listener_ack,
    percentile,
    socket_ack,
    summary_line,
)

E1, E2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def collector(*events: str, clients: tuple[str, ...] = ("shop", "blog")) -> Collector:
    return Collector(published=dict.fromkeys(events, 100.0), clients=list(clients))


def test_a_client_is_delivered_once_its_listener_acked_every_event():
    c = collector(E1, E2)
    c.add("shop", listener_ack(event_id=E1, client="shop", listener="h:1", at=100.010))
    assert not c.complete()
    c.add("shop", listener_ack(event_id=E2, client="shop", listener="h:2", at=100.030))
    c.add("blog", listener_ack(event_id=E1, client="blog", listener="h:3", at=100.020))
    assert not c.complete()
    c.add("blog", listener_ack(event_id=E2, client="blog", listener="h:3", at=100.020))
    assert c.complete()
    shop, blog = c.report()
    assert shop == ClientDelivery(
        client="shop", events=2, delivered=2, listeners=("h:1", "h:2"), listener_ms=(10.0, 30.0)
    )
    assert blog.ok and blog.listeners == ("h:3",)


def test_a_duplicate_delivery_counts_once_with_its_first_time():
    c = collector(E1, clients=("shop",))
    for at in (100.050, 100.020):
        c.add("shop", listener_ack(event_id=E1, client="shop", listener="h:1", at=at))
    (shop,) = c.report()
    assert (shop.delivered, shop.listener_ms) == (1, (20.0,))


def test_sockets_are_counted_once_each_and_timed_per_event():
    c = collector(E1, E2, clients=("shop",))
    for event_id, channel, at in ((E1, "a", 100.004), (E2, "a", 100.006), (E1, "b", 100.008)):
        c.add("shop", socket_ack(event_id=event_id, client="shop", channel=channel, at=at))
    (shop,) = c.report()
    assert (shop.sockets, shop.socket_ms, shop.delivered) == (2, (4.0, 6.0, 8.0), 0)


def test_acks_of_other_events_other_clients_or_malformed_are_ignored():
    c = collector(E1, clients=("shop",))
    assert not c.add("shop", listener_ack(event_id=E2, client="shop", listener="h", at=1.0))
    assert not c.add("blog", listener_ack(event_id=E1, client="blog", listener="h", at=1.0))
    assert not c.add("shop", {"type": "emit.ack", "hop": "listener", "event_id": E1, "at": "x"})
    assert not c.add("shop", {"type": "emit.ack", "hop": "other", "event_id": E1, "at": 1.0})
    assert c.report()[0].delivered == 0


def test_percentile_is_nearest_rank_and_none_when_empty():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 1.0) == 4.0


def test_the_json_form_gives_p50_and_max_or_null():
    d = ClientDelivery(client="blog", events=1, delivered=1, listener_ms=(5.0,))
    assert d.as_json() == {
        "client": "blog",
        "delivered": True,
        "events_delivered": 1,
        "events": 1,
        "listeners": [],
        "sockets": 0,
        "publish_to_listener_ms": {"p50": 5.0, "max": 5.0},
        "publish_to_socket_ms": None,
    }


def test_the_summary_names_every_client_that_did_not_deliver():
    deliveries = [
        ClientDelivery(client="shop", events=2, delivered=2, listener_ms=(3.0, 9.5), sockets=1),
        ClientDelivery(client="blog", events=2, delivered=1),
        ClientDelivery(client="wiki", events=2, delivered=0),
    ]
    assert failed_clients(deliveries) == ["blog", "wiki"]
    assert summary_line(deliveries, user="ana", timeout=10) == (
        "FAILED: blog, wiki did not deliver within 10 s: check their listeners and queues "
        "(`reactive status`)."
    )


def test_the_summary_of_a_success_gives_the_slowest_hop_and_says_where_no_socket_was_open():
    deliveries = [
        ClientDelivery(client="shop", events=1, delivered=1, listener_ms=(12.5,), sockets=1),
        ClientDelivery(client="blog", events=1, delivered=1, listener_ms=(7.0,)),
    ]
    assert summary_line(deliveries, user="ana (id 4)", timeout=10) == (
        "OK: 2 client(s) delivered 1 event(s) for ana (id 4); slowest publish→listener "
        "12.5 ms. No open websocket of ana (id 4) on blog."
    )
