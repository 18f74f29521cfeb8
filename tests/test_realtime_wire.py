"""The /chat namespace over a real wire (DESIGN §5): `python wsgi.py` processes on the test run's
database, python-socketio clients on the websocket transport, HTTP through requests.

Users, tokens and rooms are made in-process with tests/factories.py and committed; the servers
read them from the same database, and make_app empties the tables after each test. Nothing
here sleeps for a fixed time or asserts on timing: every wait polls for a condition and fails
with the server's log. tests/test_scale_out.py reuses these helpers for two processes.
"""

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engineio
import pytest
import requests
import socketio
import websocket
from flask import Flask

from app.extensions import db
from app.models import User
from app.services import api_tokens
from tests.conftest import assert_ack_error
from tests.factories import PASSWORD, make_room, make_user
from tests.test_wsgi_server import Server, http_session, start_server

NAMESPACE = "/chat"
WAIT = 10.0  # the longest any expected event may take on a busy machine
CLOSE_WAIT = 0.2  # how long closing a socket waits for the server's close frame
CORS_ORIGIN = "http://app.example"
# The strict server: 3 messages per 10 s, a flood is cut after 3 strikes, frames up to 5000 bytes.
MESSAGE_LIMIT, FLOOD_STRIKES, MAX_FRAME = 3, 3, 5000


# == waiting ===================================================================================


def server_logs(servers: list[Server]) -> str:
    return "\n".join(f"--- {server.url} ---\n{server.output()}" for server in servers)


def wait_until(condition: Callable[[], Any], what: str, servers: list[Server], timeout: float = WAIT) -> Any:
    """Poll condition until it is truthy and return it; fail with the servers' logs if it never is."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}\n{server_logs(servers)}")
        time.sleep(0.02)


# == accounts and rooms, made in-process on the shared database ================================


@dataclass(frozen=True)
class Account:
    """A user the servers know, with an API token (its secret) to sign in with."""

    id: int
    email: str
    name: str
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Seed:
    """Creates accounts and rooms with the factories, each in its own app context (committed)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def account(self, name: str | None = None, *, role: str = "member") -> Account:
        with self.app.app_context():
            user = make_user(name=name, role=role)
            _, secret = api_tokens.create_token(user.email, PASSWORD, "wire test")
            return Account(user.id, user.email, user.name, secret)

    def room(self, owner: Account, *members: Account, kind: str = "public") -> int:
        """A room owned by owner with members joined; returns its id."""
        with self.app.app_context():
            people = tuple(db.session.get(User, member.id) for member in members)
            return make_room(db.session.get(User, owner.id), kind=kind, members=people).id


def rest(server: Server, account: Account, method: str, path: str, **kwargs: Any) -> requests.Response:
    """An HTTP request to the server as account (Bearer token: no CSRF)."""
    return requests.request(method, server.url + path, headers=account.bearer, timeout=WAIT, **kwargs)


def post_message(server: Server, account: Account, room_id: int, content: str) -> dict:
    response = rest(server, account, "POST", f"/rooms/{room_id}/messages", json={"content": content})
    assert response.status_code == 201, response.text
    return response.json()["message"]


