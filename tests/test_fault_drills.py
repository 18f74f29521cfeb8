"""Fault drills on real server processes (issue 7): a dependency fails while people use Parley,
the user gets a clear answer, nothing is half-written, and nothing is lost or doubled after.

1. The database is unavailable while a message is sent. On MariaDB a uWSGI process reaches it
   through test_recovery's TCP proxy, which the drill cuts. On SQLite (the default run)
   `python wsgi.py` serves the run's file and another connection holds its write lock
   (BEGIN EXCLUSIVE) past the app's busy timeout, as a long write of another process (a
   backup, a bulk import) would. Either way the send is refused as `database_unavailable`
   (503 over REST), stores nothing and announces nothing, and the same client_id sent again
   once the database is back is stored exactly once, by the same process.
2. The SMTP server is down: feedback is stored and accepted (201), a password reset is
   accepted (202), the failure is logged, and the next mail after SMTP returns goes out.
3. A socket drops in the middle of a steady stream of messages and catches up with REST
   history `after=<the last id it saw>`, as README "Catch-up" tells clients: every message
   exactly once, in order.

test_recovery.py drills Redis and the database outage as /health, new sockets and plain
requests see it; test_deploy.py kills an instance under chatting clients. Waits poll for a
condition (tests/test_realtime_wire.wait_until); nothing asserts on timing.
"""

import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from tests.conftest import TEST_DATABASE_URL, _Inbox, assert_ack_error, free_port
from tests.test_realtime_wire import (
    WAIT,
    Account,
    Peer,
    Seed,
    Sockets,
    post_message,
    rest,
    stored_messages,
    wait_until,
    wire_env,
)
from tests.test_recovery import TcpProxy
from tests.test_recovery import _close as close_quietly
from tests.test_wsgi_server import Server, start_server

# == 1. the database is unavailable during a send ===============================================


class Outage(Protocol):
    """Makes the server's database unavailable (begin) and available again (end)."""

    def begin(self) -> None: ...

    def end(self) -> None: ...


class SqliteWriteLock:
    """Another connection holding the SQLite file's write lock. In WAL mode readers go on, so
    the server still authenticates and reads; its write waits out the busy timeout, then fails."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.holder: sqlite3.Connection | None = None

    def begin(self) -> None:
        self.holder = sqlite3.connect(self.path, timeout=WAIT, isolation_level=None)
        self.holder.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        assert self.holder is not None
        self.holder.execute("ROLLBACK")
        self.holder.close()
        self.holder = None


# A MySQL COM_QUERY packet after its 4-byte header: what PyMySQL sends to commit.
COMMIT_QUERY = b"\x03COMMIT"


class LossyProxy(TcpProxy):
    """test_recovery's proxy, which can also pass the next COMMIT on and lose the database's answer
    (then drop that connection): the commit happened, but the server cannot know it did."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(target)
        self._armed = threading.Event()
        self._losing: set[socket.socket] = set()  # upstream sockets whose next answer is lost
        self.answer_lost = threading.Event()

    def lose_next_commit_answer(self) -> None:
        self.answer_lost.clear()
        self._armed.set()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        from_app = source.getsockname()[1] == self.port
        try:
            while data := source.recv(65536):
                if from_app and self._armed.is_set() and data[4:] == COMMIT_QUERY:
                    self._armed.clear()
                    self._losing.add(sink)
                elif source in self._losing:
                    self.answer_lost.set()
                    return  # the finally closes the connection: the answer never arrives
                sink.sendall(data)
        except OSError:
            pass  # cut: the finally closes both ends
        finally:
            self._losing.discard(source)
            close_quietly(source)
            close_quietly(sink)


class ProxyCut:
    """The TCP proxy between the server and MariaDB cut: every connection dies, new ones are refused."""

    def __init__(self, proxy: LossyProxy) -> None:
        self.proxy = proxy

    def begin(self) -> None:
        self.proxy.cut()

    def end(self) -> None:
        self.proxy.reopen()


