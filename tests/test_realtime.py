"""The /chat Socket.IO namespace (DESIGN §5) through flask_socketio's test client: who may connect,
what a socket is subscribed to, every client event and its ack, the events REST changes send
to open sockets, presence, and the sockets closed when a session, token or account ends."""

import gc
import logging
import threading
import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException

from app.extensions import db, socketio
from app.models import ApiToken, Message, Room, RoomMembership, User, utcnow
from app.realtime import namespace as chat_namespace
from app.services import api_tokens, messaging, presence, rooms
from app.services import typing as typing_service
from tests.conftest import (
    EVENT_ROOM_KEYS,
    Session,
    assert_ack_error,
    open_chat_socket,
    recording_statements,
    sign_in,
)
from tests.factories import PASSWORD, make_message, make_room, make_user


def issue_token(user: User, name: str = "socket") -> tuple[int, str]:
    """(token id, secret) of a new API token of the user."""
    token, secret = api_tokens.create_token(user.email, PASSWORD, name)
    return token.id, secret


def fill(room, author: User, count: int) -> list[int]:
    """Store count messages in the room at once (one commit); their ids, oldest first."""
    messages = [Message(room_id=room.id, user_id=author.id, content=f"history {n}") for n in range(count)]
    db.session.add_all(messages)
    db.session.commit()
    return [message.id for message in messages]


def names(received: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in received]


def socket_rooms(client) -> list[str]:
    """The Socket.IO rooms the server has this socket in."""
    return socketio.server.rooms(client.sid, namespace="/chat")


@pytest.fixture
def member_socket(chat, member_session):
    return chat(member_session)


@pytest.fixture
def owner_socket(chat, owner_session):
    return chat(owner_session)


@pytest.fixture
def stranger(app) -> User:
    return make_user(name="Sam Stranger")


@pytest.fixture
def stranger_session(login, stranger) -> Session:
    return login(stranger)


@pytest.fixture
def stranger_socket(chat, stranger_session):
    return chat(stranger_session)


class FakeClock:
    """time.monotonic for the typing service, moved by the test instead of by sleeping.

    The app's once-a-second ticker thread sees it stopped where it started, so that only the
    test's own expire_typing() calls end an indicator (handlers run in the test's thread).
    """

    def __init__(self) -> None:
        self.start = self.now = 1000.0
        self._test_thread = threading.get_ident()

    def monotonic(self) -> float:
        return self.now if threading.get_ident() == self._test_thread else self.start


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(typing_service, "time", fake)
    return fake


def connect_as(chat, user: User, how: str):
    """A socket of the user, opened with the session cookie or with an API token."""
    if how == "token":
        return chat(user, token=issue_token(user)[1])
    return chat(user)


# -- connecting ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["cookie", "token"])
def test_signed_in_user_connects_and_is_greeted_with_ready(chat, member, how):
    client = connect_as(chat, member, how)
    [data] = [data for name, data in client.greeting if name == "ready"]
    assert data["user"]["id"] == member.id
    assert data["user"]["email"] == member.email
    assert data["user"]["online"] is True


@pytest.mark.parametrize("how", ["cookie", "token"])
def test_online_users_follows_ready_and_lists_who_is_online(chat, owner_socket, owner, member, how):
    make_user(name="Nora Offline")
    client = connect_as(chat, member, how)
    assert names(client.greeting)[:2] == ["ready", "online_users"]
    users = client.greeting[1][1]["users"]
    assert [user["id"] for user in users] == [member.id, owner.id]  # by name: Mia, Olga
    assert all(user["online"] is True for user in users)
    assert all("email" not in user for user in users)


def _anonymous(app, user) -> dict:
    return {}


def _unknown_token(app, user) -> dict:
    return {"token": "parley_" + "x" * 43}


def _token_of_wrong_type(app, user) -> dict:
    return {"token": 12345}


def _revoked_token(app, user) -> dict:
    token_id, secret = issue_token(user)
    api_tokens.revoke_token(user, token_id)
    return {"token": secret}


def _deactivate(user) -> None:
    user.is_active = False
    db.session.commit()


def _deactivated_by_cookie(app, user) -> dict:
    session = sign_in(app.test_client(), user)
    _deactivate(user)
    return {"flask_client": session.client}


def _deactivated_by_token(app, user) -> dict:
    secret = issue_token(user)[1]
    _deactivate(user)
    return {"token": secret}


def _ended_session_cookie(app, user) -> dict:
    session = sign_in(app.test_client(), user)
    user.session_version += 1  # signed out everywhere meanwhile
    db.session.commit()
    return {"flask_client": session.client}


@pytest.mark.parametrize(
    "credentials",
    [
        _anonymous,
        _unknown_token,
        _token_of_wrong_type,
        _revoked_token,
        _deactivated_by_cookie,
        _deactivated_by_token,
        _ended_session_cookie,
    ],
)
def test_socket_without_valid_credentials_is_refused(app, owner_socket, member, credentials):
    raw = open_chat_socket(app, **credentials(app, member))
    assert not raw.is_connected("/chat")
    assert member.id not in presence.store().online_ids()
    assert owner_socket.events("user_online") == []