def stored_messages(server: Server, account: Account, room_id: int) -> list[dict]:
    response = rest(server, account, "GET", f"/rooms/{room_id}/messages", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


@dataclass
class Browser:
    """A signed-in browser session: its cookie opens sockets, its CSRF token signs requests."""

    server: Server
    http: requests.Session
    csrf_token: str

    @property
    def cookie(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-CSRFToken": self.csrf_token}
        return self.http.post(self.server.url + path, headers=headers, timeout=WAIT, **kwargs)


def sign_in(server: Server, account: Account) -> Browser:
    http = http_session()
    response = http.post(
        f"{server.url}/auth/login", json={"email": account.email, "password": PASSWORD}, timeout=WAIT
    )
    assert response.status_code == 200, response.text
    return Browser(server, http, response.json()["csrf_token"])


# == sockets ===================================================================================


class InOrderEngineIO(engineio.Client):
    """Handles each incoming packet in the read loop, in arrival order, as a browser does.

    python-socketio's client hands every packet to a new thread, so two events could be
    recorded out of order and an ack could overtake an event the server sent before it.
    """

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class QuickClosingWebSocket(websocket.WebSocket):
    """Waits CLOSE_WAIT, not 3 s, for the server's close frame when closing.

    python-socketio's read loop reads the same socket and takes that frame itself, so the
    wait would always run out; everything the client sent is on its way by then.
    """

    def close(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", CLOSE_WAIT)
        super().close(*args, **kwargs)


class WireClient(socketio.Client):
    def _engineio_client_class(self) -> type[engineio.Client]:
        return InOrderEngineIO


class Refused(Exception):
    """The server refused the socket; .data is what it said ({message, data}) if anything."""

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.data = data

    @property
    def code(self) -> str | None:
        """The error code of the refusal: {"message": ..., "data": {"code": ..., "message": ...}}."""
        details = self.data.get("data") if isinstance(self.data, dict) else None
        return details.get("code") if isinstance(details, dict) else None


class Peer:
    """One websocket on /chat recording, in order, every event the server sends it.

    A disconnect is recorded too, as ("disconnect", reason), so that its place among the
    events can be asserted.
    """

    def __init__(self, server: Server, label: str, logs: list[Server], **options: Any) -> None:
        self.server = server
        self.label = label
        self.logs = logs  # whose output a failed wait shows
        self.events: list[tuple[str, Any]] = []
        self._refusal: list[Any] = []
        self._lock = threading.Lock()
        self.client = WireClient(reconnection=False, **options)
        self.client.on("*", self._record, namespace=NAMESPACE)
        self.client.on("connect_error", self._refusal.append, namespace=NAMESPACE)
        self.client.on("disconnect", self._record_disconnect, namespace=NAMESPACE)

    def _record(self, event: str, data: Any = None) -> None:
        with self._lock:
            self.events.append((event, data))

    def _record_disconnect(self, reason: Any = None) -> None:
        self._record("disconnect", reason)

    def connect(self, namespaces: list[str], **options: Any) -> "Peer":
        try:
            self.client.connect(
                self.server.url, namespaces=namespaces, transports=["websocket"], wait_timeout=WAIT, **options
            )
        except socketio.exceptions.ConnectionError:
            raise Refused(self._refusal[0] if self._refusal else None) from None
        return self

    @property
    def connected(self) -> bool:
        return self.client.connected and NAMESPACE in self.client.namespaces

    def of(self, name: str) -> list[Any]:
        """The data of every event called name received so far."""
        with self._lock:
            return [data for event, data in self.events if event == name]

    def names(self) -> list[str]:
        with self._lock:
            return [event for event, _ in self.events]

    def wait_for(
        self, name: str, match: Callable[[Any], bool] = lambda data: True, timeout: float = WAIT
    ) -> Any:
        """The first event called name whose data matches; fail if none arrives in time."""

        def found() -> list[Any]:
            return [data for data in self.of(name) if match(data)]

        return wait_until(found, f"{name!r} at {self.label}", self.logs, timeout)[0]

    def wait_disconnected(self) -> Any:
        """Wait until the server has closed this socket; returns the reason."""
        wait_until(lambda: not self.connected and self.of("disconnect"), f"{self.label} closed", self.logs)
        return self.of("disconnect")[0]

    def call(self, event: str, data: Any) -> Any:
        """Send the event and return the server's ack."""
        return self.client.call(event, data, namespace=NAMESPACE, timeout=WAIT)

    def barrier(self) -> None:
        """One round trip: an event the server sent this socket before it is recorded after it.

        An unknown event is answered without side effects, through the same queue.
        """
        assert_ack_error(self.call("barrier", {}), "unknown_event")

    def close(self) -> None:
        self.client.disconnect()


def user_ids(online_users: dict) -> set[int]:
    return {user["id"] for user in online_users["users"]}


class Sockets:
    """Opens sockets for a test and closes them at its end."""

    def __init__(self, seed: Seed) -> None:
        self.seed = seed
        self.opened: list[Peer] = []

    def open(
        self,
        server: Server,
        account: Account | None = None,
        *,
        cookie: str | None = None,
        origin: str | None = None,
        suppress_origin: bool = False,
        namespaces: tuple[str, ...] = (NAMESPACE,),
        logs: list[Server] | None = None,
        auth: Any = None,
    ) -> Peer:
        """A connected, greeted socket: with account's token, a browser cookie, or raw auth.

        Raises Refused when the server refuses it. Like a browser, websocket-client sends
        Origin: <the server's own origin> unless given another or told to send none.
        """
        websocket_options: dict[str, Any] = {"class_": QuickClosingWebSocket}
        if origin is not None:
            websocket_options["origin"] = origin
        elif suppress_origin:
            websocket_options["suppress_origin"] = True
        label = account.name if account else "cookie" if cookie else "anonymous"
        where = f"{label} on {server.url}"
        peer = Peer(server, where, logs or [server], websocket_extra_options=websocket_options)
        self.opened.append(peer)
        if account is not None:
            auth = {"token": account.token}
        peer.connect(list(namespaces), auth=auth, headers={"Cookie": cookie} if cookie else {})
        # The greeting follows the confirmed connection; online_users is its last event to us.
        peer.wait_for("online_users")
        return peer

    def close_all(self) -> None:
        for peer in self.opened:
            peer.close()

    def settle(self) -> None:
        """Every socket of the test is closed: each live server must count nobody online again.

        A fresh socket's online_users shows what the server counts, so poll with fresh sockets.
        """
        live = {peer.server.url: peer.server for peer in self.opened if peer.server.process.poll() is None}
        if not live:
            return
        probe = self.seed.account("Probe")
        for server in live.values():

            def only_the_probe(server: Server = server) -> bool:
                peer = self.open(server, probe)
                peer.close()
                return user_ids(peer.of("online_users")[0]) == {probe.id}

            wait_until(only_the_probe, f"{server.url} to count nobody online", [server])


def open_sockets(seed: Seed) -> Iterator[Sockets]:
    """The body of a `sockets` fixture: at the test's end they close, and presence must empty."""
    opened = Sockets(seed)
    yield opened
    opened.close_all()
    opened.settle()


# == servers ===================================================================================


def redis_prefix() -> str:
    return "wire-" + secrets.token_hex(4)


def wire_env(**extra: str) -> dict[str, str]:
    """A server for the wire tests: fast bcrypt, its own Redis prefix."""
    return {"PARLEY_ENV": "testing", "REDIS_PREFIX": redis_prefix(), **extra}


@pytest.fixture(scope="module")
def server(tmp_path_factory, database_url: str, _schema: None) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("wire"), database_url, **wire_env()) as running:
        yield running


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory, database_url: str, _schema: None) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("wire-cors")
    with start_server(folder, database_url, **wire_env(CORS_ORIGINS=CORS_ORIGIN)) as running:
        yield running


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, database_url: str, _schema: None) -> Iterator[Server]:
    limits = wire_env(
        SOCKET_MESSAGE_LIMIT=f"{MESSAGE_LIMIT}/10",
        SOCKET_FLOOD_STRIKES=str(FLOOD_STRIKES),
        SOCKET_MAX_FRAME_BYTES=str(MAX_FRAME),
    )
    with start_server(tmp_path_factory.mktemp("wire-strict"), database_url, **limits) as running:
        yield running