@dataclass
class Drill:
    """A server process whose database the test can take away."""

    server: Server
    outage: Outage

    @contextmanager
    def database_unavailable(self) -> Iterator[None]:
        """The database is unavailable to the server inside the block, and back after it."""
        self.outage.begin()
        try:
            yield
        finally:
            self.outage.end()


@pytest.fixture(scope="module")
def drill(tmp_path_factory, database_url: str, _schema: None) -> Iterator[Drill]:
    """SQLite: `python wsgi.py` on the run's file. A server database: uWSGI behind the proxy."""
    folder = tmp_path_factory.mktemp("database-drill")
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        with start_server(folder, database_url, **wire_env()) as server:
            yield Drill(server, SqliteWriteLock(url.database))
        return
    proxy = LossyProxy((url.host or "127.0.0.1", url.port or 3306))
    proxy.reopen()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with start_server(folder, proxied, uwsgi=True, **wire_env()) as server:
            yield Drill(server, ProxyCut(proxy))
    finally:
        proxy.cut()


@dataclass
class Chat:
    """Alice and Bob in a room on the drill's server, each with a socket; Bob spoke first."""

    server: Server
    room_id: int
    alice: Account
    bob: Account
    alice_socket: Peer
    bob_socket: Peer
    first: dict  # Bob's message, sent before anything failed

    def send(self, via: str, content: str, client_id: str) -> dict:
        """Alice sends over her socket or over REST; REST's answer takes the ack's shape too:
        {ok, status, created, message} or {ok: false, status, error}."""
        if via == "socket":
            return self.alice_socket.call(
                "send_message", {"room_id": self.room_id, "content": content, "client_id": client_id}
            )
        response = rest(
            self.server,
            self.alice,
            "POST",
            f"/rooms/{self.room_id}/messages",
            json={"content": content, "client_id": client_id},
        )
        assert response.headers["Content-Type"] == "application/json", response.text
        answer = {"ok": response.status_code < 400, "status": response.status_code, **response.json()}
        if answer["ok"]:
            answer["created"] = response.status_code == 201
        return answer

    def unread_counts(self) -> dict[str, int]:
        """The room's unread count as Alice and as Bob see it in GET /rooms."""
        counts = {}
        for account in (self.alice, self.bob):
            response = rest(self.server, account, "GET", "/rooms")
            assert response.status_code == 200, response.text
            room = next(room for room in response.json()["rooms"] if room["id"] == self.room_id)
            counts[account.name] = room["unread_count"]
        return counts


@pytest.fixture
def chat(drill: Drill, seed: Seed, sockets: Sockets) -> Chat:
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    alice_socket, bob_socket = sockets.open(drill.server, alice), sockets.open(drill.server, bob)
    first = post_message(drill.server, bob, room_id, "anyone there?")
    bob_socket.wait_for("new_message")
    # Both tokens are used once now: token bookkeeping (last_used_at) writes nothing in the drill.
    rest(drill.server, alice, "GET", "/rooms")
    return Chat(drill.server, room_id, alice, bob, alice_socket, bob_socket, first)


VIAS = ["socket", "rest"]


def test_socket_send_while_the_database_is_unavailable_gets_an_unavailable_ack(drill, chat):
    with drill.database_unavailable():
        ack = chat.send("socket", "into the void", "void-1")

    assert_ack_error(ack, "database_unavailable")
    assert chat.alice_socket.connected


def test_rest_send_while_the_database_is_unavailable_is_503_in_the_envelope(drill, chat):
    with drill.database_unavailable():
        answer = chat.send("rest", "into the void", "void-1")

    assert answer["status"] == 503, answer
    assert set(answer) == {"ok", "status", "error"}, answer
    assert answer["error"]["code"] == "database_unavailable"
    assert answer["error"]["message"]


