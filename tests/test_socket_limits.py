"""Per-connection socket limits (DESIGN §4): parse_limit, SlidingWindow and ConnectionLimits,
a malformed limit failing at start, and floods answered with rate_limited, then disconnected."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa
from socketio.packet import EVENT, Packet

from app.config import Config
from app.extensions import db, socketio
from app.models import Message
from app.models.base import MAX_ID
from app.realtime import limits
from app.realtime.limits import ConnectionLimits, SlidingWindow, parse_limit
from tests.conftest import assert_ack_error
from tests.factories import make_room, make_user

# -- parse_limit --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20/10", (20, 10.0)), ("1/1", (1, 1.0)), ("3/0.5", (3, 0.5)), ("100000/10", (100000, 10.0))],
)
def test_parse_limit_reads_events_per_seconds(text, expected):
    assert parse_limit(text) == expected


@pytest.mark.parametrize(
    "text", ["", "20", "20/", "/10", "a/10", "20/b", "20/10/5", "2.5/10", "0/10", "-1/10", "5/0", "5/-1"]
)
def test_parse_limit_refuses_malformed_limits(text):
    with pytest.raises(ValueError, match="socket limit"):
        parse_limit(text)


def test_parse_limit_refuses_seconds_that_are_not_a_number():
    # float() reads "nan"; a window of NaN seconds never empties (every comparison is False).
    with pytest.raises(ValueError, match="socket limit"):
        parse_limit("5/nan")


@pytest.mark.parametrize("key", ["SOCKET_MESSAGE_LIMIT", "SOCKET_TYPING_LIMIT", "SOCKET_EVENT_LIMIT"])
@pytest.mark.parametrize("value", ["fast", "10", "0/10"])
def test_malformed_socket_limit_fails_create_app(make_app, key, value):
    with pytest.raises(ValueError, match="socket limit"):
        make_app(**{key: value})


# -- SlidingWindow ------------------------------------------------------------------------


def test_window_allows_count_events():
    window = SlidingWindow(3, 10)
    assert [window.hit(t) for t in (0, 1, 2)] == [True, True, True]


def test_window_refuses_the_next_event_within_the_window():
    window = SlidingWindow(3, 10)
    for t in (0, 1, 2):
        window.hit(t)
    assert window.hit(9.9) is False


def test_window_frees_a_place_when_the_oldest_event_leaves_it():
    window = SlidingWindow(3, 10)
    for t in (0, 5, 6):
        window.hit(t)
    assert window.hit(10) is True  # 0 left the window
    assert window.hit(11) is False  # 5, 6 and 10 are in it


def test_refused_events_do_not_count():
    window = SlidingWindow(1, 10)
    window.hit(0)
    for t in range(1, 10):
        window.hit(t)
    assert window.hit(10) is True


# -- ConnectionLimits ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(limits, "time", fake)
    return fake


def connection_limits(**overrides) -> ConnectionLimits:
    config = {
        "SOCKET_MESSAGE_LIMIT": "2/10",
        "SOCKET_TYPING_LIMIT": "3/10",
        "SOCKET_EVENT_LIMIT": "4/10",
        "SOCKET_FLOOD_STRIKES": 2,
        **overrides,
    }
    return ConnectionLimits(config)


@pytest.mark.parametrize(
    ("event", "allowed"),
    [("send_message", 2), ("typing", 3), ("join_room", 4), ("mark_read", 4), ("no_such_event", 4)],
)
def test_each_event_counts_against_its_limit(clock, event, allowed):
    connection = connection_limits()
    assert [connection.allow(event) for _ in range(allowed + 1)] == [True] * allowed + [False]


def test_limits_are_counted_apart(clock):
    connection = connection_limits()
    for _ in range(3):
        connection.allow("send_message")
    assert connection.allow("typing") is True
    assert connection.allow("join_room") is True


def test_other_events_share_one_limit(clock):
    connection = connection_limits()
    for event in ("join_room", "leave_room", "mark_read", "no_such_event"):
        assert connection.allow(event) is True
    assert connection.allow("join_room") is False


def test_limit_frees_up_as_time_passes(clock):
    connection = connection_limits()
    connection.allow("send_message")
    connection.allow("send_message")
    clock.now += 10
    assert connection.allow("send_message") is True


def test_refusals_up_to_the_strikes_are_tolerated(clock):
    connection = connection_limits(SOCKET_FLOOD_STRIKES=3)
    assert [connection.refused() for _ in range(3)] == [False, False, False]


def test_refusal_beyond_the_strikes_means_a_flood(clock):
    connection = connection_limits(SOCKET_FLOOD_STRIKES=3)
    for _ in range(3):
        connection.refused()
    assert connection.refused() is True


def test_refusals_are_forgotten_after_the_longest_window(clock):
    connection = connection_limits(SOCKET_FLOOD_STRIKES=2, SOCKET_EVENT_LIMIT="4/30")
    connection.refused()
    connection.refused()
    clock.now += 29
    assert connection.refused() is True
    clock.now += 30
    assert connection.refused() is False


# -- floods on a real /chat socket ----------------------------------------------------------


@pytest.fixture
def limited(make_app) -> Iterator[Callable]:
    """limited(**config) -> (app, member, room): an app with these socket limits, context pushed."""
    with ExitStack() as stack:

        def build(**config):
            application = make_app(**config)
            stack.enter_context(application.app_context())
            owner, member = make_user(), make_user()
            return application, member, make_room(owner, members=(member,))

        yield build


def flood(client, event: str, payload: dict, count: int) -> list[dict]:
    """Send the event count times, or until the server closes the socket; the acks."""
    acks = []
    for _ in range(count):
        if not client.connected:
            break
        acks.append(client.call(event, payload))
    return acks


def stored_messages() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Message))


FLOODS = [
    pytest.param("SOCKET_MESSAGE_LIMIT", "send_message", {"content": "spam"}, id="send_message"),
    pytest.param("SOCKET_TYPING_LIMIT", "typing", {"is_typing": True}, id="typing"),
    pytest.param("SOCKET_EVENT_LIMIT", "leave_room", {}, id="leave_room"),
    pytest.param("SOCKET_EVENT_LIMIT", "join_room", {}, id="join_room"),
]


@pytest.mark.parametrize(("key", "event", "payload"), FLOODS)
def test_events_over_the_limit_are_answered_rate_limited(limited, chat, key, event, payload):
    application, member, room = limited(**{key: "3/10"}, SOCKET_FLOOD_STRIKES=10)
    client = chat(member, app=application)
    acks = flood(client, event, {"room_id": room.id, **payload}, 5)
    assert [ack.get("error", {}).get("code") for ack in acks[:3]] == [None] * 3
    for ack in acks[3:]:
        assert_ack_error(ack, "rate_limited")


@pytest.mark.parametrize(("key", "event", "payload"), FLOODS)
def test_a_sustained_flood_is_disconnected(limited, chat, key, event, payload):
    application, member, room = limited(**{key: "3/10"}, SOCKET_FLOOD_STRIKES=2)
    client = chat(member, app=application)
    flood(client, event, {"room_id": room.id, **payload}, 3 + 2 + 1)
    client.wait_closed()


def test_a_flood_of_messages_stores_only_those_within_the_limit(limited, chat):
    application, member, room = limited(SOCKET_MESSAGE_LIMIT="3/10", SOCKET_FLOOD_STRIKES=2)
    client = chat(member, app=application)
    acks = flood(client, "send_message", {"room_id": room.id, "content": "spam"}, 6)
    assert [ack["ok"] for ack in acks[:3]] == [True] * 3
    for ack in acks[3:]:
        assert_ack_error(ack, "rate_limited")
    client.wait_closed()
    assert stored_messages() == 3


def test_rate_limited_acks_within_the_strikes_keep_the_socket(limited, chat):
    application, member, room = limited(SOCKET_MESSAGE_LIMIT="3/10", SOCKET_FLOOD_STRIKES=2)
    client = chat(member, app=application)
    acks = flood(client, "send_message", {"room_id": room.id, "content": "spam"}, 5)
    assert_ack_error(acks[-1], "rate_limited")
    socketio.sleep(0.3)  # a disconnect would have been carried out by now
    assert client.connected
    assert client.call("typing", {"room_id": room.id, "is_typing": True}) == {"ok": True}


def test_one_limit_used_up_leaves_the_others(limited, chat):
    application, member, room = limited(SOCKET_MESSAGE_LIMIT="2/10", SOCKET_FLOOD_STRIKES=10)
    client = chat(member, app=application)
    flood(client, "send_message", {"room_id": room.id, "content": "spam"}, 3)
    assert client.call("typing", {"room_id": room.id, "is_typing": True}) == {"ok": True}
    assert client.call("join_room", {"room_id": room.id})["ok"] is True


def test_limits_are_per_connection(limited, chat):
    application, member, room = limited(SOCKET_MESSAGE_LIMIT="2/10", SOCKET_FLOOD_STRIKES=10)
    flooding = chat(member, app=application)
    flood(flooding, "send_message", {"room_id": room.id, "content": "spam"}, 3)
    other_tab = chat(member, app=application)
    assert other_tab.call("send_message", {"room_id": room.id, "content": "fine"})["ok"] is True


def test_unknown_events_count_against_the_event_limit(limited, chat):
    application, member, _ = limited(SOCKET_EVENT_LIMIT="2/10", SOCKET_FLOOD_STRIKES=10)
    client = chat(member, app=application)
    acks = flood(client, "shout", {}, 3)
    assert_ack_error(acks[0], "unknown_event")
    assert_ack_error(acks[2], "rate_limited")


def test_a_flood_of_unknown_events_is_disconnected(limited, chat):
    application, member, _ = limited(SOCKET_EVENT_LIMIT="3/10", SOCKET_FLOOD_STRIKES=2)
    client = chat(member, app=application)
    flood(client, "shout", {}, 3 + 2 + 1)
    client.wait_closed()


# -- frame size (an oversized frame on a real server: tests/test_realtime_wire.py) ---------


def test_the_largest_valid_message_fits_in_one_frame():
    # As Python clients write it, every character a \u surrogate pair: the most bytes it can take.
    payload = {"room_id": MAX_ID, "content": "\U0001d11e" * 4000, "client_id": "~" * 64}
    packet = Packet(EVENT, data=["send_message", payload], namespace="/chat", id=2**31)
    frame = "4" + packet.encode()  # the engine.io message type, then the socket.io packet
    assert len(frame.encode()) <= Config().SOCKET_MAX_FRAME_BYTES