# == who may connect ===========================================================================


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        (None, "unauthorized"),
        ({"token": "parley_" + "x" * 43}, "invalid_token"),
        ({"token": ""}, "invalid_token"),
    ],
    ids=["no-credentials", "unknown-token", "empty-token"],
)
def test_socket_without_valid_credentials_is_refused(server, sockets, auth, code):
    with pytest.raises(Refused) as refused:
        sockets.open(server, auth=auth)
    assert refused.value.code == code, refused.value.data


def test_socket_with_a_deactivated_accounts_token_is_refused(server, seed, sockets):
    account = seed.account()
    with seed.app.app_context():
        db.session.get(User, account.id).is_active = False
        db.session.commit()
    with pytest.raises(Refused) as refused:
        sockets.open(server, account)
    assert refused.value.code == "account_disabled", refused.value.data


def test_default_namespace_refuses_a_signed_in_user(server, seed, sockets):
    with pytest.raises(Refused):
        sockets.open(server, seed.account(), namespaces=("/",))


def test_token_socket_is_greeted_with_ready_then_online_users(server, seed, sockets):
    account = seed.account("Greta Greeted")
    peer = sockets.open(server, account)
    assert peer.client.transport() == "websocket"
    assert peer.names()[:2] == ["ready", "online_users"]
    assert peer.of("ready")[0]["user"]["email"] == account.email
    assert account.id in user_ids(peer.of("online_users")[0])