@pytest.mark.parametrize("via", VIAS)
def test_send_that_failed_for_the_database_stores_nothing_and_moves_no_unread_count(drill, chat, via):
    assert chat.unread_counts() == {"Alice": 1, "Bob": 0}  # Bob's message is the one unread
    with drill.database_unavailable():
        assert chat.send(via, "into the void", "void-1")["ok"] is False

    assert stored_messages(chat.server, chat.bob, chat.room_id) == [chat.first]
    assert chat.unread_counts() == {"Alice": 1, "Bob": 0}


@pytest.mark.parametrize("via", VIAS)
def test_send_that_failed_for_the_database_announces_nothing(drill, chat, via):
    with drill.database_unavailable():
        assert chat.send(via, "into the void", "void-1")["ok"] is False

    for peer in (chat.bob_socket, chat.alice_socket):
        peer.barrier()
        assert [event["message"] for event in peer.of("new_message")] == [chat.first]


@pytest.mark.parametrize("via", VIAS)
def test_same_client_id_resent_once_the_database_is_back_is_stored_exactly_once(drill, chat, via):
    pid = chat.server.process.pid
    with drill.database_unavailable():
        assert chat.send(via, "try again", "retry-1")["ok"] is False

    stored = chat.send(via, "try again", "retry-1")
    repeated = chat.send(via, "try again", "retry-1")

    assert stored["ok"] is True, stored
    assert (stored["created"], repeated["created"]) == (True, False)
    assert repeated["message"] == stored["message"]
    assert stored_messages(chat.server, chat.bob, chat.room_id) == [chat.first, stored["message"]]
    assert chat.server.process.pid == pid


# == 2. SMTP is down ============================================================================

SENDER = "parley@example.com"
TRIAGE = "triage@example.com"


class StoppableSmtp:
    """A real SMTP server (aiosmtpd) on a fixed port, which a drill stops and starts again."""

    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="module")
def _smtp() -> Iterator[StoppableSmtp]:
    smtp = StoppableSmtp()
    yield smtp
    smtp.stop()


@pytest.fixture
def smtp(_smtp: StoppableSmtp) -> Iterator[StoppableSmtp]:
    """The SMTP server, down (nothing listens on its port) until the test starts it."""
    yield _smtp
    _smtp.stop()
    _smtp.inbox.messages.clear()


@pytest.fixture(scope="module", params=["wsgi.py", "uwsgi"])
def mail_server(
    request, tmp_path_factory, database_url: str, _schema: None, _smtp: StoppableSmtp
) -> Iterator[Server]:
    """A server on the run's database that mails through _smtp; feedback goes to TRIAGE."""
    mail = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(_smtp.port), "MAIL_DEFAULT_SENDER": SENDER}
    env = wire_env(FEEDBACK_RECIPIENTS=TRIAGE, **mail)
    folder = tmp_path_factory.mktemp(f"mail-{request.param}")
    with start_server(folder, database_url, uwsgi=request.param == "uwsgi", **env) as server:
        yield server


def post_feedback(server: Server, subject: str) -> requests.Response:
    body = {
        "subject": subject,
        "message": "The send button hides.",
        "name": "Fay",
        "email": "fay@example.com",
    }
    return requests.post(f"{server.url}/feedback", json=body, timeout=WAIT)


def forgot(server: Server, email: str) -> requests.Response:
    return requests.post(f"{server.url}/auth/password/forgot", json={"email": email}, timeout=WAIT)


def wait_for_log(server: Server, *fragments: str) -> str:
    """The first line of the server's log holding every fragment; fails with the log if none does."""

    def line() -> str | None:
        lines = server.log.read_text(errors="replace").splitlines()
        return next((text for text in lines if all(fragment in text for fragment in fragments)), None)

    return wait_until(line, f"a log line with {fragments}", [server])


