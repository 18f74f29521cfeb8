"""GET /admin/stats: the dashboard's counts, messages per day over 30 days, and who is online."""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Message
from app.services import messaging, rooms
from app.services.presence import RedisPresence, forget_prefix, session_kind
from tests.conftest import assert_error, free_port, recording_statements, sign_in
from tests.factories import make_message, make_room, make_user
from tests.test_openapi import assert_conforms


def today() -> date:
    return datetime.now(UTC).date()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def sent_at(author, room, when: datetime) -> Message:
    """A message whose created_at is set to when (sending stamps the current time)."""
    message = make_message(author, room)  # a transient object: the row is changed directly
    db.session.execute(sa.update(Message).where(Message.id == message.id).values(created_at=when))
    db.session.commit()
    return message


def stats(session) -> dict:
    response = session.get("/admin/stats")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def per_day(body: dict) -> dict[str, int]:
    return {entry["date"]: entry["count"] for entry in body["messages_per_day"]}


@pytest.fixture
def lobby(admin):
    return make_room(admin, name="Lobby")


# -- who may ----------------------------------------------------------------------------------


def test_stats_need_sign_in(client):
    assert_error(client.get("/admin/stats"), 401, "unauthorized")


def test_stats_are_for_admins_only(member_session):
    assert_error(member_session.get("/admin/stats"), 403, "admin_only")


def test_stats_are_described_as_an_admin_operation(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/admin/stats"]["get"]
    assert operation["tags"] == ["admin"]
    assert {"200", "401", "403"} <= set(operation["responses"])


def test_stats_answer_conforms_to_the_description(admin_session, admin, lobby, client):
    make_message(admin, lobby)
    document = client.get("/openapi.json").get_json()
    assert_conforms(document, "get", "/admin/stats", admin_session.get("/admin/stats"))


# -- counts -----------------------------------------------------------------------------------


def test_users_counts_active_accounts_only(admin_session):
    make_user()
    make_user(is_active=False)
    assert stats(admin_session)["users"] == 2  # the admin and the active member


def test_rooms_counts_open_public_and_private_rooms(admin_session, admin, member):
    make_room(admin, name="Open public")
    make_room(admin, name="Open private", kind="private")
    closed = make_room(admin, name="Closed")
    rooms.set_room_active(admin, closed.id, active=False)
    rooms.open_direct_room(admin, member.id)
    assert stats(admin_session)["rooms"] == 2


def test_messages_today_counts_messages_since_midnight_utc(admin_session, admin, lobby):
    make_message(admin, lobby)
    sent_at(admin, lobby, midnight(today()))
    sent_at(admin, lobby, midnight(today()) - timedelta(microseconds=1))
    assert stats(admin_session)["messages_today"] == 2


def test_messages_today_leaves_out_deleted_messages(admin_session, admin, lobby):
    make_message(admin, lobby)
    messaging.delete_message(admin, make_message(admin, lobby).id)
    assert stats(admin_session)["messages_today"] == 1


# -- messages per day -------------------------------------------------------------------------


def test_messages_per_day_lists_the_last_30_days_oldest_first(admin_session):
    days = [entry["date"] for entry in stats(admin_session)["messages_per_day"]]
    expected = [(today() - timedelta(days=n)).isoformat() for n in range(29, -1, -1)]
    assert days == expected


def test_days_without_messages_count_zero(admin_session):
    assert {entry["count"] for entry in stats(admin_session)["messages_per_day"]} == {0}


def test_messages_per_day_counts_each_utc_day(admin_session, admin, lobby):
    make_message(admin, lobby)
    yesterday = midnight(today() - timedelta(days=1))
    sent_at(admin, lobby, yesterday)
    sent_at(admin, lobby, yesterday + timedelta(hours=23, minutes=59, seconds=59))
    sent_at(admin, lobby, midnight(today() - timedelta(days=7)) + timedelta(hours=12))
    counts = per_day(stats(admin_session))
    assert counts[today().isoformat()] == 1
    assert counts[(today() - timedelta(days=1)).isoformat()] == 2
    assert counts[(today() - timedelta(days=7)).isoformat()] == 1
    assert sum(counts.values()) == 4


def test_messages_before_the_30_days_are_left_out(admin_session, admin, lobby):
    sent_at(admin, lobby, midnight(today() - timedelta(days=29)))
    sent_at(admin, lobby, midnight(today() - timedelta(days=29)) - timedelta(microseconds=1))
    counts = per_day(stats(admin_session))
    assert counts[(today() - timedelta(days=29)).isoformat()] == 1
    assert sum(counts.values()) == 1


def test_messages_per_day_leave_out_deleted_messages(admin_session, admin, lobby):
    gone = sent_at(admin, lobby, midnight(today() - timedelta(days=2)))
    messaging.delete_message(admin, gone.id)
    assert sum(per_day(stats(admin_session)).values()) == 0


def test_messages_per_day_count_every_room(admin_session, admin, member, lobby):
    secret = make_room(admin, name="Secret", kind="private")
    direct = rooms.open_direct_room(admin, member.id)[0].room
    for room in (lobby, secret, direct):
        make_message(admin, room)
    assert stats(admin_session)["messages_today"] == 3


def test_messages_per_day_take_one_grouped_query(admin_session, admin, lobby):
    make_message(admin, lobby)
    with recording_statements() as statements:
        stats(admin_session)
    on_messages = [sql for sql in statements if "FROM messages" in sql]
    assert len(on_messages) == 1
    assert "GROUP BY" in on_messages[0]


# -- online now -------------------------------------------------------------------------------


def test_online_now_counts_users_with_a_connected_socket(admin_session, chat, member, login):
    assert stats(admin_session)["online_now"] == 0
    chat(login(member))
    chat(login(member))  # a second tab: still one user
    assert stats(admin_session)["online_now"] == 1


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"parley-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    forget_prefix(redis_url, prefix)


def test_online_now_counts_the_sockets_of_every_process(make_app, redis_url, redis_prefix):
    app = make_app(REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)
    with app.app_context():
        admin, member = make_user(role="admin"), make_user()
        other_process = RedisPresence(redis_url, redis_prefix, 30)
        other_process.add("sid-1", member.id, session_kind("a"))
        other_process.add("sid-2", admin.id, session_kind("b"))
        assert stats(sign_in(app.test_client(), admin))["online_now"] == 2


def test_online_now_is_zero_while_redis_is_unreachable(make_app):
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with app.app_context():
        admin = make_user(role="admin")
        session = sign_in(app.test_client(), admin)
        assert stats(session)["online_now"] == 0