# == origins ===================================================================================


def test_cross_origin_handshake_is_refused(server, seed, sockets):
    with pytest.raises(Refused):
        sockets.open(server, seed.account(), origin="http://evil.example")


def test_same_origin_handshake_is_accepted(server, seed, sockets):
    assert sockets.open(server, seed.account(), origin=server.url).connected


def test_handshake_without_origin_is_accepted(server, seed, sockets):
    assert sockets.open(server, seed.account(), suppress_origin=True).connected


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [(CORS_ORIGIN, True), ("own", True), ("http://evil.example", False)],
    ids=["listed", "own-origin", "unlisted"],
)
def test_cors_origins_adds_origins_to_the_servers_own(cors_server, seed, sockets, origin, accepted):
    origin = cors_server.url if origin == "own" else origin
    if accepted:
        assert sockets.open(cors_server, seed.account(), origin=origin).connected
    else:
        with pytest.raises(Refused):
            sockets.open(cors_server, seed.account(), origin=origin)


# == what reaches whom =========================================================================


def test_new_message_reaches_room_members_only(server, seed, sockets):
    alice, bob, outsider = seed.account("Alice"), seed.account("Bob"), seed.account("Oscar")
    room_id = seed.room(alice, bob)
    peers = {who: sockets.open(server, who) for who in (alice, bob, outsider)}

    ack = peers[alice].call("send_message", {"room_id": room_id, "content": "only for members"})

    assert ack["ok"] is True, ack
    assert ack["created"] is True
    sent = ack["message"]
    for member in (alice, bob):
        assert peers[member].wait_for("new_message")["message"] == sent
    peers[outsider].barrier()
    assert peers[outsider].of("new_message") == []


