"""Recovery drills on real uWSGI processes (issue 6): Redis, then the database, go away and come
back, and the processes recover on their own, without a restart.

Redis drill: two uWSGI processes share the run's database and a PRIVATE redis-server of this
module, which the drill kills and restarts on the same port (the shared Redis is never
touched). While Redis is down /health answers 503 naming the message queue, and a message
still commits: its ack is {ok: true, message}, because live events are best-effort after the
commit and clients catch up with join_room's since_id. Once Redis is back, /health turns 200
only when the process listens on the queue again, so from then on messages and presence cross
the processes again.

Database drill: one uWSGI process reaches the database through a TCP proxy in this module; the
drill cuts the proxy (and every connection through it) instead of stopping the shared MariaDB.
It needs a database server, so the SQLite pass skips it and .ci/run's MariaDB pass runs it.
"""

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
import requests
import socketio as python_socketio
import sqlalchemy as sa

from app.extensions import socketio
from tests.conftest import TEST_DATABASE_URL, assert_ack_error, free_port
from tests.test_realtime_wire import (
    Refused,
    post_message,
    rest,
    stored_messages,
    user_ids,
    wait_until,
    wire_env,
)
from tests.test_scale_out import Pair, start_pair
from tests.test_wsgi_server import Server, start_server

DOWN = {"status": "down", "database": "ok", "message_queue": "down"}
HEALTHY = {"status": "ok", "database": "ok", "message_queue": "ok"}
# How long the processes may take to notice an outage or a return (the queue listener retries
# every 2 s at most; presence renews every second). Generous for a busy machine.
RECOVERY_WAIT = 15.0
# Longer than the drill: presence must recover within seconds whatever the TTL (no process dies
# here, so nothing waits for a heartbeat to expire).
PRESENCE_TTL = 120


def health(server: Server) -> tuple[int, dict]:
    response = requests.get(f"{server.url}/health", timeout=5)
    return response.status_code, response.json()


def wait_for_health(servers: list[Server], status: int, body: dict) -> None:
    """Poll each server's /health until it answers status with body."""
    for server in servers:
        wait_until(
            lambda server=server: health(server) == (status, body),
            f"{server.url}/health to answer {status} {body}",
            servers,
            timeout=RECOVERY_WAIT,
        )


# == Redis drill ================================================================================