def test_default_namespace_refuses_a_signed_in_user(app, member_session):
    raw = socketio.test_client(app, flask_test_client=member_session.client)
    assert not raw.is_connected("/")


# -- subscriptions on connect -------------------------------------------------------------


def test_socket_gets_the_messages_of_every_room_of_the_user(app, chat, owner, member, member_session):
    public = make_room(owner, members=(member,))
    private = make_room(owner, kind="private", members=(member,))
    direct = rooms.open_direct_room(owner, member.id)[0].room
    client = chat(member_session)
    for room in (public, private, direct):
        make_message(owner, room, f"to {room.kind}")
    arrived = client.events("new_message")
    assert [(m["message"]["room_id"], m["message"]["content"]) for m in arrived] == [
        (public.id, "to public"),
        (private.id, "to private"),
        (direct.id, "to direct"),
    ]


def test_socket_gets_nothing_from_rooms_the_user_is_not_in(owner, member_socket):
    elsewhere = make_room(owner)
    member_socket.received()  # room_created: every client lists public rooms
    make_message(owner, elsewhere)
    assert member_socket.received() == []


# -- join_room ----------------------------------------------------------------------------


def test_join_room_makes_a_member_of_a_public_room(owner, stranger, stranger_socket):
    lobby = make_room(owner)
    ack = stranger_socket.call("join_room", {"room_id": lobby.id})
    assert ack["ok"] is True
    assert set(ack["room"]) >= EVENT_ROOM_KEYS
    assert ack["room"]["id"] == lobby.id
    assert ack["room"]["is_member"] is True
    assert ack["messages"] == []
    assert ack["has_more"] is False
    assert db.session.get(RoomMembership, (lobby.id, stranger.id)) is not None


def test_joined_socket_receives_the_rooms_messages(owner, stranger_socket):
    lobby = make_room(owner)
    stranger_socket.call("join_room", {"room_id": lobby.id})
    stranger_socket.received()
    message = make_message(owner, lobby)
    assert [data["message"]["id"] for data in stranger_socket.events("new_message")] == [message.id]


def test_join_room_announces_the_new_member_to_the_room(owner, stranger, owner_socket, stranger_socket):
    lobby = make_room(owner)
    stranger_socket.call("join_room", {"room_id": lobby.id})
    [joined] = owner_socket.events("user_joined")
    assert joined["room_id"] == lobby.id
    assert joined["user"]["id"] == stranger.id


def test_join_room_hides_a_private_room_from_non_members(owner, stranger_socket):
    secret = make_room(owner, kind="private")
    assert_ack_error(stranger_socket.call("join_room", {"room_id": secret.id}), "room_not_found")


def test_join_room_of_a_missing_room_is_room_not_found(member_socket):
    assert_ack_error(member_socket.call("join_room", {"room_id": 999_999}), "room_not_found")


@pytest.mark.parametrize("kind", ["private", "direct"])
def test_join_room_answers_a_member_of_a_private_or_direct_room(owner, member, member_socket, kind):
    if kind == "direct":
        joined = rooms.open_direct_room(owner, member.id)[0].room
    else:
        joined = make_room(owner, kind=kind, members=(member,))
    message = make_message(owner, joined)
    ack = member_socket.call("join_room", {"room_id": joined.id})
    assert ack["ok"] is True
    assert ack["room"]["kind"] == kind
    assert [m["id"] for m in ack["messages"]] == [message.id]


def test_join_room_refuses_a_non_member_a_closed_public_room(owner, stranger, stranger_socket):
    lobby = make_room(owner)
    rooms.set_room_active(owner, lobby.id, False)
    assert_ack_error(stranger_socket.call("join_room", {"room_id": lobby.id}), "room_closed")
    assert db.session.get(RoomMembership, (lobby.id, stranger.id)) is None


def test_join_room_gives_a_member_the_history_of_a_closed_room(owner, room, member_socket):
    message = make_message(owner, room)
    rooms.set_room_active(owner, room.id, False)
    ack = member_socket.call("join_room", {"room_id": room.id})
    assert ack["ok"] is True
    assert ack["room"]["is_active"] is False
    assert [m["id"] for m in ack["messages"]] == [message.id]


HISTORY = 130


@pytest.mark.parametrize(
    ("since", "expected", "has_more"),
    [
        (9, slice(10, 110), True),  # up to 100 after since_id, oldest first
        (HISTORY - 4, slice(HISTORY - 3, HISTORY), False),  # the last few
        (HISTORY - 1, slice(0, 0), False),  # nothing new
        (None, slice(0, 100), True),  # since_id 0: from the very first message
    ],
)
def test_join_room_since_id_catches_up(owner, room, member_socket, since, expected, has_more):
    ids = fill(room, owner, HISTORY)
    since_id = 0 if since is None else ids[since]
    ack = member_socket.call("join_room", {"room_id": room.id, "since_id": since_id})
    assert [m["id"] for m in ack["messages"]] == ids[expected]
    assert ack["has_more"] is has_more