def test_rejoin_with_since_id_catches_up_on_exactly_the_missed_messages(server, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    bob_socket = sockets.open(server, bob)
    seen = post_message(server, alice, room_id, "before the break")
    assert bob_socket.wait_for("new_message")["message"]["id"] == seen["id"]
    bob_socket.close()

    missed = [post_message(server, alice, room_id, f"missed {n}") for n in range(5)]
    bob_again = sockets.open(server, bob)
    ack = bob_again.call("join_room", {"room_id": room_id, "since_id": seen["id"]})

    assert ack["ok"] is True, ack
    assert ack["messages"] == missed
    assert ack["has_more"] is False
    assert ack["room"]["id"] == room_id


def test_user_goes_offline_when_the_last_of_two_tabs_closes(server, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    watcher = sockets.open(server, bob)
    first_tab = sockets.open(server, alice)
    second_tab = sockets.open(server, alice)
    watcher.wait_for("user_online", lambda event: event["user"]["id"] == alice.id)
    assert alice.id in user_ids(second_tab.wait_for("online_users"))
    second_tab.barrier()
    watcher.barrier()
    assert [event["user"]["id"] for event in watcher.of("user_online")].count(alice.id) == 1

    first_tab.close()
    # The server takes in the first tab's goodbye on that socket's own thread: nothing can prove
    # when it is done. A round trip through both remaining sockets leaves it ample time, so a
    # wrong user_offline would almost surely be in line before the barrier (and a right server
    # never fails this check).
    second_tab.call("send_message", {"room_id": room_id, "content": "still here"})
    watcher.wait_for("new_message")
    watcher.barrier()
    assert watcher.of("user_offline") == []

    second_tab.close()
    assert watcher.wait_for("user_offline") == {"user_id": alice.id}
    watcher.barrier()
    assert watcher.of("user_offline") == [{"user_id": alice.id}]


def test_message_sent_over_rest_reaches_the_rooms_sockets(server, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    alice_socket, bob_socket = sockets.open(server, alice), sockets.open(server, bob)

    sent = post_message(server, alice, room_id, "over HTTP")

    assert bob_socket.wait_for("new_message")["message"] == sent
    assert alice_socket.wait_for("new_message")["message"] == sent


def test_room_closed_over_rest_reaches_the_rooms_sockets(server, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    bob_socket = sockets.open(server, bob)

    response = rest(server, alice, "POST", f"/rooms/{room_id}/close")

    assert response.status_code == 200, response.text
    assert bob_socket.wait_for("room_closed") == {"room_id": room_id}
    refused = bob_socket.call("send_message", {"room_id": room_id, "content": "anyone?"})
    assert_ack_error(refused, "room_closed")


# == limits ====================================================================================


def ack_or_disconnect(peer: Peer, event: str, data: dict) -> Any:
    """Send the event; its ack, or None when the server closes the socket instead of answering."""
    answer: list[Any] = []
    try:
        peer.client.emit(event, data, namespace=NAMESPACE, callback=answer.append)
    except socketio.exceptions.BadNamespaceError:  # already closed
        return None
    wait_until(lambda: answer or not peer.connected, f"an ack or a disconnect at {peer.label}", peer.logs)
    return answer[0] if answer else None


def test_message_flood_gets_rate_limited_then_disconnected(strict_server, seed, sockets):
    alice = seed.account("Alice")
    room_id = seed.room(alice)
    peer = sockets.open(strict_server, alice)
    acks = []

    # One at a time, each after the previous ack: the limit, then one more than the strikes.
    for n in range(MESSAGE_LIMIT + FLOOD_STRIKES + 1):
        ack = ack_or_disconnect(peer, "send_message", {"room_id": room_id, "content": f"flood {n}"})
        if ack is None:
            break
        acks.append(ack)

    assert [ack["ok"] for ack in acks[:MESSAGE_LIMIT]] == [True] * MESSAGE_LIMIT, acks
    refusals = acks[MESSAGE_LIMIT:]
    for ack in refusals:
        assert_ack_error(ack, "rate_limited")
    # FLOOD_STRIKES refusals are tolerated; the one after them gets the socket closed.
    assert len(refusals) in (FLOOD_STRIKES, FLOOD_STRIKES + 1), acks
    assert peer.wait_disconnected() == socketio.Client.reason.SERVER_DISCONNECT
    assert len(stored_messages(strict_server, alice, room_id)) == MESSAGE_LIMIT


def test_frame_over_the_limit_drops_the_connection_and_stores_nothing(strict_server, seed, sockets):
    alice, bob = seed.account("Alice"), seed.account("Bob")
    room_id = seed.room(alice, bob)
    sender, watcher = sockets.open(strict_server, alice), sockets.open(strict_server, bob)

    ack = ack_or_disconnect(sender, "send_message", {"room_id": room_id, "content": "x" * 2 * MAX_FRAME})

    assert ack is None
    assert not sender.connected
    assert stored_messages(strict_server, bob, room_id) == []
    watcher.barrier()  # the server is still serving its other sockets
    assert watcher.of("new_message") == []


def test_content_too_long_but_within_the_frame_limit_is_a_validation_error(strict_server, seed, sockets):
    alice = seed.account("Alice")
    room_id = seed.room(alice)
    peer = sockets.open(strict_server, alice)

    ack = peer.call("send_message", {"room_id": room_id, "content": "x" * 4001})

    assert_ack_error(ack, "validation_failed", "content")
    assert peer.connected
    assert stored_messages(strict_server, alice, room_id) == []


# == signing out ===============================================================================


def test_logout_ends_only_that_browser_sessions_socket(server, seed, sockets):
    alice = seed.account("Alice")
    leaving, staying = sign_in(server, alice), sign_in(server, alice)
    leaving_socket = sockets.open(server, cookie=leaving.cookie)
    staying_socket = sockets.open(server, cookie=staying.cookie)
    token_socket = sockets.open(server, alice)

    response = leaving.post("/auth/logout", json={})

    assert response.status_code == 200, response.text
    assert leaving_socket.wait_disconnected() == socketio.Client.reason.SERVER_DISCONNECT
    assert leaving_socket.events[-2:] == [
        ("session_ended", {"reason": "signed_out"}),
        ("disconnect", socketio.Client.reason.SERVER_DISCONNECT),
    ]
    for other in (staying_socket, token_socket):
        other.barrier()
        assert other.connected
        assert other.of("session_ended") == []
