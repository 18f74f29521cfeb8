"""Two `python wsgi.py` processes sharing the test run's database and one Redis (DESIGN §5):
events, presence, subscriptions and disconnects cross from one process to the other, and the
users of a process that dies go offline.

The helpers are those of tests/test_realtime_wire.py. Redis is always needed: the redis_url
fixture starts a private redis-server when TEST_REDIS_URL is unset.
"""

import secrets
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import socketio

from app.services.presence import forget_prefix
from tests.test_realtime_wire import (
    NAMESPACE,
    Peer,
    QuickClosingWebSocket,
    Refused,
    post_message,
    rest,
    sign_in,
    user_ids,
    wait_until,
    wire_env,
)
from tests.test_wsgi_server import Server, start_server

# A process that stops renewing its presence for PRESENCE_TTL s is swept by the others, which
# renew and look every second: 3 s makes a crash show within a few seconds.
CRASH_TTL = 3
CRASH_WAIT = 15.0


@dataclass
class Pair:
    """Two processes on one database, one Redis and one REDIS_PREFIX."""

    first: Server
    second: Server

    @property
    def both(self) -> list[Server]:
        return [self.first, self.second]


def knock(server: Server) -> None:
    """An anonymous handshake (refused): the process starts listening to the message queue."""
    peer = Peer(server, "knock", [server], websocket_extra_options={"class_": QuickClosingWebSocket})
    with pytest.raises(Refused):
        peer.connect([NAMESPACE])


@contextmanager
def start_pair(
    folder: Path, database_url: str, redis_url: str, *, uwsgi: bool = False, **extra: str
) -> Iterator[Pair]:
    """Start both processes (uWSGI if asked) and wait until each listens on the shared channel."""
    shared = wire_env(REDIS_URL=redis_url, SECRET_KEY=secrets.token_hex(32), **extra)
    with ExitStack() as stack:
        # Last out: the presence keys a stopped (or killed) pair leaves in a shared Redis.
        stack.callback(forget_prefix, redis_url, shared["REDIS_PREFIX"])
        servers = []
        for name in ("first", "second"):
            (folder / name).mkdir()
            server = start_server(folder / name, database_url, uwsgi=uwsgi, **shared)
            servers.append(stack.enter_context(server))
        pair = Pair(*servers)
        for server in pair.both:
            knock(server)
        channel = f"{shared['REDIS_PREFIX']}-socketio"
        queue = redis.Redis.from_url(redis_url)
        try:
            wait_until(
                lambda: queue.pubsub_numsub(channel)[0][1] == 2, f"both processes on {channel}", pair.both
            )
        finally:
            queue.close()
        yield pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory, database_url: str, _schema: None, redis_url: str) -> Iterator[Pair]:
    with start_pair(tmp_path_factory.mktemp("scale-out"), database_url, redis_url) as running:
        yield running


@pytest.mark.parametrize("via", ["socket", "rest"])
def test_message_sent_through_one_process_reaches_a_socket_on_the_other(pair, seed, sockets, via):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    alice_socket = sockets.open(pair.first, alice, logs=pair.both)
    bob_socket = sockets.open(pair.second, bob, logs=pair.both)

    if via == "socket":
        ack = alice_socket.call("send_message", {"room_id": room_id, "content": "across processes"})
        assert ack["ok"] is True, ack
        sent = ack["message"]
    else:
        sent = post_message(pair.first, alice, room_id, "across processes")

    assert bob_socket.wait_for("new_message")["message"] == sent


def test_presence_is_the_same_on_both_processes(pair, seed, sockets):
    alice, bob, carol = seed.account("Alice"), seed.account("Bob"), seed.account("Carol")
    alice_socket = sockets.open(pair.first, alice, logs=pair.both)
    bob_socket = sockets.open(pair.second, bob, logs=pair.both)

    assert user_ids(bob_socket.wait_for("online_users")) == {alice.id, bob.id}
    alice_socket.wait_for("user_online", lambda event: event["user"]["id"] == bob.id)
    carol_socket = sockets.open(pair.first, carol, logs=pair.both)
    assert user_ids(carol_socket.wait_for("online_users")) == {alice.id, bob.id, carol.id}

    bob_socket.close()

    for watcher in (alice_socket, carol_socket):
        assert watcher.wait_for("user_offline") == {"user_id": bob.id}