def test_join_room_without_since_id_answers_the_latest_50(owner, room, member_socket):
    ids = fill(room, owner, HISTORY)
    ack = member_socket.call("join_room", {"room_id": room.id})
    assert [m["id"] for m in ack["messages"]] == ids[-50:]
    assert ack["has_more"] is True


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "room_id"),
        ({"room_id": "1"}, "room_id"),
        ({"room_id": 0}, "room_id"),
        ({"room_id": 1, "since_id": -1}, "since_id"),
        ({"room_id": 1, "since_id": "5"}, "since_id"),
        ({"room_id": 1, "colour": "red"}, "colour"),
    ],
)
def test_join_room_validates_its_payload(member_socket, payload, field):
    assert_ack_error(member_socket.call("join_room", payload), "validation_failed", field)


# -- leave_room ---------------------------------------------------------------------------


def test_leave_room_stops_that_sockets_events_only(chat, owner, member, member_session, room):
    leaving, staying = chat(member_session), chat(member_session)
    assert leaving.call("leave_room", {"room_id": room.id}) == {"ok": True}
    message = make_message(owner, room)
    assert leaving.events("new_message") == []
    assert [data["message"]["id"] for data in staying.events("new_message")] == [message.id]


def test_leave_room_keeps_the_membership(member, room, member_socket):
    member_socket.call("leave_room", {"room_id": room.id})
    db.session.expire_all()
    assert db.session.get(RoomMembership, (room.id, member.id)) is not None


def test_leave_room_of_a_hidden_room_is_room_not_found(owner, member_socket):
    secret = make_room(owner, kind="private")
    assert_ack_error(member_socket.call("leave_room", {"room_id": secret.id}), "room_not_found")


# -- send_message -------------------------------------------------------------------------


def message_rows() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Message))


def test_send_message_acks_the_created_message(member, room, member_socket):
    ack = member_socket.call("send_message", {"room_id": room.id, "content": "  hello  "})
    assert ack["ok"] is True
    assert ack["created"] is True
    assert ack["message"]["room_id"] == room.id
    assert ack["message"]["content"] == "hello"
    assert ack["message"]["author"]["id"] == member.id
    assert db.session.get(Message, ack["message"]["id"]) is not None


def test_sent_message_reaches_the_other_members(room, member_socket, owner_socket):
    ack = member_socket.call("send_message", {"room_id": room.id, "content": "hello"})
    assert owner_socket.events("new_message") == [{"message": ack["message"]}]


def test_send_message_is_idempotent_on_client_id(room, member_socket, owner_socket):
    payload = {"room_id": room.id, "content": "once", "client_id": "c-1"}
    first = member_socket.call("send_message", payload)
    again = member_socket.call("send_message", payload)
    assert (first["created"], again["created"]) == (True, False)
    assert again["message"] == first["message"]
    assert message_rows() == 1
    # The repeat is announced again (its sender had no ack); clients keep one copy by id.
    announced = {event["message"]["id"] for event in owner_socket.events("new_message")}
    assert announced == {first["message"]["id"]}


