"""Fixtures: an app on a real database (SQLite, or MariaDB with TEST_DATABASE_URL), clients,
signed-in helpers and a real SMTP server.

With TEST_DATABASE_URL or TEST_REDIS_URL set, an unreachable server fails the run at once
rather than skipping anything.
"""

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect, sync_playwright

from app import create_app
from app.extensions import db
from app.models import Room, User
from app.services import events

if TYPE_CHECKING:
    from tests.browser_support import Browsing, LiveServer
    from tests.test_realtime_wire import Seed, Sockets
from tests.factories import PASSWORD, make_room, make_user

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip()


def _require_database(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        pytest.exit(f"TEST_DATABASE_URL is set but the database is unreachable: {error}", returncode=3)
    finally:
        engine.dispose()


def _require_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.exit(f"TEST_REDIS_URL is set but Redis is unreachable: {error}", returncode=3)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database every test runs on: TEST_DATABASE_URL, or a SQLite file for this run."""
    if TEST_DATABASE_URL:
        _require_database(TEST_DATABASE_URL)
        return TEST_DATABASE_URL
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "parley-test.db")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """TEST_REDIS_URL when set (and reachable); otherwise a private redis-server for this run."""
    if TEST_REDIS_URL:
        _require_redis(TEST_REDIS_URL)
        yield TEST_REDIS_URL
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; `make test` installs it, or set TEST_REDIS_URL")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("the private redis-server did not start")
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def _schema(database_url: str) -> None:
    """Create the tables once per run from a clean slate (the migration test checks they match)."""
    app = create_app({"PARLEY_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()
        db.engine.dispose()


def empty_tables() -> None:
    """Delete every row of every table (the schema stays)."""
    db.session.remove()
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


def app_config(database_url: str, upload_folder: str, **overrides: Any) -> dict[str, Any]:
    """The configuration test apps run with: the test database, no mail server, no Redis."""
    return {
        "PARLEY_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_FOLDER": upload_folder,
        "SECRET_KEY": "test-" + os.urandom(8).hex(),
        "MAIL_SERVER": None,
        "REDIS_URL": None,
        **overrides,
    }


@pytest.fixture
def make_app(database_url: str, _schema: None, tmp_path) -> Iterator:
    """Build apps on the test database; tables are emptied after the test."""
    apps: list[Flask] = []

    def build(**overrides) -> Flask:
        apps.append(create_app(app_config(database_url, str(tmp_path / "uploads"), **overrides)))
        return apps[-1]

    yield build
    for app in apps:
        with app.app_context():
            if app.config["SQLALCHEMY_DATABASE_URI"] == database_url:
                empty_tables()
            db.engine.dispose()


@pytest.fixture
def app(make_app) -> Iterator[Flask]:
    """The application, with an app context pushed so tests can call services directly.

    Test-client requests to this app reuse that context, so they share the test's SQLAlchemy
    session (a real server gives each request its own). Use the app's own client, and
    db.session.expire_all() before reading back what a request changed.
    """
    application = make_app()
    with application.app_context():
        yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@dataclass
class Session:
    """A test client signed in as a user, sending its CSRF token on unsafe requests."""

    client: FlaskClient
    user: User
    csrf_token: str
    password: str = PASSWORD
    headers: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {"X-CSRFToken": self.csrf_token}

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.client.post(url, headers=self.headers, **kwargs)

    def put(self, url: str, **kwargs):
        return self.client.put(url, headers=self.headers, **kwargs)

    def patch(self, url: str, **kwargs):
        return self.client.patch(url, headers=self.headers, **kwargs)

    def delete(self, url: str, **kwargs):
        return self.client.delete(url, headers=self.headers, **kwargs)


def sign_in(client: FlaskClient, user: User, password: str = PASSWORD) -> Session:
    """Sign in over HTTP and return the signed-in session helper."""
    response = client.post("/auth/login", json={"email": user.email, "password": password})
    assert response.status_code == 200, response.get_json()
    return Session(client, user, response.get_json()["csrf_token"], password)


# A room object in an event: everything but what depends on who looks at it
# (is_member, unread_count, peer and invite_code are left out; see the README).
EVENT_ROOM_KEYS = frozenset(
    {
        "id",
        "name",
        "description",
        "kind",
        "is_active",
        "created_by",
        "created_at",
        "closed_at",
        "member_count",
    }
)


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The response is the JSON error envelope with this status (and code, naming field)."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json", response.mimetype
    body = response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert field in error.get("fields", {}), error
    return error


def with_token(secret: str) -> Callable[[FlaskClient, User], Session]:
    """A sign-in for at_once that authenticates every request with a Bearer token instead."""

    def start(client: FlaskClient, user: User) -> Session:
        session = Session(client, user, csrf_token="")
        session.headers = {"Authorization": f"Bearer {secret}"}
        return session

    return start


def at_once(
    app: Flask,
    users: list[User],
    request: Callable[[Session, int], Any],
    start: Callable[[FlaskClient, User], Session] = sign_in,
) -> list[tuple[int | None, Any]]:
    """Send request(session, n) for every users[n] at the same moment; (status, body) for each.

    Each thread has its own app context, database session and test client, and signs in
    before the barrier, so the requests themselves race as they would on a real server.
    A thread's exception is returned as (None, repr) for the test to show.
    """
    user_ids = [user.id for user in users]
    db.session.commit()  # the test's own transaction must not hide rows from the threads
    barrier = threading.Barrier(len(user_ids), timeout=20)
    results: list[tuple[int | None, Any]] = [(None, "did not finish")] * len(user_ids)

    def run(n: int, user_id: int) -> None:
        with app.app_context():
            try:
                session = start(app.test_client(), db.session.get(User, user_id))
                barrier.wait()
                response = request(session, n)
                results[n] = (response.status_code, response.get_json(silent=True))
            except Exception as error:  # reported by the test's assertion, not lost in the thread
                results[n] = (None, repr(error))
                barrier.abort()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(user_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.rollback()  # a fresh transaction sees what the threads committed
    return results


@pytest.fixture
def login(app: Flask):
    """login(user) -> a Session on a fresh test client."""
    return lambda user, password=PASSWORD: sign_in(app.test_client(), user, password)


@pytest.fixture
def member(app: Flask) -> User:
    return make_user(name="Mia Member")


@pytest.fixture
def member_session(login, member: User) -> Session:
    return login(member)


@pytest.fixture
def owner(app: Flask) -> User:
    return make_user(name="Olga Owner")


@pytest.fixture
def owner_session(login, owner: User) -> Session:
    return login(owner)


@pytest.fixture
def room(owner: User, member: User) -> Room:
    """A public room owned by owner, with member in it (joined before any message)."""
    return make_room(owner, members=(member,))


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user(name="Ada Admin", role="admin")


@pytest.fixture
def admin_session(login, admin: User) -> Session:
    return login(admin)


@pytest.fixture
def recorded_events() -> Iterator[list[events.Event]]:
    """The live events published during the test, in order."""
    with events.recording() as seen:
        yield seen


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    """aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        from email import message_from_bytes, policy

        with self._arrived:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list:
        """Block until `count` messages arrived; fail the test if they do not."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} mail(s), got {len(self.messages)}")
                self._arrived.wait(remaining)
        return list(self.messages)


@pytest.fixture
def smtp_server() -> Iterator[tuple[_Inbox, int]]:
    """A real SMTP server on a loopback port; yields (inbox, port)."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def mail_app(make_app, smtp_server):
    """An app that mails through the real local SMTP server; yields (app, inbox)."""
    inbox, port = smtp_server
    application = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DEFAULT_SENDER="parley@example.com")
    with application.app_context():
        yield application, inbox