def test_tabs_on_both_processes_count_as_one_user(pair, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    watcher = sockets.open(pair.first, bob, logs=pair.both)
    first_tab = sockets.open(pair.first, alice, logs=pair.both)
    second_tab = sockets.open(pair.second, alice, logs=pair.both)

    first_tab.close()
    # As in the one-process test: a round trip through the other sockets leaves the server
    # ample time, so a wrong user_offline would almost surely have arrived.
    ack = second_tab.call("send_message", {"room_id": room_id, "content": "still here"})
    assert watcher.wait_for("new_message")["message"] == ack["message"]
    assert watcher.of("user_offline") == []

    second_tab.close()
    assert watcher.wait_for("user_offline") == {"user_id": alice.id}
    online = [event["user"]["id"] for event in watcher.of("user_online")]
    assert online.count(alice.id) == 1


def test_join_over_rest_on_one_process_subscribes_the_socket_on_the_other(pair, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice)
    alice_socket = sockets.open(pair.first, alice, logs=pair.both)
    bob_socket = sockets.open(pair.second, bob, logs=pair.both)

    joined = rest(pair.first, bob, "POST", f"/rooms/{room_id}/join", json={})
    assert joined.status_code == 200, joined.text
    ack = alice_socket.call("send_message", {"room_id": room_id, "content": "welcome, Bob"})

    assert ack["ok"] is True, ack
    assert bob_socket.wait_for("new_message")["message"] == ack["message"]


def test_logout_on_one_process_ends_the_sessions_socket_on_the_other(pair, seed, sockets):
    bob = seed.account("Bob")
    browser = sign_in(pair.first, bob)
    bob_socket = sockets.open(pair.second, cookie=browser.cookie, logs=pair.both)

    response = browser.post("/auth/logout", json={})

    assert response.status_code == 200, response.text
    assert bob_socket.wait_disconnected() == socketio.Client.reason.SERVER_DISCONNECT
    assert bob_socket.events[-2:] == [
        ("session_ended", {"reason": "signed_out"}),
        ("disconnect", socketio.Client.reason.SERVER_DISCONNECT),
    ]


def test_deactivation_on_one_process_ends_the_users_socket_on_the_other(pair, seed, sockets):
    admin, bob = seed.account("Ada", role="admin"), seed.account("Bob")
    bob_socket = sockets.open(pair.second, bob, logs=pair.both)

    response = rest(pair.first, admin, "PATCH", f"/users/{bob.id}", json={"is_active": False})

    assert response.status_code == 200, response.text
    assert bob_socket.wait_disconnected() == socketio.Client.reason.SERVER_DISCONNECT
    assert bob_socket.events[-2:] == [
        ("session_ended", {"reason": "account_disabled"}),
        ("disconnect", socketio.Client.reason.SERVER_DISCONNECT),
    ]


def test_users_of_a_crashed_process_go_offline_on_the_other(tmp_path, database_url, redis_url, seed, sockets):
    alice, bob, carol = seed.account("Alice"), seed.account("Bob"), seed.account("Carol")
    with start_pair(tmp_path, database_url, redis_url, PRESENCE_TTL=str(CRASH_TTL)) as crashing:
        alice_socket = sockets.open(crashing.first, alice, logs=crashing.both)
        bob_socket = sockets.open(crashing.second, bob, logs=crashing.both)
        alice_socket.wait_for("user_online", lambda event: event["user"]["id"] == bob.id)

        crashing.second.process.kill()  # SIGKILL: no disconnect handler, no clean-up
        crashing.second.process.wait(timeout=10)

        bob_socket.wait_disconnected()
        offline = alice_socket.wait_for("user_offline", timeout=CRASH_WAIT)
        assert offline == {"user_id": bob.id}
        fresh = sockets.open(crashing.first, carol, logs=crashing.both)
        assert user_ids(fresh.wait_for("online_users")) == {alice.id, carol.id}


def test_users_of_a_stalled_process_come_back_online(tmp_path, database_url, redis_url, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    with start_pair(tmp_path, database_url, redis_url, PRESENCE_TTL=str(CRASH_TTL)) as stalling:
        alice_socket = sockets.open(stalling.first, alice, logs=stalling.both)
        bob_socket = sockets.open(stalling.second, bob, logs=stalling.both)
        alice_socket.wait_for("user_online", lambda event: event["user"]["id"] == bob.id)

        stalling.second.process.send_signal(signal.SIGSTOP)  # stalls past PRESENCE_TTL: swept
        try:
            assert alice_socket.wait_for("user_offline", timeout=CRASH_WAIT) == {"user_id": bob.id}
        finally:
            stalling.second.process.send_signal(signal.SIGCONT)
        bob_socket.barrier()  # Bob's socket lived through the stall

        # The resumed process puts Bob's socket back into presence (a fresh socket sees him) ...
        carol = seed.account("Carol")

        def bob_counted() -> bool:
            probe = sockets.open(stalling.first, carol)
            probe.close()
            return bob.id in user_ids(probe.of("online_users")[0])

        wait_until(bob_counted, "Bob counted online again", stalling.both, timeout=CRASH_WAIT)
        # ... and the sockets that were told he went offline must hear that he is back.
        went_offline = alice_socket.names().index("user_offline")

        def back_online() -> list:
            later = alice_socket.events[went_offline:]
            return [data for name, data in later if name == "user_online" and data["user"]["id"] == bob.id]

        wait_until(back_online, "user_online for Bob at Alice after his user_offline", stalling.both)