def test_client_id_of_another_rooms_message_is_refused(owner, member, room, member_socket, owner_socket):
    elsewhere = make_room(owner, members=(member,))
    member_socket.call("send_message", {"room_id": elsewhere.id, "content": "first", "client_id": "c-1"})
    owner_socket.received()
    ack = member_socket.call("send_message", {"room_id": room.id, "content": "again", "client_id": "c-1"})
    assert_ack_error(ack, "client_id_reused", "client_id")
    assert message_rows() == 1
    assert owner_socket.received() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"content": "x" * 4001}, "content"),
        ({"content": "   "}, "content"),
        ({"content": 5}, "content"),
        ({"content": None}, "content"),
        ({"room_id": "1"}, "room_id"),
        ({"client_id": 7}, "client_id"),
        ({"client_id": "has space"}, "client_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_send_message_refuses_invalid_fields(room, member_socket, owner_socket, change, field):
    payload = {"room_id": room.id, "content": "fine", **change}
    assert_ack_error(member_socket.call("send_message", payload), "validation_failed", field)
    assert message_rows() == 0
    assert owner_socket.received() == []


def test_send_message_without_content_names_the_field(room, member_socket):
    ack = member_socket.call("send_message", {"room_id": room.id})
    assert_ack_error(ack, "validation_failed", "content")


def _room_not_joined(owner, member, room) -> int:
    return make_room(owner).id


def _closed_room(owner, member, room) -> int:
    rooms.set_room_active(owner, room.id, False)
    return room.id


def _deleted_room(owner, member, room) -> int:
    room_id = room.id
    rooms.delete_room(owner, room_id)
    return room_id


def _hidden_room(owner, member, room) -> int:
    return make_room(owner, kind="private").id


@pytest.mark.parametrize(
    ("target", "code"),
    [
        (_room_not_joined, "not_a_member"),
        (_closed_room, "room_closed"),
        (_deleted_room, "room_not_found"),
        (_hidden_room, "room_not_found"),
    ],
)
def test_send_message_refused_delivers_nothing(
    owner, member, room, member_socket, owner_socket, target, code
):
    room_id = target(owner, member, room)
    owner_socket.received()
    member_socket.received()
    ack = member_socket.call("send_message", {"room_id": room_id, "content": "lost"})
    assert_ack_error(ack, code)
    assert message_rows() == 0
    assert owner_socket.received() == []
    assert member_socket.received() == []


# -- typing -------------------------------------------------------------------------------


def typing_events(client) -> list[tuple[int, int, bool]]:
    return [(e["room_id"], e["user"]["id"], e["is_typing"]) for e in client.events("user_typing")]


def test_typing_is_announced_to_the_other_members(clock, member, room, member_socket, owner_socket):
    assert member_socket.call("typing", {"room_id": room.id, "is_typing": True}) == {"ok": True}
    [event] = owner_socket.events("user_typing")
    assert event["room_id"] == room.id
    assert event["user"]["id"] == member.id
    assert event["is_typing"] is True


def test_typing_never_reaches_the_senders_own_sockets(chat, clock, member_session, room, owner_socket):
    typing_tab, other_tab = chat(member_session), chat(member_session)
    typing_tab.call("typing", {"room_id": room.id, "is_typing": True})
    typing_tab.call("typing", {"room_id": room.id, "is_typing": False})
    assert typing_tab.events("user_typing") == []
    assert other_tab.events("user_typing") == []
    assert len(owner_socket.events("user_typing")) == 2


def test_typing_again_within_the_throttle_is_not_reannounced(
    clock, member, room, member_socket, owner_socket
):
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    clock.now += typing_service.THROTTLE_SECONDS - 0.5
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    assert typing_events(owner_socket) == [(room.id, member.id, True)]


def test_typing_after_the_throttle_is_announced_again(clock, member, room, member_socket, owner_socket):
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    clock.now += typing_service.THROTTLE_SECONDS
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    assert typing_events(owner_socket) == [(room.id, member.id, True)] * 2


def test_stopping_typing_is_announced(clock, member, room, member_socket, owner_socket):
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    member_socket.call("typing", {"room_id": room.id, "is_typing": False})
    assert typing_events(owner_socket) == [(room.id, member.id, True), (room.id, member.id, False)]


def test_typing_again_after_stopping_is_announced_at_once(clock, member, room, member_socket, owner_socket):
    for is_typing in (True, False, True):
        member_socket.call("typing", {"room_id": room.id, "is_typing": is_typing})
    assert [event[2] for event in typing_events(owner_socket)] == [True, False, True]


def test_stopping_without_typing_announces_nothing(clock, room, member_socket, owner_socket):
    assert member_socket.call("typing", {"room_id": room.id, "is_typing": False}) == {"ok": True}
    assert owner_socket.events("user_typing") == []


def test_typing_expires_after_five_quiet_seconds(clock, member, room, member_socket, owner_socket):
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    owner_socket.received()
    clock.now += typing_service.EXPIRES_SECONDS - 0.1
    typing_service.expire_typing()
    assert owner_socket.events("user_typing") == []
    clock.now += 0.1
    typing_service.expire_typing()
    assert typing_events(owner_socket) == [(room.id, member.id, False)]


def test_typing_renewed_within_five_seconds_does_not_expire(clock, room, member_socket, owner_socket):
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    clock.now += 3
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    owner_socket.received()
    clock.now += 3
    typing_service.expire_typing()
    assert owner_socket.events("user_typing") == []


def test_sending_a_message_ends_typing_quietly(clock, room, member_socket, owner_socket):
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    member_socket.call("send_message", {"room_id": room.id, "content": "done typing"})
    clock.now += typing_service.EXPIRES_SECONDS
    typing_service.expire_typing()
    assert names(owner_socket.received()) == ["user_typing", "new_message"]


def test_typing_ends_when_the_user_goes_offline(clock, member, room, member_socket, owner_socket):
    member_socket.call("typing", {"room_id": room.id, "is_typing": True})
    owner_socket.received()
    member_socket.close()
    assert typing_events(owner_socket) == [(room.id, member.id, False)]


@pytest.mark.parametrize(
    ("target", "code"), [(_room_not_joined, "not_a_member"), (_closed_room, "room_closed")]
)
def test_typing_is_refused_outside_an_open_room_of_the_user(
    clock, owner, member, room, member_socket, owner_socket, target, code
):
    room_id = target(owner, member, room)
    owner_socket.received()
    ack = member_socket.call("typing", {"room_id": room_id, "is_typing": True})
    assert_ack_error(ack, code)
    assert owner_socket.received() == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"room_id": 1}, "is_typing"),
        ({"room_id": 1, "is_typing": "yes"}, "is_typing"),
        ({"is_typing": True}, "room_id"),
    ],
)
def test_typing_validates_its_payload(member_socket, payload, field):
    assert_ack_error(member_socket.call("typing", payload), "validation_failed", field)