# == Socket.IO on /chat: test clients for tests/test_realtime.py and test_socket_limits.py =====
# flask_socketio's test client works only without a message queue (REDIS_URL is None here).

CHAT_NAMESPACE = "/chat"


def open_chat_socket(
    application: Flask, *, flask_client: FlaskClient | None = None, token: str | None = None
) -> Any:
    """A raw flask_socketio test client on /chat: the cookie of flask_client, or auth={"token": ...}."""
    from app.extensions import socketio

    auth = {"token": token} if token is not None else None
    return socketio.test_client(
        application, namespace=CHAT_NAMESPACE, flask_test_client=flask_client, auth=auth
    )


class _ConnectedFlags(dict):
    """The test client's connected flags. A disconnect by the server also leaves ("disconnect",
    None) in the received events: what a real client hears ends there (the test client keeps
    queueing what the server still sends while it tears the socket down)."""

    def __init__(self, raw: Any) -> None:
        super().__init__(raw.connected)
        self._raw = raw

    def __setitem__(self, namespace: str, value: bool) -> None:
        if not value and self.get(namespace):
            self._raw.queue.append({"name": "disconnect", "args": [], "namespace": namespace})
        super().__setitem__(namespace, value)


class ChatClient:
    """One socket of a user on /chat: call() answers the ack, received() drains what arrived."""

    def __init__(self, raw: Any, user: User) -> None:
        self.raw = raw
        self.user = user
        self.greeting: list[tuple[str, Any]] = []
        raw.connected = _ConnectedFlags(raw)

    @property
    def connected(self) -> bool:
        return self.raw.is_connected(CHAT_NAMESPACE)

    @property
    def sid(self) -> str | None:
        return self.raw.socketio.server.manager.sid_from_eio_sid(self.raw.eio_sid, CHAT_NAMESPACE)

    def call(self, event: str, *payload: Any) -> Any:
        """Send the event (with its payload, if any) and return the server's ack."""
        return self.raw.emit(event, *payload, callback=True, namespace=CHAT_NAMESPACE)

    def received(self) -> list[tuple[str, Any]]:
        """(name, data) of every event that arrived since the last call, oldest first; also
        after the server closed the socket (get_received refuses then)."""
        count = len(self.raw.queue)
        arrived = self.raw.queue[:count]
        del self.raw.queue[:count]
        return [(packet["name"], packet["args"][0] if packet["args"] else None) for packet in arrived]

    def events(self, name: str) -> list[Any]:
        """The data of the events called name among those received (drains them all)."""
        return [data for event, data in self.received() if event == name]

    def until_closed(self) -> list[tuple[str, Any]]:
        """The events received up to the server's disconnect (the socket must be closed)."""
        received = self.received()
        assert ("disconnect", None) in received, received
        return received[: received.index(("disconnect", None))]

    def wait_closed(self, timeout: float = 5.0) -> None:
        """Wait for a disconnect the server does in the background; fail if it does not come."""
        deadline = time.monotonic() + timeout
        while self.connected:
            if time.monotonic() > deadline:
                raise AssertionError("the server did not close the socket")
            time.sleep(0.01)

    def close(self) -> None:
        if self.connected:
            self.raw.disconnect(CHAT_NAMESPACE)