def test_feedback_sent_while_smtp_is_down_is_accepted_and_stored(mail_server, smtp, seed):
    admin = seed.account("Ada", role="admin")

    response = post_feedback(mail_server, "Lost in the post")

    assert response.status_code == 201, response.text
    listed = rest(mail_server, admin, "GET", "/feedback")
    assert listed.status_code == 200, listed.text
    assert [item["subject"] for item in listed.json()["feedback"]] == ["Lost in the post"]


def test_feedback_mail_failure_is_logged_with_its_subject_and_cause(mail_server, smtp):
    assert post_feedback(mail_server, "Lost in the post").status_code == 201

    wait_for_log(mail_server, "sending mail", "Lost in the post", "failed")
    wait_for_log(mail_server, "Connection refused")


def test_password_reset_asked_while_smtp_is_down_is_accepted(mail_server, smtp, seed):
    alice = seed.account("Alice")

    response = forgot(mail_server, alice.email)

    assert response.status_code == 202, response.text
    assert response.json() == {"ok": True}
    wait_for_log(mail_server, "sending mail", "Reset your Parley password", "failed")


def test_feedback_mail_goes_out_again_once_smtp_is_back(mail_server, smtp):
    assert post_feedback(mail_server, "Sent in the dark").status_code == 201
    wait_for_log(mail_server, "sending mail", "Sent in the dark", "failed")
    smtp.start()

    assert post_feedback(mail_server, "Sent in the light").status_code == 201

    mail = smtp.inbox.wait_for(1)[0]
    assert mail["Subject"] == "[Parley feedback] Sent in the light"
    assert mail["To"] == TRIAGE


def test_password_reset_mail_goes_out_again_once_smtp_is_back(mail_server, smtp, seed):
    alice = seed.account("Alice")
    assert forgot(mail_server, alice.email).status_code == 202
    wait_for_log(mail_server, "sending mail", "Reset your Parley password", "failed")
    smtp.start()

    assert forgot(mail_server, alice.email).status_code == 202

    mail = smtp.inbox.wait_for(1)[0]
    assert mail["Subject"] == "Reset your Parley password"
    assert mail["To"] == alice.email
    assert "/reset/" in mail.get_content()


# == 3. a socket drops mid-stream and catches up over REST ======================================

STREAM = 200  # messages Alice sends, each after the previous ack
DROP_AFTER = 50  # Bob's socket closes once it has seen this many live
# Alice holds on at these counts until Bob has dropped / reconnected: the drop falls between
# DROP_AFTER and DROPPED_BY, and the last STREAM - RECONNECTED_BY messages stream while Bob
# reconnects and reads history.
DROPPED_BY, RECONNECTED_BY = 100, 150


@pytest.fixture(scope="module", params=["wsgi.py", "uwsgi"])
def stream_server(request, tmp_path_factory, database_url: str, _schema: None) -> Iterator[Server]:
    """A server on the run's database whose sockets may send STREAM messages in a burst."""
    env = wire_env(SOCKET_MESSAGE_LIMIT=f"{STREAM}/10")
    folder = tmp_path_factory.mktemp(f"stream-{request.param}")
    with start_server(folder, database_url, uwsgi=request.param == "uwsgi", **env) as server:
        yield server


class Stream:
    """Alice sends STREAM messages in a thread, one after each ack, pausing at the two gates."""

    def __init__(self, peer: Peer, room_id: int) -> None:
        self.peer, self.room_id = peer, room_id
        self.acked: list[dict] = []
        self.errors: list[str] = []
        self.dropped, self.reconnected = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        gates = {DROPPED_BY: self.dropped, RECONNECTED_BY: self.reconnected}
        try:
            for n in range(STREAM):
                if n in gates and not gates[n].wait(3 * WAIT):
                    raise AssertionError(f"Bob never got past gate {n}")
                payload = {"room_id": self.room_id, "content": f"tick {n}", "client_id": f"tick-{n}"}
                ack = self.peer.call("send_message", payload)
                if not ack.get("ok"):
                    raise AssertionError(f"message {n} refused: {ack}")
                self.acked.append(ack["message"])
        except BaseException as error:  # the test thread reports it
            self.errors.append(repr(error))


