"""Presence stores: MemoryPresence (one process) and RedisPresence (every process, through the
real Redis of the redis_url fixture, each test under its own key prefix): connections counted
per user, sockets found by kind, dead processes swept once their heartbeat expires, and sockets
that close while Redis is unreachable removed once it answers again."""

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from app.services.presence import (
    MemoryPresence,
    RedisPresence,
    forget_prefix,
    is_online,
    online_among,
    session_kind,
    token_kind,
)
from tests.conftest import free_port

PresenceFactory = Callable[..., MemoryPresence | RedisPresence]


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; the keys starting with it are deleted afterwards."""
    prefix = f"parley-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    forget_prefix(redis_url, prefix)


@pytest.fixture
def neighbour_prefix(redis_url: str, redis_prefix: str) -> Iterator[str]:
    """The prefix of another installation on the same Redis; its keys are deleted afterwards."""
    yield f"{redis_prefix}-neighbour"
    forget_prefix(redis_url, f"{redis_prefix}-neighbour")


@pytest.fixture
def process(redis_url: str, redis_prefix: str) -> PresenceFactory:
    """process(ttl=30) -> the RedisPresence of one more server process sharing the prefix."""
    return lambda ttl=30: RedisPresence(redis_url, redis_prefix, ttl)


@pytest.fixture(params=["memory", "redis"])
def store(request) -> MemoryPresence | RedisPresence:
    """A presence store of each kind; what both promise is tested on both."""
    if request.param == "memory":
        return MemoryPresence()
    return request.getfixturevalue("process")()


def wait_until_expired(presence: RedisPresence, timeout: float = 10.0) -> None:
    """Wait until the process's heartbeat key has expired (its TTL is small)."""
    key = f"{presence.base}proc:{presence.proc}"
    deadline = time.monotonic() + timeout
    while presence.redis.exists(key):
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} did not expire")
        time.sleep(0.05)


# -- what every store does ------------------------------------------------------------------


def test_first_socket_brings_the_user_online(store):
    assert store.add("sid-1", 7, session_kind("a")) is True
    assert store.online_ids() == {7}


def test_second_socket_of_a_user_is_not_a_new_arrival(store):
    store.add("sid-1", 7, session_kind("a"))
    assert store.add("sid-2", 7, session_kind("b")) is False


def test_closing_one_of_two_sockets_keeps_the_user_online(store):
    store.add("sid-1", 7, session_kind("a"))
    store.add("sid-2", 7, token_kind(3))
    assert store.remove("sid-1") == (7, False)
    assert store.online_ids() == {7}


def test_closing_the_last_socket_takes_the_user_offline(store):
    store.add("sid-1", 7, session_kind("a"))
    store.add("sid-2", 7, token_kind(3))
    store.remove("sid-1")
    assert store.remove("sid-2") == (7, True)
    assert store.online_ids() == set()


def test_removing_an_unknown_socket_changes_nothing(store):
    store.add("sid-1", 7, session_kind("a"))
    assert store.remove("sid-unknown") == (None, False)
    assert store.online_ids() == {7}


def test_removing_a_socket_twice_counts_it_once(store):
    store.add("sid-1", 7, session_kind("a"))
    store.add("sid-2", 7, session_kind("a"))
    store.remove("sid-1")
    assert store.remove("sid-1") == (None, False)
    assert store.online_ids() == {7}


def test_users_are_counted_apart(store):
    store.add("sid-1", 7, session_kind("a"))
    store.add("sid-2", 8, session_kind("b"))
    assert store.remove("sid-1") == (7, True)
    assert store.online_ids() == {8}


@pytest.mark.parametrize(("asked", "online"), [([7, 8, 9], {7, 8}), ([9], set()), ([], set()), ([7, 7], {7})])
def test_online_among_picks_the_online_users(store, asked, online):
    store.add("sid-1", 7, session_kind("a"))
    store.add("sid-2", 8, token_kind(1))
    assert store.online_among(asked) == online


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", {"laptop", "phone", "script", "bot"}),
        ("session:", {"laptop", "phone"}),
        (session_kind("k1"), {"laptop"}),
        ("token:", {"script", "bot"}),
        (token_kind(5), {"script"}),
        (token_kind(6), set()),
        (token_kind(51), {"bot"}),
    ],
)
def test_sids_of_finds_a_users_sockets_by_kind(store, prefix, expected):
    store.add("laptop", 7, session_kind("k1"))
    store.add("phone", 7, session_kind("k2"))
    store.add("script", 7, token_kind(5))
    store.add("bot", 7, token_kind(51))
    store.add("other-user", 8, session_kind("k1"))
    assert set(store.sids_of(7, prefix)) == expected


def test_sids_of_a_user_without_sockets_is_empty(store):
    assert store.sids_of(7) == []


def test_heartbeat_of_a_lone_live_process_reports_nobody_gone(store):
    store.add("sid-1", 7, session_kind("a"))
    assert store.heartbeat() == []
    assert store.online_ids() == {7}


# -- Redis: several processes ---------------------------------------------------------------


def test_processes_share_the_count_of_a_users_sockets(process):
    first, second = process(), process()
    assert first.add("sid-1", 7, session_kind("a")) is True
    assert second.add("sid-2", 7, session_kind("b")) is False
    assert first.remove("sid-1") == (7, False)
    assert second.online_ids() == {7}
    assert second.remove("sid-2") == (7, True)
    assert first.online_ids() == set()


def test_processes_find_each_others_sockets(process):
    first, second = process(), process()
    first.add("sid-1", 7, session_kind("a"))
    second.add("sid-2", 7, token_kind(4))
    assert set(second.sids_of(7)) == {"sid-1", "sid-2"}
    assert first.sids_of(7, "token:") == ["sid-2"]


