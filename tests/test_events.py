"""The event seam: services queue, events.py publishes after commit; a broken emit loses nothing stored."""

import logging

import pytest

from app.errors import Conflict
from app.extensions import db, socketio
from app.models import Message, Room, User
from app.schemas.messages import serialize_message
from app.services import accounts, events, messaging, rooms
from tests.conftest import EVENT_ROOM_KEYS
from tests.factories import PASSWORD, make_room, make_user


@pytest.fixture
def emitted(monkeypatch) -> list[tuple[tuple, dict]]:
    """Every call to socketio.emit, as (args, kwargs), instead of emitting."""
    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(socketio, "emit", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


@pytest.fixture
def broken_emit(monkeypatch) -> None:
    """socketio.emit fails as it would with the message queue down."""

    def fail(*_args, **_kwargs):
        raise ConnectionError("message queue unreachable")

    monkeypatch.setattr(socketio, "emit", fail)


def _rename(user: User, name: str) -> None:
    """Something for the transaction to carry besides the events."""
    user.name = name
    db.session.flush()


# -- queue and commit ---------------------------------------------------------------------


def test_queued_events_wait_for_the_commit(app, member, recorded_events, emitted):
    _rename(member, "Renamed")
    events.queue("first", {"n": 1}, to=("room:1",))
    events.queue("second", {"n": 2})
    assert recorded_events == []
    assert emitted == []
    db.session.commit()
    assert recorded_events == [
        events.Event("first", {"n": 1}, ("room:1",)),
        events.Event("second", {"n": 2}, ()),
    ]


def test_events_are_published_in_the_order_they_were_queued(app, member, recorded_events, emitted):
    names = [f"event_{n}" for n in range(5)]
    for name in names:
        events.queue(name, {})
    _rename(member, "Ordered")
    db.session.commit()
    assert [event.name for event in recorded_events] == names
    assert [args[0] for args, _ in emitted] == names


def test_each_event_is_published_once(app, member, recorded_events, emitted):
    events.queue("once", {})
    db.session.commit()
    _rename(member, "Later")
    db.session.commit()
    assert [event.name for event in recorded_events] == ["once"]
    assert len(emitted) == 1


def test_rollback_drops_queued_events(app, member, recorded_events, emitted):
    _rename(member, "Never")
    events.queue("dropped", {})
    db.session.rollback()
    db.session.commit()  # a later commit must not resurrect them
    assert recorded_events == []
    assert emitted == []
    db.session.expire_all()
    assert db.session.get(User, member.id).name == "Mia Member"


def test_a_failing_commit_publishes_nothing(app, member, recorded_events, emitted):
    events.queue("doomed", {"why": "the commit below fails"})
    with pytest.raises(Conflict) as refused:
        accounts.create_user(member.email, PASSWORD, "Duplicate")
    assert refused.value.code == "email_taken"
    db.session.commit()
    assert recorded_events == []
    assert emitted == []
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


def test_events_queued_after_a_failed_commit_are_published(app, member, recorded_events, emitted):
    events.queue("doomed", {})
    with pytest.raises(Conflict):
        accounts.create_user(member.email, PASSWORD, "Duplicate")
    events.queue("fresh", {})
    db.session.commit()
    assert [event.name for event in recorded_events] == ["fresh"]


# -- publish and Socket.IO ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (("room:7",), ["room:7"]),
        (("room:7", "user:3"), ["room:7", "user:3"]),
        ((), None),
    ],
)
def test_publish_emits_in_the_chat_namespace_to_its_targets(app, emitted, to, expected):
    events.publish(events.Event("something", {"a": 1}, to))
    assert emitted == [(("something", {"a": 1}), {"namespace": "/chat", "to": expected})]


def test_publish_never_raises_when_emitting_fails(app, broken_emit, recorded_events, caplog):
    event = events.Event("lost", {"a": 1}, ("room:1",))
    with caplog.at_level(logging.ERROR, logger="app.services.events"):
        events.publish(event)
    assert recorded_events == [event]
    [record] = [r for r in caplog.records if r.name == "app.services.events"]
    assert record.getMessage() == "emitting lost failed"
    assert isinstance(record.exc_info[1], ConnectionError)