# -- mark_read ----------------------------------------------------------------------------


@pytest.mark.parametrize(("read", "unread"), [(0, 2), (1, 1), (2, 0)])
def test_mark_read_answers_the_unread_count_left(owner, room, member_socket, read, unread):
    posted = [make_message(owner, room) for _ in range(3)]
    ack = member_socket.call("mark_read", {"room_id": room.id, "message_id": posted[read].id})
    assert ack == {"ok": True, "unread_count": unread}


def test_mark_read_refuses_a_message_of_another_room(owner, member, room, member_socket):
    elsewhere = make_room(owner, members=(member,))
    other = make_message(owner, elsewhere)
    ack = member_socket.call("mark_read", {"room_id": room.id, "message_id": other.id})
    assert_ack_error(ack, "validation_failed", "message_id")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"room_id": 1}, "message_id"),
        ({"room_id": 1, "message_id": "3"}, "message_id"),
        ({"message_id": 1}, "room_id"),
    ],
)
def test_mark_read_validates_its_payload(member_socket, payload, field):
    assert_ack_error(member_socket.call("mark_read", payload), "validation_failed", field)


def test_mark_read_refuses_a_non_member(owner, member_socket):
    lobby = make_room(owner)
    message = make_message(owner, lobby)
    ack = member_socket.call("mark_read", {"room_id": lobby.id, "message_id": message.id})
    assert_ack_error(ack, "not_a_member")


# -- the envelope: unknown events, bad payloads, failures ---------------------------------


def test_unknown_event_is_answered_unknown_event(member_socket):
    assert_ack_error(member_socket.call("shout", {"room_id": 1}), "unknown_event")


@pytest.mark.parametrize("payload", [[], ["room_id", 1], "text", 5, None])
def test_non_object_payload_is_invalid_body(room, member_socket, payload):
    assert_ack_error(member_socket.call("send_message", payload), "invalid_body")


@pytest.mark.parametrize("event", ["join_room", "leave_room", "send_message", "typing", "mark_read"])
def test_every_event_needs_an_object_payload(member_socket, event):
    assert_ack_error(member_socket.call(event), "invalid_body")


def explode(*_args, **_kwargs):
    raise RuntimeError("boom: secret internals")


@pytest.mark.parametrize("event", ["connect", "disconnect"])
def test_client_event_with_a_lifecycle_name_is_an_unknown_event(member, member_socket, owner_socket, event):
    # Only the server may run the connect and disconnect handlers, not a client's event.
    assert_ack_error(member_socket.call(event, {}), "unknown_event")
    assert presence.is_online(member.id)
    assert owner_socket.received() == []


def test_socket_that_sent_a_disconnect_event_is_still_closed_on_deactivation(
    admin_session, member, member_socket
):
    member_socket.call("disconnect", "io client disconnect")
    assert admin_session.patch(f"/users/{member.id}", json={"is_active": False}).status_code == 200
    assert not member_socket.connected


def test_a_failing_handler_acks_internal_error_without_details(monkeypatch, room, member_socket, caplog):
    monkeypatch.setattr(messaging, "send_message", explode)
    with caplog.at_level(logging.ERROR, logger="app.realtime.namespace"):
        ack = member_socket.call("send_message", {"room_id": room.id, "content": "hi"})
    error = assert_ack_error(ack, "internal_error")
    assert "secret" not in str(ack)
    assert "Traceback" not in str(ack)
    assert "RuntimeError" not in error["message"]
    assert "socket event send_message failed" in caplog.text


def test_an_unreachable_database_acks_database_unavailable(monkeypatch, room, member_socket, caplog):
    def unreachable(*_args, **_kwargs):
        raise sa.exc.OperationalError("INSERT ...", {}, ConnectionRefusedError("database down"))

    monkeypatch.setattr(messaging, "send_message", unreachable)
    with caplog.at_level(logging.WARNING, logger="app.errors"):
        ack = member_socket.call("send_message", {"room_id": room.id, "content": "hi"})
    assert_ack_error(ack, "database_unavailable")
    assert "database unavailable" in caplog.text
    assert "Traceback" not in caplog.text


def test_socket_stays_usable_after_a_failing_handler(monkeypatch, room, member_socket):
    monkeypatch.setattr(messaging, "send_message", explode)
    assert_ack_error(
        member_socket.call("send_message", {"room_id": room.id, "content": "a"}), "internal_error"
    )
    monkeypatch.undo()
    assert member_socket.connected
    ack = member_socket.call("send_message", {"room_id": room.id, "content": "b"})
    assert ack["ok"] is True
    assert ack["message"]["content"] == "b"


# -- events caused by REST requests -------------------------------------------------------


def test_message_posted_over_rest_reaches_the_rooms_sockets(owner_session, room, member_socket):
    response = owner_session.post(f"/rooms/{room.id}/messages", json={"content": "from REST"})
    assert response.status_code == 201
    assert member_socket.events("new_message") == [{"message": response.get_json()["message"]}]