def test_installations_with_other_prefixes_do_not_mix(redis_url, process, neighbour_prefix):
    neighbour = RedisPresence(redis_url, neighbour_prefix, 30)
    neighbour.add("sid-1", 7, session_kind("a"))
    assert process().online_ids() == set()
    assert process().sids_of(7) == []


def test_live_processes_are_not_swept(process):
    first, second = process(), process()
    first.add("sid-1", 7, session_kind("a"))
    assert second.heartbeat() == []
    assert second.online_ids() == {7}


def test_dead_process_is_swept_after_its_heartbeat_expires(process):
    dead, alive = process(ttl=1), process()
    dead.add("sid-1", 7, session_kind("a"))
    dead.add("sid-2", 8, session_kind("b"))
    alive.add("sid-3", 8, session_kind("c"))
    wait_until_expired(dead)
    assert alive.heartbeat() == [7]  # 8 still has a socket on the live process
    assert alive.online_ids() == {8}
    assert alive.sids_of(7) == []
    assert alive.sids_of(8) == ["sid-3"]


def test_dead_process_is_swept_once(process):
    dead, alive = process(ttl=1), process()
    dead.add("sid-1", 7, session_kind("a"))
    wait_until_expired(dead)
    alive.heartbeat()
    assert alive.heartbeat() == []
    assert dead.proc not in alive.redis.smembers(f"{alive.base}procs")


def test_swept_process_that_is_alive_registers_its_sockets_again(process):
    stalled, other = process(ttl=1), process()
    stalled.add("sid-1", 7, session_kind("a"))
    stalled.add("sid-2", 8, token_kind(2))
    wait_until_expired(stalled)
    assert sorted(other.heartbeat()) == [7, 8]
    stalled.heartbeat()
    assert other.online_ids() == {7, 8}
    assert other.sids_of(8, "token:") == ["sid-2"]


def test_swept_process_keeps_counting_after_registering_again(process):
    stalled, other = process(ttl=1), process()
    stalled.add("sid-1", 7, session_kind("a"))
    wait_until_expired(stalled)
    other.heartbeat()
    stalled.heartbeat()
    assert stalled.remove("sid-1") == (7, True)
    assert other.online_ids() == set()


def test_socket_closing_after_its_process_was_swept_is_not_offline_twice(process):
    stalled, other = process(ttl=1), process()
    stalled.add("sid-1", 7, session_kind("a"))
    wait_until_expired(stalled)
    assert other.heartbeat() == [7]
    assert stalled.remove("sid-1") == (None, False)


def test_swept_process_with_a_new_socket_still_registers_its_older_ones(process):
    # The stall ends, a client connects before the next heartbeat: the older sockets must
    # not stay lost (their users would look offline while connected).
    stalled, other = process(ttl=1), process()
    stalled.add("sid-old", 7, session_kind("a"))
    wait_until_expired(stalled)
    assert other.heartbeat() == [7]
    stalled.add("sid-new", 8, session_kind("b"))
    stalled.heartbeat()
    assert other.online_ids() == {7, 8}
    assert other.sids_of(7) == ["sid-old"]


def test_forget_prefix_deletes_only_that_installations_keys(
    redis_url, process, redis_prefix, neighbour_prefix
):
    process().add("s1", 7, session_kind("a"))
    RedisPresence(redis_url, neighbour_prefix, 30).add("s2", 8, session_kind("b"))
    forget_prefix(redis_url, redis_prefix)
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(f"{redis_prefix}:*")) == []
        assert list(client.scan_iter(f"{neighbour_prefix}:*")) != []
    finally:
        client.close()


# -- while Redis is unreachable (tests/test_recovery.py drills it on real processes) ----------


def _unreachable(*_args: object, **_kwargs: object) -> None:
    raise redis.ConnectionError("Redis is unreachable")


def test_socket_closed_while_redis_is_unreachable_goes_at_the_next_heartbeat(process, monkeypatch):
    closing, other = process(), process()
    closing.add("sid-1", 7, session_kind("a"))
    with monkeypatch.context() as outage:
        outage.setattr(closing, "_remove", _unreachable)
        with pytest.raises(redis.ConnectionError):
            closing.remove("sid-1")

    assert closing.heartbeat() == [7]
    assert other.online_ids() == set()


def test_socket_whose_registration_failed_midway_goes_at_the_next_heartbeat(process, monkeypatch):
    # The script ran, then the connection broke before its reply: the socket is refused, so
    # it must not stay counted.
    presence = process()
    register = presence._add

    def register_then_break(*args: object, **kwargs: object) -> None:
        register(*args, **kwargs)
        _unreachable()

    with monkeypatch.context() as outage:
        outage.setattr(presence, "_add", register_then_break)
        with pytest.raises(redis.ConnectionError):
            presence.add("sid-1", 7, session_kind("a"))

    assert presence.heartbeat() == [7]
    assert presence.online_ids() == set()


def test_socket_whose_registration_failed_is_not_registered_again(process, monkeypatch):
    presence = process(ttl=1)
    with monkeypatch.context() as outage:
        outage.setattr(presence, "_add", _unreachable)
        with pytest.raises(redis.ConnectionError):
            presence.add("sid-1", 7, session_kind("a"))
    wait_until_expired(presence)

    presence.heartbeat()  # re-registers what this process holds: not the refused socket

    assert presence.take_returned() == []
    assert presence.online_ids() == set()


def test_online_reads_answer_nobody_while_redis_is_unreachable(make_app, free_port_url):
    app = make_app(REDIS_URL=free_port_url)
    with app.app_context():
        assert online_among([7, 8]) == set()
        assert is_online(7) is False


@pytest.fixture
def free_port_url() -> str:
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"