def test_a_failing_emit_keeps_the_created_room(app, member, broken_emit, recorded_events, caplog):
    with caplog.at_level(logging.ERROR, logger="app.services.events"):
        view = rooms.create_room(member, "Survives")
    assert [event.name for event in recorded_events] == ["room_created"]
    assert "emitting room_created failed" in caplog.text
    db.session.expire_all()
    assert db.session.get(Room, view.room.id).name == "Survives"


def test_a_failing_emit_keeps_the_sent_message(app, member, broken_emit, caplog):
    room = make_room(member)
    with caplog.at_level(logging.ERROR, logger="app.services.events"):
        message, created = messaging.send_message(member, room.id, "still stored")
    assert created is True
    assert "emitting new_message failed" in caplog.text
    db.session.expire_all()
    assert db.session.get(Message, message.id).content == "still stored"


def test_a_failing_emit_does_not_stop_the_other_events(app, member, recorded_events, emitted, monkeypatch):
    def emit_all_but_the_first(name, *args, **kwargs):
        if name == "first":
            raise ConnectionError("down for a moment")
        emitted.append(((name, *args), kwargs))

    monkeypatch.setattr(socketio, "emit", emit_all_but_the_first)
    events.queue("first", {})
    events.queue("second", {})
    db.session.commit()
    assert [event.name for event in recorded_events] == ["first", "second"]
    assert [args[0] for args, _ in emitted] == ["second"]


def test_a_failing_emit_over_http_still_answers_201(member_session, member, broken_emit):
    room = make_room(member)
    response = member_session.post(f"/rooms/{room.id}/messages", json={"content": "over http"})
    assert response.status_code == 201
    db.session.expire_all()
    assert db.session.get(Message, response.get_json()["message"]["id"]).content == "over http"


# -- what one service call publishes --------------------------------------------------------


def test_creating_a_public_room_announces_it_to_everyone(app, member, recorded_events):
    view = rooms.create_room(member, "Lobby", "Say hi")
    [event] = recorded_events
    assert (event.name, event.to) == ("room_created", ())
    room = event.data["room"]
    assert set(event.data) == {"room"}
    assert set(room) == EVENT_ROOM_KEYS
    assert room["id"] == view.room.id
    assert (room["name"], room["description"], room["kind"], room["is_active"]) == (
        "Lobby",
        "Say hi",
        "public",
        True,
    )
    assert room["created_by"] == {"id": member.id, "name": member.name}
    assert (room["member_count"], room["closed_at"]) == (1, None)


def test_creating_a_private_room_tells_only_its_creator(app, member, recorded_events):
    view = rooms.create_room(member, "Hideout", kind="private")
    [event] = recorded_events
    assert (event.name, event.to) == ("room_created", (f"user:{member.id}",))
    assert set(event.data["room"]) == EVENT_ROOM_KEYS
    assert view.room.invite_code not in str(event.data)


def test_a_refused_room_creation_publishes_nothing(app, member, recorded_events):
    make_room(member, name="Taken")
    recorded_events.clear()
    with pytest.raises(Conflict):
        rooms.create_room(member, "TAKEN")
    db.session.commit()
    assert recorded_events == []


def test_sending_a_message_announces_it_to_the_room(app, member, recorded_events):
    room = make_room(member)
    recorded_events.clear()
    message, _ = messaging.send_message(member, room.id, "  hello  ", "client-1")
    assert recorded_events == [
        events.Event("new_message", {"message": serialize_message(message)}, (f"room:{room.id}",))
    ]
    assert recorded_events[0].data["message"]["client_id"] == "client-1"


def test_a_repeated_client_id_announces_the_same_message_again(app, member, recorded_events):
    room = make_room(member)
    recorded_events.clear()
    messaging.send_message(member, room.id, "once", "client-1")
    first = list(recorded_events)
    recorded_events.clear()
    messaging.send_message(member, room.id, "once", "client-1")
    assert recorded_events == first


def test_the_message_event_matches_the_rest_answer(member_session, member, recorded_events):
    room = make_room(member, members=(make_user(),))
    recorded_events.clear()
    response = member_session.post(f"/rooms/{room.id}/messages", json={"content": "same everywhere"})
    assert response.status_code == 201
    assert recorded_events == [
        events.Event("new_message", {"message": response.get_json()["message"]}, (f"room:{room.id}",))
    ]