def test_message_edited_over_rest_reaches_the_rooms_sockets(owner, owner_session, room, member_socket):
    message = make_message(owner, room)
    member_socket.received()
    response = owner_session.patch(f"/messages/{message.id}", json={"content": "edited"})
    assert response.status_code == 200
    [edited] = member_socket.events("message_edited")
    assert edited == {"message": response.get_json()["message"]}
    assert edited["message"]["content"] == "edited"


def test_message_deleted_over_rest_reaches_the_rooms_sockets(owner, owner_session, room, member_socket):
    message = make_message(owner, room)
    member_socket.received()
    assert owner_session.delete(f"/messages/{message.id}").status_code == 204
    assert member_socket.events("message_deleted") == [{"message_id": message.id, "room_id": room.id}]


@pytest.mark.parametrize("kind", ["public", "private"])
@pytest.mark.parametrize(
    ("action", "event"), [("close", "room_closed"), ("reopen", "room_reopened"), ("delete", "room_deleted")]
)
def test_room_lifecycle_over_rest_reaches_the_rooms_sockets(
    owner, member, owner_session, member_socket, stranger_socket, kind, action, event
):
    target = make_room(owner, kind=kind, members=(member,))
    if action == "reopen":
        rooms.set_room_active(owner, target.id, False)
    member_socket.received()
    stranger_socket.received()
    if action == "delete":
        assert owner_session.delete(f"/rooms/{target.id}").status_code == 204
    else:
        assert owner_session.post(f"/rooms/{target.id}/{action}").status_code == 200
    assert member_socket.events(event) == [{"room_id": target.id}]
    # Everyone lists public rooms; a private room's events stay among its members.
    assert stranger_socket.events(event) == ([{"room_id": target.id}] if kind == "public" else [])


def test_deleted_room_drops_its_sockets(owner, owner_session, room, member_socket):
    assert f"room:{room.id}" in socket_rooms(member_socket)
    assert owner_session.delete(f"/rooms/{room.id}").status_code == 204
    assert f"room:{room.id}" not in socket_rooms(member_socket)


def test_join_over_rest_is_announced_to_the_room_and_the_joiner(
    owner, stranger, stranger_session, owner_socket, stranger_socket
):
    lobby = make_room(owner)
    assert stranger_session.post(f"/rooms/{lobby.id}/join").status_code == 200
    for client in (owner_socket, stranger_socket):
        [joined] = client.events("user_joined")
        assert joined["room_id"] == lobby.id
        assert joined["user"]["id"] == stranger.id


@pytest.mark.parametrize("kind", ["public", "private"])
def test_join_over_rest_subscribes_the_joiners_open_socket(owner, stranger_session, stranger_socket, kind):
    target = make_room(owner, kind=kind)
    body = {"invite_code": target.invite_code} if kind == "private" else {}
    assert stranger_session.post(f"/rooms/{target.id}/join", json=body).status_code == 200
    stranger_socket.received()
    message = make_message(owner, target)
    assert [data["message"]["id"] for data in stranger_socket.events("new_message")] == [message.id]


def test_leave_over_rest_unsubscribes_the_users_sockets(owner, member, member_session, room, member_socket):
    assert member_session.post(f"/rooms/{room.id}/leave").status_code == 200
    [left] = member_socket.events("user_left")
    assert (left["room_id"], left["user"]["id"]) == (room.id, member.id)
    make_message(owner, room)
    assert member_socket.events("new_message") == []


def test_direct_room_opened_over_rest_reaches_both_users_sockets(
    owner, member, owner_session, owner_socket, member_socket
):
    response = owner_session.post(f"/users/{member.id}/dm")
    assert response.status_code == 201
    room_id = response.get_json()["room"]["id"]
    make_message(owner, db.session.get(Room, room_id), "first words")
    for client in (owner_socket, member_socket):
        arrived = [
            (name, data) for name, data in client.received() if name in ("room_created", "new_message")
        ]
        assert names(arrived) == ["room_created", "new_message"]
        assert arrived[0][1]["room"]["id"] == room_id
        assert arrived[0][1]["room"]["kind"] == "direct"
        assert arrived[1][1]["message"]["content"] == "first words"


def test_private_room_created_over_rest_reaches_only_its_creator(
    owner, owner_session, owner_socket, member_socket
):
    response = owner_session.post("/rooms", json={"name": "Backstage", "kind": "private"})
    assert response.status_code == 201
    room_id = response.get_json()["room"]["id"]
    assert [data["room"]["id"] for data in owner_socket.events("room_created")] == [room_id]
    assert member_socket.received() == []
    make_message(owner, db.session.get(Room, room_id))
    assert len(owner_socket.events("new_message")) == 1


# -- presence -----------------------------------------------------------------------------


def test_first_socket_announces_the_user_online(chat, member, member_session, owner_socket):
    chat(member_session)
    chat(member_session)
    assert [data["user"]["id"] for data in owner_socket.events("user_online")] == [member.id]