def assert_ack_error(ack: Any, code: str, field: str | None = None) -> dict:
    """The ack is {"ok": false, "error": {code, message[, fields]}} with this code (naming field)."""
    assert isinstance(ack, dict), ack
    assert set(ack) == {"ok", "error"}, ack
    assert ack["ok"] is False, ack
    error = ack["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    if field is not None:
        assert field in error.get("fields", {}), error
    return error


@pytest.fixture
def chat() -> Iterator[Callable[..., ChatClient]]:
    """chat(user_or_session, token=None, app=None) -> a connected ChatClient, greeting drained.

    A Session connects with its cookie; a User is first signed in on a fresh test client of
    the app; token= connects with auth={"token": token} instead. The app defaults to the
    current one. The greeting (ready, online_users, user_online) is kept in .greeting.
    Sockets still open at the end are closed.
    """
    from flask import current_app
    from flask_socketio.test_client import SocketIOTestClient

    opened: list[ChatClient] = []

    def connect(who: Session | User, *, token: str | None = None, app: Flask | None = None) -> ChatClient:
        application = app or current_app._get_current_object()
        if isinstance(who, User) and token is None:
            who = sign_in(application.test_client(), who)
        flask_client = who.client if isinstance(who, Session) and token is None else None
        user = who.user if isinstance(who, Session) else who
        client = ChatClient(open_chat_socket(application, flask_client=flask_client, token=token), user)
        opened.append(client)
        assert client.connected, "the server refused the socket"
        client.greeting = client.received()
        assert [name for name, _ in client.greeting][:2] == ["ready", "online_users"], client.greeting
        return client

    yield connect
    for client in opened:
        client.close()
        SocketIOTestClient.clients.pop(client.raw.eio_sid, None)


# == end of the Socket.IO block ===============================================================


@contextmanager
def recording_statements() -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


# == real servers and their sockets (tests/test_realtime_wire.py and the drills that reuse it) ==


@pytest.fixture
def seed(make_app: Callable[..., Flask]) -> "Seed":
    """Accounts and rooms made through the services on the run's database, for real servers."""
    from tests.test_realtime_wire import Seed  # imports test_wsgi_server, which imports us

    return Seed(make_app())


@pytest.fixture
def sockets(seed: "Seed") -> Iterator["Sockets"]:
    """python-socketio clients of the test; at its end they close, and presence must empty."""
    from tests.test_realtime_wire import open_sockets

    yield from open_sockets(seed)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's chromium under Playwright, shared by the run's browser tests."""
    from tests.browser_support import EXPECT_TIMEOUT_MS, launch_chromium

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, _schema: None
) -> Iterator["LiveServer"]:
    """`python wsgi.py` on the run's database, for the browser tests."""
    from tests.browser_support import live_server_on  # imports test_wsgi_server, which imports us

    with live_server_on(tmp_path_factory.mktemp("live"), database_url) as server:
        yield server


@pytest.fixture
def browsing(app: Flask, chromium: Browser, live_server: "LiveServer") -> Iterator["Browsing"]:
    """Open pages (`browsing.page(user)`); the test fails if a page throws or logs an error."""
    from tests.browser_support import Browsing

    session = Browsing(chromium, live_server)
    yield session
    session.close()
    assert session.errors.errors == [], "\n".join(session.errors.errors)