def history_after(server: Server, account: Account, room_id: int, after: int) -> list[dict]:
    """Every message after `after`, paging with REST history as a catching-up client does."""
    messages: list[dict] = []
    while True:
        params: dict[str, Any] = {"after": after, "limit": 100}
        response = rest(server, account, "GET", f"/rooms/{room_id}/messages", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        after = page["messages"][-1]["id"]


def ids(messages: list[dict]) -> list[int]:
    return [message["id"] for message in messages]


def live_messages(peer: Peer) -> list[dict]:
    """The messages of the new_message events the socket received, in arrival order."""
    return [event["message"] for event in peer.of("new_message")]


def test_socket_dropped_mid_stream_catches_up_over_rest_with_every_message_once_in_order(
    stream_server, seed, sockets
):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    bob_socket = sockets.open(stream_server, bob)
    stream = Stream(sockets.open(stream_server, alice), room_id)
    stream.thread.start()

    wait_until(
        lambda: len(bob_socket.of("new_message")) >= DROP_AFTER, "Bob's first messages", [stream_server]
    )
    bob_socket.close()
    seen = live_messages(bob_socket)
    stream.dropped.set()
    wait_until(lambda: len(stream.acked) >= DROPPED_BY or stream.errors, "Alice streams on", [stream_server])
    bob_again = sockets.open(stream_server, bob)
    stream.reconnected.set()
    caught_up = history_after(stream_server, bob, room_id, after=seen[-1]["id"])
    stream.thread.join(timeout=6 * WAIT)
    assert stream.errors == []
    assert len(stream.acked) == STREAM
    last = stream.acked[-1]["id"]
    wait_until(lambda: last in ids(caught_up + live_messages(bob_again)), "the last message", [stream_server])

    live = live_messages(bob_again)
    held = seen + caught_up
    assert len(set(ids(held))) == len(held), "history after the last id seen repeats nothing"
    assert len(set(ids(live))) == len(live), "no live event comes twice"
    known = set(ids(held))
    held += [message for message in live if message["id"] not in known]  # one copy by id
    assert held == stream.acked
    assert [message["content"] for message in held] == [f"tick {n}" for n in range(STREAM)]


# The hardest case: the send committed, but the answer was lost on its way back from the database.

needs_a_wire = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="loses a COMMIT's answer between the app and a database server; SQLite has no wire "
    "(.ci/run's MariaDB pass runs it)",
)


@needs_a_wire
@pytest.mark.parametrize("via", VIAS)
def test_send_whose_commit_answer_was_lost_is_stored_once_and_its_resend_returns_it(drill, chat, via):
    assert isinstance(drill.outage, ProxyCut)
    drill.outage.proxy.lose_next_commit_answer()
    unsure = chat.send(via, "did it go?", "unsure-1")
    assert drill.outage.proxy.answer_lost.is_set(), "the send committed nothing"
    assert unsure["ok"] is False, unsure
    assert unsure["error"]["code"] == "database_unavailable"

    resent = chat.send(via, "did it go?", "unsure-1")

    assert resent["ok"] is True, resent
    assert resent["created"] is False
    assert stored_messages(chat.server, chat.bob, chat.room_id) == [chat.first, resent["message"]]


@needs_a_wire
def test_room_hears_of_a_message_whose_commit_answer_was_lost_once_it_is_resent(drill, chat):
    assert isinstance(drill.outage, ProxyCut)
    drill.outage.proxy.lose_next_commit_answer()
    assert chat.send("socket", "did it go?", "unsure-1")["ok"] is False
    chat.bob_socket.barrier()
    assert [event["message"] for event in chat.bob_socket.of("new_message")] == [chat.first]

    resent = chat.send("socket", "did it go?", "unsure-1")

    assert chat.bob_socket.wait_for("new_message", lambda event: event["message"] == resent["message"])