class PrivateRedis:
    """A redis-server of this module's own on a fixed port, which a drill may kill and restart."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; `make test` installs it")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start it on its port (loading what a kill kept) and wait until it answers."""
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.folder), "--dbfilename", "dump.rdb"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self, *, keep_data: bool = False) -> None:
        """SIGKILL it, as a crash would; it comes back empty unless keep_data saved a snapshot."""
        dump = self.folder / "dump.rdb"
        dump.unlink(missing_ok=True)
        if keep_data:
            with self.client() as client:
                client.save()
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2)

    def answers(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


@contextmanager
def redis_outage(private_redis: PrivateRedis, pair: Pair, *, keep_data: bool = False) -> Iterator[None]:
    """Redis is down inside the block, and both processes say so; it is back (nothing more) after."""
    private_redis.kill(keep_data=keep_data)
    try:
        wait_for_health(pair.both, 503, DOWN)
        yield
    finally:
        private_redis.start()


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def _pair(tmp_path_factory, database_url: str, _schema: None, private_redis: PrivateRedis) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("uwsgi-pair")
    with start_pair(
        folder, database_url, private_redis.url, uwsgi=True, PRESENCE_TTL=str(PRESENCE_TTL)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def _dev_pair(
    tmp_path_factory, database_url: str, _schema: None, private_redis: PrivateRedis
) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("dev-pair")
    with start_pair(folder, database_url, private_redis.url, PRESENCE_TTL=str(PRESENCE_TTL)) as running:
        yield running


@pytest.fixture
def pair(_pair: Pair) -> Pair:
    """Two uWSGI processes, healthy (an earlier test's outage is over, and both listen again)."""
    wait_for_health(_pair.both, 200, HEALTHY)
    return _pair


@pytest.fixture
def dev_pair(_dev_pair: Pair) -> Pair:
    """Two `python wsgi.py` processes, healthy."""
    wait_for_health(_dev_pair.both, 200, HEALTHY)
    return _dev_pair


def test_health_reports_the_message_queue_on_both_processes(pair):
    assert [health(server) for server in pair.both] == [(200, HEALTHY)] * 2


def test_health_is_503_naming_the_message_queue_while_redis_is_down(pair, private_redis):
    with redis_outage(private_redis, pair):
        assert [health(server) for server in pair.both] == [(503, DOWN)] * 2
        assert [server.process.poll() for server in pair.both] == [None, None]


@pytest.mark.parametrize("via", ["socket", "rest"])
def test_message_sent_while_redis_is_down_is_acknowledged_and_stored(pair, private_redis, seed, sockets, via):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    alice_socket = sockets.open(pair.first, alice, logs=pair.both)

    with redis_outage(private_redis, pair):
        if via == "socket":
            ack = alice_socket.call("send_message", {"room_id": room_id, "content": "in the dark"})
            assert ack["ok"] is True, ack
            sent = ack["message"]
        else:
            sent = post_message(pair.first, alice, room_id, "in the dark")
        assert sent["content"] == "in the dark"
        assert stored_messages(pair.second, bob, room_id) == [sent]


def test_health_returns_to_200_when_redis_comes_back(pair, private_redis):
    pids = [server.process.pid for server in pair.both]
    with redis_outage(private_redis, pair):
        pass

    wait_for_health(pair.both, 200, HEALTHY)
    assert [server.process.pid for server in pair.both] == pids
    assert [server.process.poll() for server in pair.both] == [None, None]


@pytest.mark.parametrize("pair_of", ["pair", "dev_pair"], ids=["uwsgi", "wsgi.py"])
def test_message_crosses_processes_again_once_health_is_back(request, pair_of, private_redis, seed, sockets):
    pair = request.getfixturevalue(pair_of)
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    alice_socket = sockets.open(pair.first, alice, logs=pair.both)
    bob_socket = sockets.open(pair.second, bob, logs=pair.both)
    with redis_outage(private_redis, pair):
        pass
    wait_for_health(pair.both, 200, HEALTHY)

    # No further wait: a 200 must mean that this process hears the other one again.
    ack = alice_socket.call("send_message", {"room_id": room_id, "content": "back in business"})

    assert ack["ok"] is True, ack
    assert bob_socket.wait_for("new_message")["message"] == ack["message"]


def test_new_users_presence_crosses_processes_again_after_redis_returns(pair, private_redis, seed, sockets):
    alice, carol = seed.account("Alice"), seed.account("Carol")
    alice_socket = sockets.open(pair.first, alice, logs=pair.both)
    with redis_outage(private_redis, pair):
        pass
    wait_for_health(pair.both, 200, HEALTHY)

    sockets.open(pair.second, carol, logs=pair.both)

    assert alice_socket.wait_for("user_online", lambda data: data["user"]["id"] == carol.id)


def test_sockets_that_lived_through_a_redis_restart_count_as_online_again(pair, private_redis, seed, sockets):
    alice, probe = seed.account("Alice"), seed.account("Probe")
    sockets.open(pair.first, alice, logs=pair.both)
    with redis_outage(private_redis, pair):
        pass  # Redis comes back empty: the presence it counted is gone

    def alice_counted() -> bool:
        peer = sockets.open(pair.second, probe, logs=pair.both)
        peer.close()
        return alice.id in user_ids(peer.of("online_users")[0])

    wait_until(alice_counted, "Alice counted online on the other process", pair.both, timeout=RECOVERY_WAIT)


def test_user_who_left_while_redis_was_down_is_offline_once_it_returns(pair, private_redis, seed, sockets):
    alice, bob, probe = seed.account("Alice"), seed.account("Bob"), seed.account("Probe")
    sockets.open(pair.first, alice, logs=pair.both)
    bob_socket = sockets.open(pair.second, bob, logs=pair.both)
    with redis_outage(private_redis, pair, keep_data=True):  # Redis comes back with Bob in it
        bob_socket.close()

    def bob_gone() -> bool:
        peer = sockets.open(pair.first, probe, logs=pair.both)
        peer.close()
        online = user_ids(peer.of("online_users")[0])
        return alice.id in online and bob.id not in online

    wait_until(bob_gone, "Bob counted offline, Alice still online", pair.both, timeout=RECOVERY_WAIT)


def test_socket_opened_while_redis_is_down_is_refused_as_unavailable(pair, private_redis, seed, sockets):
    alice = seed.account("Alice")
    with redis_outage(private_redis, pair), pytest.raises(Refused) as refused:
        sockets.open(pair.first, alice, logs=pair.both)
    assert refused.value.code == "message_queue_unavailable", refused.value.data


def test_typing_while_redis_is_down_is_answered_unavailable(pair, private_redis, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    alice_socket = sockets.open(pair.first, alice, logs=pair.both)
    with redis_outage(private_redis, pair):
        ack = alice_socket.call("typing", {"room_id": room_id, "is_typing": True})
    assert_ack_error(ack, "message_queue_unavailable")


def test_members_list_while_redis_is_down_shows_everyone_offline(pair, private_redis, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    sockets.open(pair.first, alice, logs=pair.both)
    with redis_outage(private_redis, pair):
        response = rest(pair.second, bob, "GET", f"/rooms/{room_id}/members")
    assert response.status_code == 200, response.text
    assert {member["user"]["id"]: member["user"]["online"] for member in response.json()["members"]} == {
        alice.id: False,
        bob.id: False,
    }


# == Database drill =============================================================================


class TcpProxy:
    """Forwards a loopback port to a server. cut() closes every connection through it and
    refuses new ones (the port is closed) until reopen() listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def reopen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            assert self._listener is not None
            _close(self._listener)  # shutdown wakes the accept() blocked in the thread
            self._listener = None
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if listener is not self._listener:  # cut while this one was connecting
                    _close(client)
                    _close(upstream)
                    continue
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # cut: the finally closes both ends
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):  # not connected, or closed already
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


needs_database_server = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="needs a database server to cut off (TEST_DATABASE_URL); .ci/run's MariaDB pass runs it",
)


@pytest.fixture(scope="module")
def proxy(database_url: str) -> Iterator[TcpProxy]:
    url = sa.engine.make_url(database_url)
    running = TcpProxy((url.host or "127.0.0.1", url.port or 3306))
    running.reopen()
    yield running
    running.cut()


@pytest.fixture(scope="module")
def _proxied_server(tmp_path_factory, database_url: str, _schema: None, proxy: TcpProxy) -> Iterator[Server]:
    url = sa.engine.make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    proxied = url.render_as_string(hide_password=False)
    with start_server(tmp_path_factory.mktemp("proxied"), proxied, uwsgi=True, **wire_env()) as running:
        yield running


DATABASE_UP = {"status": "ok", "database": "ok", "message_queue": "disabled"}
DATABASE_DOWN = {"status": "down", "database": "down", "message_queue": "disabled"}


@pytest.fixture
def proxied_server(_proxied_server: Server) -> Server:
    """The process behind the proxy, healthy (an earlier test's outage is over)."""
    wait_for_health([_proxied_server], 200, DATABASE_UP)
    return _proxied_server


@contextmanager
def database_outage(proxy: TcpProxy, server: Server) -> Iterator[None]:
    """The database is unreachable inside the block, and the server says so; reachable after."""
    proxy.cut()
    try:
        wait_for_health([server], 503, DATABASE_DOWN)
        yield
    finally:
        proxy.reopen()


@needs_database_server
def test_health_is_503_naming_the_database_while_it_is_unreachable(proxied_server, proxy):
    with database_outage(proxy, proxied_server):
        assert health(proxied_server) == (503, DATABASE_DOWN)
        assert proxied_server.process.poll() is None


@needs_database_server
@pytest.mark.parametrize(("method", "path"), [("GET", "/rooms"), ("POST", "/rooms")])
def test_request_needing_the_database_is_503_while_it_is_unreachable(
    proxied_server, proxy, seed, method, path
):
    alice = seed.account("Alice")
    with database_outage(proxy, proxied_server):
        response = rest(proxied_server, alice, method, path, json={"name": "Dark room"})
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "database_unavailable"


@needs_database_server
def test_socket_opened_while_the_database_is_unreachable_is_refused_as_unavailable(
    proxied_server, proxy, seed, sockets
):
    alice = seed.account("Alice")
    with database_outage(proxy, proxied_server), pytest.raises(Refused) as refused:
        sockets.open(proxied_server, alice)
    assert refused.value.code == "database_unavailable", refused.value.data


@needs_database_server
def test_database_coming_back_needs_no_restart(proxied_server, proxy, seed):
    alice = seed.account("Alice")
    room_id = seed.room(alice)
    pid = proxied_server.process.pid
    with database_outage(proxy, proxied_server):
        pass

    wait_for_health([proxied_server], 200, DATABASE_UP)
    sent = post_message(proxied_server, alice, room_id, "the database is back")

    assert stored_messages(proxied_server, alice, room_id) == [sent]
    assert proxied_server.process.pid == pid


@needs_database_server
def test_pooled_connections_cut_while_idle_are_replaced_unnoticed(proxied_server, proxy, seed):
    """pool_pre_ping: the first request after the cut gets a fresh connection, not a dead one."""
    alice = seed.account("Alice")
    room_id = seed.room(alice)
    proxy.cut()  # every pooled connection dies; no request runs until the proxy is back
    proxy.reopen()

    sent = post_message(proxied_server, alice, room_id, "nobody noticed")

    assert stored_messages(proxied_server, alice, room_id) == [sent]


# == Unit level: the queue listener's back-off, and what /health makes of its state ============


class _Enough(Exception):
    """Ends a listener that would otherwise retry forever."""


def test_queue_listener_retries_every_two_seconds_at_most_while_redis_is_down(make_app, monkeypatch):
    make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    manager = socketio.server.manager
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 6:
            raise _Enough

    monkeypatch.setattr(manager.server, "sleep", sleep)
    # python-socketio's own loop sleeps with time.sleep: without the fix it must fail, not hang.
    monkeypatch.setattr(python_socketio.redis_manager, "time", SimpleNamespace(sleep=sleep))
    with pytest.raises(_Enough):
        next(manager._redis_listen_with_retries())

    assert waits == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert manager.listening is False


@pytest.mark.parametrize(
    ("listening", "status", "queue"),
    [(None, 200, "ok"), (True, 200, "ok"), (False, 503, "down")],
    ids=["not-started", "listening", "lost"],
)
def test_health_counts_the_queue_down_while_this_process_has_lost_it(
    make_app, redis_url, listening, status, queue
):
    app = make_app(REDIS_URL=redis_url)
    socketio.server.manager.listening = listening

    response = app.test_client().get("/health")

    assert response.status_code == status
    assert response.get_json()["message_queue"] == queue