def test_user_with_two_tabs_goes_offline_when_the_last_closes(chat, member, member_session, owner_socket):
    first, second = chat(member_session), chat(member_session)
    owner_socket.received()
    first.close()
    assert owner_socket.events("user_offline") == []
    assert presence.is_online(member.id)
    second.close()
    assert owner_socket.events("user_offline") == [{"user_id": member.id}]
    assert not presence.is_online(member.id)


def _online_in_members(session, user: User, room) -> bool:
    members = session.get(f"/rooms/{room.id}/members").get_json()["members"]
    return next(m["user"]["online"] for m in members if m["user"]["id"] == user.id)


def _online_in_directory(session, user: User, room) -> bool:
    users = session.get("/users").get_json()["users"]
    return next(found["online"] for found in users if found["id"] == user.id)


def _online_in_profile(session, user: User, room) -> bool:
    return session.get(f"/users/{user.id}").get_json()["user"]["online"]


@pytest.mark.parametrize("online_flag", [_online_in_members, _online_in_directory, _online_in_profile])
def test_rest_user_objects_say_whether_the_user_is_online(
    chat, owner_session, member, member_session, room, online_flag
):
    assert online_flag(owner_session, member, room) is False
    client = chat(member_session)
    assert online_flag(owner_session, member, room) is True
    client.close()
    assert online_flag(owner_session, member, room) is False


# -- sockets closed when what opened them ends ----------------------------------------------


@pytest.fixture
def member_sockets(chat, login, member) -> dict[str, Any]:
    """Four sockets of the member: two browser sessions (laptop, phone) and two tokens."""
    laptop, phone = login(member), login(member)
    script_id, script_secret = issue_token(member, "script")
    bot_secret = issue_token(member, "bot")[1]
    return {
        "sessions": {"laptop": laptop, "phone": phone},
        "script_id": script_id,
        "sockets": {
            "laptop": chat(laptop),
            "phone": chat(phone),
            "script": chat(member, token=script_secret),
            "bot": chat(member, token=bot_secret),
        },
    }


def _logout(setup, admin_session, member) -> None:
    assert setup["sessions"]["laptop"].post("/auth/logout").status_code == 200


def _logout_everywhere(setup, admin_session, member) -> None:
    response = setup["sessions"]["laptop"].post("/auth/logout", json={"everywhere": True})
    assert response.status_code == 200


def _change_password(setup, admin_session, member) -> None:
    body = {"password": "a brand new password", "current_password": PASSWORD}
    assert setup["sessions"]["laptop"].put("/auth/profile", json=body).status_code == 200


def _deactivate_by_admin(setup, admin_session, member) -> None:
    assert admin_session.patch(f"/users/{member.id}", json={"is_active": False}).status_code == 200


def _revoke_script_token(setup, admin_session, member) -> None:
    assert setup["sessions"]["laptop"].delete(f"/auth/tokens/{setup['script_id']}").status_code == 204


SESSION_ENDINGS = [
    pytest.param(_logout, "signed_out", {"laptop"}, id="logout"),
    pytest.param(_logout_everywhere, "signed_out", {"laptop", "phone"}, id="logout-everywhere"),
    pytest.param(_change_password, "password_changed", {"laptop", "phone"}, id="password-change"),
    pytest.param(
        _deactivate_by_admin, "account_disabled", {"laptop", "phone", "script", "bot"}, id="deactivation"
    ),
    pytest.param(_revoke_script_token, "token_revoked", {"script"}, id="token-revocation"),
]


@pytest.mark.parametrize(("end", "reason", "closed"), SESSION_ENDINGS)
def test_ending_a_session_closes_exactly_its_sockets(
    admin_session, member, member_sockets, end, reason, closed
):
    sockets = member_sockets["sockets"]
    for client in sockets.values():
        client.received()
    end(member_sockets, admin_session, member)
    assert {name for name, client in sockets.items() if not client.connected} == closed


@pytest.mark.parametrize(("end", "reason", "closed"), SESSION_ENDINGS)
def test_closed_sockets_are_told_why_first(admin_session, member, member_sockets, end, reason, closed):
    sockets = member_sockets["sockets"]
    for client in sockets.values():
        client.received()
    end(member_sockets, admin_session, member)
    for name in closed:
        assert sockets[name].until_closed()[-1:] == [("session_ended", {"reason": reason})], name


@pytest.mark.parametrize(("end", "reason", "closed"), SESSION_ENDINGS)
def test_sockets_of_other_sessions_stay_usable(
    admin_session, member, room, member_sockets, end, reason, closed
):
    sockets = member_sockets["sockets"]
    end(member_sockets, admin_session, member)
    for name, client in sockets.items():
        if name not in closed:
            assert client.call("join_room", {"room_id": room.id})["ok"] is True, name
            assert "session_ended" not in names(client.received()), name


def _bump_session_version(member, client_kind: str) -> None:
    member.session_version += 1
    db.session.commit()


def _revoke_quietly(member, client_kind: str) -> None:
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == member.id))
    token.revoked_at = utcnow()
    db.session.commit()


def _deactivate_quietly(member, client_kind: str) -> None:
    _deactivate(member)


@pytest.mark.parametrize(
    ("how", "end"),
    [
        ("cookie", _bump_session_version),
        ("cookie", _deactivate_quietly),
        ("token", _revoke_quietly),
        ("token", _deactivate_quietly),
    ],
)
def test_socket_whose_session_ended_elsewhere_is_refused_and_closed(chat, member, room, how, end):
    client = connect_as(chat, member, how)
    end(member, how)
    assert_ack_error(client.call("join_room", {"room_id": room.id}), "session_ended")
    client.wait_closed()


@pytest.mark.parametrize(("how", "end"), [("cookie", _bump_session_version), ("token", _revoke_quietly)])
def test_a_session_ended_without_a_push_is_noticed_after_the_recheck_interval(
    chat, member, room, how, end, monkeypatch
):
    monkeypatch.setattr(chat_namespace, "IDENTITY_RECHECK_SECONDS", 0.2)
    client = connect_as(chat, member, how)
    assert client.call("join_room", {"room_id": room.id})["ok"]
    end(member, how)
    time.sleep(0.25)
    assert_ack_error(client.call("send_message", {"room_id": room.id, "content": "late"}), "session_ended")
    client.wait_closed()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_events_within_the_recheck_interval_reuse_the_last_check(chat, member, room):
    # A token socket: a cookie socket's user lookup may be answered from the test's own session.
    client = connect_as(chat, member, "token")
    assert client.call("join_room", {"room_id": room.id})["ok"]
    with recording_statements() as statements:
        ack = client.call("send_message", {"room_id": room.id, "content": "quick"})
    assert ack["ok"]
    assert ack["message"]["author"] == {"id": member.id, "name": member.name, "avatar_url": None}
    assert not [sql for sql in statements if "FROM users" in sql or "api_tokens" in sql], statements


def test_socket_events_leave_no_routing_error_in_a_reference_cycle(chat, member, room):
    client = connect_as(chat, member, "token")
    assert client.call("join_room", {"room_id": room.id})["ok"]
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for n in range(3):
            assert client.call("send_message", {"room_id": room.id, "content": f"n{n}"})["ok"]
        gc.collect()
        # werkzeug's own: NotFound, or RequestRedirect for a path without its trailing slash
        routing_errors = [
            found
            for found in gc.garbage
            # type(), not isinstance(): the garbage holds dead weak proxies too
            if issubclass(type(found), HTTPException | RoutingException)
            and type(found).__module__.startswith("werkzeug")
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert routing_errors == []


# -- database connections -----------------------------------------------------------------


def load_round(room_id: int, hidden_id: int, closed_id: int, last_id: int) -> list[tuple[str, dict]]:
    """One round of client events: successes and refusals of every kind."""
    return [
        ("send_message", {"room_id": room_id, "content": "load"}),
        ("typing", {"room_id": room_id, "is_typing": True}),
        ("mark_read", {"room_id": room_id, "message_id": last_id}),
        ("send_message", {"room_id": hidden_id, "content": "refused"}),
        ("typing", {"room_id": room_id, "is_typing": False}),
        ("send_message", {"room_id": closed_id, "content": "closed"}),
        ("join_room", {"room_id": room_id, "since_id": last_id}),
        ("send_message", {"room_id": room_id, "content": ""}),
        ("mark_read", {"room_id": room_id, "message_id": 999_999}),
        ("leave_room", {"room_id": room_id}),
        ("nonsense", {}),
    ]


def test_socket_events_return_every_database_connection(make_app, chat, caplog):
    application = make_app(
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 2, "max_overflow": 0, "pool_timeout": 2},
        SOCKET_EVENT_LIMIT="100000/10",
        SOCKET_MESSAGE_LIMIT="100000/10",
        SOCKET_TYPING_LIMIT="100000/10",
    )
    with application.app_context():
        owner, member = make_user(), make_user()
        open_room = make_room(owner, members=(member,))
        closed = make_room(owner, members=(member,))
        rooms.set_room_active(owner, closed.id, False)
        ids = (open_room.id, make_room(owner, kind="private").id, closed.id)
        session = sign_in(application.test_client(), member)
    # No context pushed from here on: each event gets its own, as on a real server.
    client = chat(session, app=application)
    codes: Counter[str] = Counter()
    last_id = 999_999
    with caplog.at_level(logging.ERROR):
        for _ in range(200):
            for event, payload in load_round(*ids, last_id):
                ack = client.call(event, payload)
                codes["ok" if ack["ok"] else ack["error"]["code"]] += 1
                last_id = ack["message"]["id"] if "message" in ack else last_id
    assert set(codes) == {"ok", "room_not_found", "room_closed", "validation_failed", "unknown_event"}, codes
    assert client.connected
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
    with application.app_context():
        assert db.engine.pool.checkedout() == 0
