"""Messages over REST: history pages, sending (idempotent, also under concurrency), edits, deletes,
who may do what, and the events each change publishes."""

import math
from datetime import datetime

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Message, RoomMembership, utcnow
from app.models.base import MAX_ID
from app.services import api_tokens, events, messaging, rooms
from tests.conftest import assert_error, at_once, sign_in, with_token
from tests.factories import PASSWORD, make_message, make_room, make_user

HISTORY = 300  # messages in the busy room of the pagination tests


def message_count(**filters) -> int:
    """Rows in messages matching the filters, read fresh from the database."""
    db.session.expire_all()
    query = sa.select(sa.func.count()).select_from(Message).filter_by(**filters)
    return db.session.scalar(query)


def stored(message_id: int) -> Message:
    """The message as the database holds it now."""
    db.session.expire_all()
    return db.session.get(Message, message_id)


def marker(room_id: int, user_id: int) -> int | None:
    db.session.expire_all()
    return db.session.get(RoomMembership, (room_id, user_id)).last_read_message_id


def close(room) -> None:
    rooms.set_room_active(room.creator, room.id, False)


# -- history pages ------------------------------------------------------------------------


@pytest.fixture
def busy(owner, member):
    """A room with HISTORY messages interleaved with as many in another room; returns (room, ids).

    Inserted in one commit (pages only read rows). Every 40th message is deleted: deleted
    messages stay in history, so they must be paged like any other.
    """
    busy_room = make_room(owner, members=(member,))
    other_room = make_room(owner, members=(member,))
    mine, theirs = [], []
    for n in range(HISTORY):
        theirs.append(Message(room_id=other_room.id, user_id=owner.id, content=f"other {n}"))
        message = Message(room_id=busy_room.id, user_id=(owner, member)[n % 2].id, content=f"busy {n:03}")
        if n % 40 == 7:
            message.content, message.deleted_at = "", utcnow()
        mine.append(message)
        db.session.add_all([theirs[-1], message])
    db.session.commit()
    ids = [message.id for message in mine]
    assert ids == sorted(ids)
    assert ids[0] > theirs[0].id
    return busy_room, ids


def history(session, room_id: int, query: str = "") -> dict:
    response = session.get(f"/rooms/{room_id}/messages{'?' + query if query else ''}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_page_shape(page: dict, room_id: int, limit: int) -> list[int]:
    ids = [message["id"] for message in page["messages"]]
    assert ids == sorted(ids), "pages run oldest to newest"
    assert len(ids) <= limit
    assert {message["room_id"] for message in page["messages"]} <= {room_id}
    return ids


@pytest.mark.parametrize("limit", [1, 7, 50, 100])
def test_walking_backwards_with_before_sees_every_message_once(member_session, busy, limit):
    room, expected = busy
    pages, query = [], f"limit={limit}"
    while len(pages) <= HISTORY + 1:
        page = history(member_session, room.id, query)
        pages.append(page)
        ids = assert_page_shape(page, room.id, limit)
        if not page["has_more"]:
            break
        query = f"limit={limit}&before={ids[0]}"
    seen = [message["id"] for page in reversed(pages) for message in page["messages"]]
    assert seen == expected
    assert len(pages) == math.ceil(HISTORY / limit)
    assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]
    assert all(len(page["messages"]) == limit for page in pages[:-1])


@pytest.mark.parametrize("limit", [1, 7, 50, 100])
def test_walking_forwards_with_after_sees_every_message_once(member_session, busy, limit):
    room, expected = busy
    pages, after = [], expected[0] - 1  # an id of the other room: any id works as a cursor
    while len(pages) <= HISTORY + 1:
        page = history(member_session, room.id, f"limit={limit}&after={after}")
        pages.append(page)
        ids = assert_page_shape(page, room.id, limit)
        if not page["has_more"]:
            break
        after = ids[-1]
    seen = [message["id"] for page in pages for message in page["messages"]]
    assert seen == expected
    assert len(pages) == math.ceil(HISTORY / limit)
    assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]
    assert all(len(page["messages"]) == limit for page in pages[:-1])


def test_history_without_cursor_is_the_newest_page_of_50(member_session, busy):
    room, expected = busy
    page = history(member_session, room.id)
    assert [message["id"] for message in page["messages"]] == expected[-50:]
    assert page["has_more"] is True


def test_history_keeps_deleted_messages_blanked(member_session, busy):
    room, expected = busy
    page = history(member_session, room.id, f"after={expected[0] - 1}&limit=10")
    deleted = page["messages"][7]
    assert deleted["deleted"] is True
    assert deleted["content"] == ""
    assert page["messages"][6]["deleted"] is False
    assert page["messages"][6]["content"] == "busy 006"


def test_a_message_sent_during_a_backwards_walk_does_not_shift_older_pages(member_session, busy, owner):
    room, expected = busy
    first = history(member_session, room.id, "limit=50")
    make_message(owner, room, "arrived while reading")
    second = history(member_session, room.id, f"limit=50&before={first['messages'][0]['id']}")
    assert [message["id"] for message in second["messages"]] == expected[-100:-50]


@pytest.mark.parametrize(
    "query", ["", "limit=100", "after=1", f"before={MAX_ID}"], ids=["newest", "limit", "after", "before"]
)
def test_history_of_an_empty_room_is_empty(member_session, room, query):
    assert history(member_session, room.id, query) == {"messages": [], "has_more": False}


def test_history_before_the_oldest_and_after_the_newest_is_empty(member_session, room, member):
    ids = [make_message(member, room).id for _ in range(3)]
    assert history(member_session, room.id, f"before={ids[0]}") == {"messages": [], "has_more": False}
    assert history(member_session, room.id, f"after={ids[-1]}") == {"messages": [], "has_more": False}


def test_history_limit_100_is_accepted(member_session, room, member):
    make_message(member, room)
    assert len(history(member_session, room.id, "limit=100")["messages"]) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=1&limit=2", "limit"),
        ("before=0", "before"),
        ("before=-5", "before"),
        ("before=abc", "before"),
        (f"before={MAX_ID + 1}", "before"),
        ("after=-1", "after"),
        ("after=xyz", "after"),
        ("before=10&after=5", "after"),
    ],
)
def test_history_rejects_bad_query_parameters(member_session, room, query, field):
    response = member_session.get(f"/rooms/{room.id}/messages?{query}")
    assert_error(response, 422, "validation_failed", field)


def test_history_of_a_missing_room_is_404(member_session):
    assert_error(member_session.get("/rooms/999999999/messages"), 404, "room_not_found")


@pytest.mark.parametrize("bad_id", ["0", str(2**63), str(2**64 + 5)])
@pytest.mark.parametrize(
    ("method", "path", "body", "missing"),
    [
        ("get", "/rooms/{}/messages", None, "room_not_found"),
        ("post", "/rooms/{}/messages", {"content": "hi"}, "room_not_found"),
        ("post", "/rooms/{}/read", {"message_id": 1}, "room_not_found"),
        ("patch", "/messages/{}", {"content": "hi"}, "message_not_found"),
        ("delete", "/messages/{}", None, "message_not_found"),
    ],
    ids=["history", "send", "read", "edit", "delete"],
)
def test_an_out_of_range_id_in_the_path_is_404(member_session, method, path, body, missing, bad_id):
    response = getattr(member_session, method)(path.format(bad_id), json=body)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == missing


def test_after_zero_pages_forward_from_the_first_message(member_session, room, member):
    first = make_message(member, room, "first")
    make_message(member, room, "second")
    page = member_session.get(f"/rooms/{room.id}/messages?after=0&limit=1").get_json()
    assert [message["id"] for message in page["messages"]] == [first.id]
    assert page["has_more"] is True


# -- who may do what ----------------------------------------------------------------------

OK = None  # the expected error code of an allowed request

# Per endpoint and room kind: actor -> (status, error code). The message belongs to "author";
# "admin" is an admin who is not a member of the room.
MATRIX = {
    "history": {
        "public": {
            "anonymous": (401, "unauthorized"),
            "outsider": (403, "not_a_member"),
            "admin": (403, "not_a_member"),
            "member": (200, OK),
            "author": (200, OK),
            "owner": (200, OK),
        },
        "private": {
            "anonymous": (401, "unauthorized"),
            "outsider": (404, "room_not_found"),
            "admin": (403, "not_a_member"),
            "member": (200, OK),
            "author": (200, OK),
            "owner": (200, OK),
        },
    },
    "send": {
        "public": {
            "anonymous": (401, "unauthorized"),
            "outsider": (403, "not_a_member"),
            "admin": (403, "not_a_member"),
            "member": (201, OK),
            "author": (201, OK),
            "owner": (201, OK),
        },
        "private": {
            "anonymous": (401, "unauthorized"),
            "outsider": (404, "room_not_found"),
            "admin": (403, "not_a_member"),
            "member": (201, OK),
            "author": (201, OK),
            "owner": (201, OK),
        },
    },
    "read": {
        "public": {
            "anonymous": (401, "unauthorized"),
            "outsider": (403, "not_a_member"),
            "admin": (403, "not_a_member"),
            "member": (200, OK),
            "author": (200, OK),
            "owner": (200, OK),
        },
        "private": {
            "anonymous": (401, "unauthorized"),
            "outsider": (404, "room_not_found"),
            "admin": (403, "not_a_member"),
            "member": (200, OK),
            "author": (200, OK),
            "owner": (200, OK),
        },
    },
    "edit": {
        "public": {
            "anonymous": (401, "unauthorized"),
            "outsider": (403, "not_author"),
            "admin": (403, "not_author"),
            "member": (403, "not_author"),
            "author": (200, OK),
            "owner": (403, "not_author"),
        },
        "private": {
            "anonymous": (401, "unauthorized"),
            "outsider": (404, "message_not_found"),
            "admin": (403, "not_author"),
            "member": (403, "not_author"),
            "author": (200, OK),
            "owner": (403, "not_author"),
        },
    },
    "delete": {
        "public": {
            "anonymous": (401, "unauthorized"),
            "outsider": (403, "not_allowed"),
            "admin": (204, OK),
            "member": (403, "not_allowed"),
            "author": (204, OK),
            "owner": (204, OK),
        },
        "private": {
            "anonymous": (401, "unauthorized"),
            "outsider": (404, "message_not_found"),
            "admin": (204, OK),
            "member": (403, "not_allowed"),
            "author": (204, OK),
            "owner": (204, OK),
        },
    },
}
CASES = [
    pytest.param(endpoint, kind, actor, status, code, id=f"{endpoint}-{kind}-{actor}")
    for endpoint, kinds in MATRIX.items()
    for kind, actors in kinds.items()
    for actor, (status, code) in actors.items()
]


@pytest.fixture
def cast(app, owner):
    """Everyone of the matrix, and a factory for a room of a kind with one message by author."""
    people = {
        "owner": owner,
        "author": make_user(name="Art Author"),
        "member": make_user(name="Max Member"),
        "outsider": make_user(name="Ola Outsider"),
        "admin": make_user(name="Ada Admin", role="admin"),
    }

    def room_with_message(kind: str):
        room = make_room(owner, kind=kind, members=(people["author"], people["member"]))
        return room, make_message(people["author"], room, "the original")

    return people, room_with_message


def call(client, endpoint: str, room_id: int, message_id: int):
    """Make the endpoint's request through a Session (or a bare client for anonymous)."""
    if endpoint == "history":
        return client.get(f"/rooms/{room_id}/messages")
    if endpoint == "send":
        return client.post(f"/rooms/{room_id}/messages", json={"content": "hello"})
    if endpoint == "read":
        return client.post(f"/rooms/{room_id}/read", json={"message_id": message_id})
    if endpoint == "edit":
        return client.patch(f"/messages/{message_id}", json={"content": "changed"})
    return client.delete(f"/messages/{message_id}")


def session_for(app, login, people, actor):
    return app.test_client() if actor == "anonymous" else login(people[actor])


def snapshot(room, message, people) -> tuple:
    """What a refused request must leave as it was: the messages and everyone's membership."""
    db.session.expire_all()
    memberships = {name: db.session.get(RoomMembership, (room.id, user.id)) for name, user in people.items()}
    kept = stored(message.id)
    return (
        message_count(),
        (kept.content, kept.edited_at, kept.deleted_at),
        {name: membership and membership.last_read_message_id for name, membership in memberships.items()},
        sorted(name for name, membership in memberships.items() if membership is not None),
    )


@pytest.mark.parametrize(("endpoint", "kind", "actor", "status", "code"), CASES)
def test_message_endpoint_permissions(app, login, cast, recorded_events, endpoint, kind, actor, status, code):
    people, room_with_message = cast
    room, message = room_with_message(kind)
    client = session_for(app, login, people, actor)
    before = snapshot(room, message, people)
    recorded_events.clear()
    response = call(client, endpoint, room.id, message.id)
    if code is OK:
        assert response.status_code == status, response.get_json()
        return
    assert_error(response, status, code)
    assert snapshot(room, message, people) == before
    assert recorded_events == []


@pytest.mark.parametrize("endpoint", ["history", "send", "read", "edit", "delete"])
def test_a_hidden_private_room_answers_exactly_like_a_missing_one(app, login, cast, endpoint):
    people, room_with_message = cast
    room, message = room_with_message("private")
    outsider = login(people["outsider"])
    hidden = call(outsider, endpoint, room.id, message.id)
    missing = call(outsider, endpoint, room.id + 1000, message.id + 1000)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()


def test_sending_with_a_cookie_needs_the_csrf_token(member_session, room):
    response = member_session.client.post(f"/rooms/{room.id}/messages", json={"content": "hi"})
    assert_error(response, 403, "csrf_failed")
    assert message_count() == 0


def test_sending_with_a_bearer_token_needs_no_csrf_token(app, member, room):
    _, secret = api_tokens.create_token(member.email, PASSWORD, "script")
    response = app.test_client().post(
        f"/rooms/{room.id}/messages", json={"content": "from a script"}, headers=bearer(secret)
    )
    assert response.status_code == 201
    assert response.get_json()["message"]["author"]["id"] == member.id


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


# -- sending ------------------------------------------------------------------------------


def send(session, room_id: int, content: str = "hello", client_id: str | None = None):
    body = {"content": content} if client_id is None else {"content": content, "client_id": client_id}
    return session.post(f"/rooms/{room_id}/messages", json=body)


def test_send_answers_201_with_the_message_object(member_session, member, room):
    response = send(member_session, room.id, "hello there", "c-1")
    assert response.status_code == 201
    message = response.get_json()["message"]
    assert set(message) == {
        "id",
        "room_id",
        "author",
        "content",
        "client_id",
        "created_at",
        "edited_at",
        "deleted",
    }
    assert message["room_id"] == room.id
    assert message["author"] == {"id": member.id, "name": member.name, "avatar_url": None}
    assert (message["content"], message["client_id"]) == ("hello there", "c-1")
    assert (message["edited_at"], message["deleted"]) == (None, False)
    assert datetime.fromisoformat(message["created_at"]).utcoffset() is not None
    assert stored(message["id"]).content == "hello there"


def test_send_trims_the_content(member_session, room):
    response = send(member_session, room.id, " \n\t  hello  \n ")
    assert response.get_json()["message"]["content"] == "hello"
    assert stored(response.get_json()["message"]["id"]).content == "hello"


def test_send_keeps_inner_whitespace_and_newlines(member_session, room):
    response = send(member_session, room.id, "line one\n\n  line two")
    assert response.get_json()["message"]["content"] == "line one\n\n  line two"


@pytest.mark.parametrize(
    "body",
    [
        {"content": ""},
        {"content": "   "},
        {"content": " \n\t\r "},
        {"content": "x" * 4001},
        {"content": "🦊" * 4001},
        {"content": "  " + "x" * 4001 + "  "},
        {"content": None},
        {"content": 42},
        {"content": ["hi"]},
        {},
    ],
    ids=[
        "empty",
        "spaces",
        "whitespace",
        "4001",
        "4001-emoji",
        "4001-padded",
        "null",
        "number",
        "list",
        "missing",
    ],
)
def test_send_rejects_bad_content(member_session, room, recorded_events, body):
    response = member_session.post(f"/rooms/{room.id}/messages", json=body)
    assert_error(response, 422, "validation_failed", "content")
    assert message_count() == 0
    assert recorded_events == []


def test_send_rejects_unknown_fields(member_session, room):
    response = member_session.post(f"/rooms/{room.id}/messages", json={"content": "hi", "room_id": 5})
    assert_error(response, 422, "validation_failed", "room_id")
    assert message_count() == 0


@pytest.mark.parametrize("content", ["x" * 4000, "  " + "x" * 4000 + "\n", "🦊" * 4000, "𝄞" * 4000])
def test_send_accepts_4000_characters(member_session, room, content):
    response = send(member_session, room.id, content)
    assert response.status_code == 201
    assert response.get_json()["message"]["content"] == content.strip()
    assert stored(response.get_json()["message"]["id"]).content == content.strip()


EMOJI = "Zoë says 🦊 𝄞 👩‍👩‍👧 🧑🏽‍🚀 漢字 ✓ \U0001f600"


def test_emoji_and_four_byte_characters_round_trip(member_session, room):
    response = send(member_session, room.id, EMOJI)
    assert response.status_code == 201
    message_id = response.get_json()["message"]["id"]
    assert response.get_json()["message"]["content"] == EMOJI
    assert stored(message_id).content == EMOJI
    assert history(member_session, room.id)["messages"][-1]["content"] == EMOJI


def test_edit_keeps_four_byte_characters(member_session, member, room):
    message = make_message(member, room)
    response = member_session.patch(f"/messages/{message.id}", json={"content": EMOJI})
    assert response.get_json()["message"]["content"] == EMOJI
    assert stored(message.id).content == EMOJI


@pytest.mark.parametrize(
    "client_id",
    ["a", "x" * 64, "!~", "550e8400-e29b-41d4-a716-446655440000", "01HZX3K9Q0:retry#2"],
)
def test_send_accepts_printable_ascii_client_ids(member_session, room, client_id):
    response = send(member_session, room.id, "hi", client_id)
    assert response.status_code == 201
    assert response.get_json()["message"]["client_id"] == client_id
    assert stored(response.get_json()["message"]["id"]).client_id == client_id


@pytest.mark.parametrize(
    "client_id",
    ["", "x" * 65, "has space", " lead", "tab\there", "line\n", "é", "naïve-id", "🦊", "\x7f", 123, ["a"]],
    ids=[
        "empty",
        "65",
        "space",
        "leading-space",
        "tab",
        "newline",
        "e-acute",
        "non-ascii",
        "emoji",
        "del",
        "number",
        "list",
    ],
)
def test_send_rejects_bad_client_ids(member_session, room, client_id):
    response = member_session.post(
        f"/rooms/{room.id}/messages", json={"content": "hi", "client_id": client_id}
    )
    assert_error(response, 422, "validation_failed", "client_id")
    assert message_count() == 0


def test_send_with_null_client_id_is_a_plain_send(member_session, room):
    first = member_session.post(f"/rooms/{room.id}/messages", json={"content": "a", "client_id": None})
    second = member_session.post(f"/rooms/{room.id}/messages", json={"content": "a", "client_id": None})
    assert first.status_code == second.status_code == 201
    assert message_count() == 2


def test_send_to_a_closed_room_is_409(member_session, room, recorded_events):
    close(room)
    recorded_events.clear()
    assert_error(send(member_session, room.id), 409, "room_closed")
    assert message_count() == 0
    assert recorded_events == []


def test_send_to_a_reopened_room_works(member_session, room, owner):
    close(room)
    rooms.set_room_active(owner, room.id, True)
    assert send(member_session, room.id).status_code == 201


def test_repeating_a_client_id_returns_the_first_message(member_session, room):
    first = send(member_session, room.id, "hello", "retry-1")
    again = send(member_session, room.id, "hello", "retry-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert message_count() == 1


def test_repeating_a_client_id_announces_the_first_message_again(member_session, room, recorded_events):
    """The sender got no ack: the first announcement may have died with its process."""
    first = send(member_session, room.id, "hello", "retry-1").get_json()["message"]
    send(member_session, room.id, "hello", "retry-1")
    assert [(event.name, event.data["message"]) for event in recorded_events] == [("new_message", first)] * 2


def test_repeating_a_client_id_with_other_content_returns_the_first_message(member_session, room):
    first = send(member_session, room.id, "the first", "retry-2").get_json()["message"]
    again = send(member_session, room.id, "something else", "retry-2")
    assert again.status_code == 200
    assert again.get_json()["message"]["id"] == first["id"]
    assert again.get_json()["message"]["content"] == "the first"
    assert message_count() == 1


def test_repeating_a_client_id_after_the_room_closed_returns_the_first_message(member_session, room):
    first = send(member_session, room.id, "made it", "retry-3").get_json()["message"]
    close(room)
    again = send(member_session, room.id, "made it", "retry-3")
    assert again.status_code == 200
    assert again.get_json()["message"]["id"] == first["id"]


def test_repeating_the_client_id_of_a_deleted_message_does_not_post_it_again(member_session, room):
    first = send(member_session, room.id, "oops", "retry-4").get_json()["message"]
    member_session.delete(f"/messages/{first['id']}")
    again = send(member_session, room.id, "oops", "retry-4")
    assert again.status_code == 200
    assert again.get_json()["message"]["id"] == first["id"]
    assert again.get_json()["message"]["deleted"] is True
    assert message_count() == 1


def test_repeating_the_client_id_of_a_deleted_message_announces_nothing(
    member_session, room, recorded_events
):
    first = send(member_session, room.id, "oops", "retry-4").get_json()["message"]
    member_session.delete(f"/messages/{first['id']}")
    recorded_events.clear()
    send(member_session, room.id, "oops", "retry-4")
    assert recorded_events == []


def test_a_client_id_used_in_another_room_is_409(member_session, member, room, owner, recorded_events):
    elsewhere = make_room(owner, members=(member,))
    send(member_session, room.id, "here", "moved")
    recorded_events.clear()
    response = send(member_session, elsewhere.id, "there", "moved")
    assert_error(response, 409, "client_id_reused", "client_id")
    assert message_count() == 1
    assert message_count(room_id=elsewhere.id) == 0
    assert recorded_events == []


def test_different_users_may_use_the_same_client_id(login, member_session, room, owner):
    first = send(member_session, room.id, "mine", "shared")
    second = send(login(owner), room.id, "mine too", "shared")
    assert first.status_code == second.status_code == 201
    assert first.get_json()["message"]["id"] != second.get_json()["message"]["id"]
    assert message_count(client_id="shared") == 2


def test_client_ids_are_case_sensitive(member_session, room):
    lower = send(member_session, room.id, "a", "abc-key")
    upper = send(member_session, room.id, "b", "ABC-KEY")
    assert lower.status_code == upper.status_code == 201
    assert message_count() == 2


@pytest.mark.parametrize("auth", ["cookie", "bearer"])
def test_concurrent_sends_with_one_client_id_store_one_message(app, member, room, recorded_events, auth):
    threads_count = 8
    room_id, user_id = room.id, member.id
    _, secret = api_tokens.create_token(member.email, PASSWORD, "racing tabs")
    results = at_once(
        app,
        [member] * threads_count,
        lambda session, _: session.post(
            f"/rooms/{room_id}/messages", json={"content": "only once", "client_id": "same-moment"}
        ),
        start=sign_in if auth == "cookie" else with_token(secret),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (threads_count - 1) + [201], results
    assert len({result[1]["message"]["id"] for result in results}) == 1
    assert message_count(user_id=user_id, client_id="same-moment") == 1
    assert message_count(room_id=room_id) == 1
    # The first announces the message; each repeat announces the same message again.
    assert {event.data["message"]["id"] for event in recorded_events} == {results[0][1]["message"]["id"]}


def test_send_to_a_missing_room_is_404(member_session):
    assert_error(send(member_session, 999999999), 404, "room_not_found")


# -- editing ------------------------------------------------------------------------------


def edit(session, message_id: int, content: str = "changed"):
    return session.patch(f"/messages/{message_id}", json={"content": content})


def test_edit_changes_the_content_and_sets_edited_at(member_session, member, room):
    message = make_message(member, room, "first draft")
    response = edit(member_session, message.id, "  second draft  ")
    assert response.status_code == 200
    body = response.get_json()["message"]
    assert body["content"] == "second draft"
    assert body["id"] == message.id
    edited_at = datetime.fromisoformat(body["edited_at"])
    assert edited_at >= datetime.fromisoformat(body["created_at"])
    assert stored(message.id).content == "second draft"
    assert stored(message.id).edited_at is not None


def test_an_edit_shows_in_history(member_session, member, room):
    message = make_message(member, room, "first draft")
    edit(member_session, message.id, "second draft")
    shown = history(member_session, room.id)["messages"][0]
    assert shown["content"] == "second draft"
    assert shown["edited_at"] is not None


@pytest.mark.parametrize("body", [{"content": ""}, {"content": "  "}, {"content": "x" * 4001}, {}, {"x": 1}])
def test_edit_rejects_bad_content(member_session, member, room, recorded_events, body):
    message = make_message(member, room, "kept")
    recorded_events.clear()
    response = member_session.patch(f"/messages/{message.id}", json=body)
    assert_error(response, 422, "validation_failed")
    assert stored(message.id).content == "kept"
    assert stored(message.id).edited_at is None
    assert recorded_events == []


def test_a_deleted_message_cannot_be_edited(member_session, member, room, recorded_events):
    message = make_message(member, room, "gone")
    messaging.delete_message(member, message.id)
    recorded_events.clear()
    assert_error(edit(member_session, message.id), 409, "message_deleted")
    assert stored(message.id).content == ""
    assert stored(message.id).edited_at is None
    assert recorded_events == []


def test_edit_in_a_closed_room_is_409(member_session, member, room, recorded_events):
    message = make_message(member, room, "frozen")
    close(room)
    recorded_events.clear()
    assert_error(edit(member_session, message.id), 409, "room_closed")
    assert stored(message.id).content == "frozen"
    assert stored(message.id).edited_at is None
    assert recorded_events == []


def test_edit_of_a_missing_message_is_404(member_session):
    response = member_session.patch("/messages/999999999", json={"content": "x"})
    assert_error(response, 404, "message_not_found")


# -- deleting -----------------------------------------------------------------------------


def test_delete_blanks_the_message_and_keeps_it_in_history(member_session, member, room):
    message = make_message(member, room, "regret")
    response = member_session.delete(f"/messages/{message.id}")
    assert response.status_code == 204
    assert response.get_data() == b""
    shown = history(member_session, room.id)["messages"]
    assert [(item["id"], item["deleted"], item["content"]) for item in shown] == [(message.id, True, "")]
    assert stored(message.id).content == ""
    assert stored(message.id).deleted_at is not None
    assert message_count() == 1


def test_deleting_twice_is_204_both_times_with_one_event(member_session, member, room, recorded_events):
    message = make_message(member, room)
    recorded_events.clear()
    assert member_session.delete(f"/messages/{message.id}").status_code == 204
    assert member_session.delete(f"/messages/{message.id}").status_code == 204
    assert [event.name for event in recorded_events] == ["message_deleted"]


def test_a_room_owner_may_delete_a_members_message(login, member, room, owner):
    message = make_message(member, room)
    assert login(owner).delete(f"/messages/{message.id}").status_code == 204
    assert stored(message.id).deleted_at is not None


def test_a_plain_member_may_not_delete_anothers_message(login, member_session, room, owner):
    message = make_message(owner, room, "the owner's")
    assert_error(member_session.delete(f"/messages/{message.id}"), 403, "not_allowed")
    assert stored(message.id).deleted_at is None
    assert stored(message.id).content == "the owner's"


def test_an_admin_may_delete_a_message_in_a_room_they_are_not_in(admin_session, member, room):
    message = make_message(member, room)
    assert admin_session.delete(f"/messages/{message.id}").status_code == 204
    assert stored(message.id).deleted_at is not None


def test_delete_of_a_missing_message_is_404(member_session):
    response = member_session.delete("/messages/999999999")
    assert_error(response, 404, "message_not_found")


# -- events -------------------------------------------------------------------------------


def test_send_publishes_new_message_to_the_room(member_session, room, recorded_events):
    response = send(member_session, room.id, "news")
    assert recorded_events == [
        events.Event("new_message", {"message": response.get_json()["message"]}, (f"room:{room.id}",))
    ]


def test_edit_publishes_message_edited_to_the_room(member_session, member, room, recorded_events):
    message = make_message(member, room)
    recorded_events.clear()
    response = edit(member_session, message.id, "better")
    assert recorded_events == [
        events.Event("message_edited", {"message": response.get_json()["message"]}, (f"room:{room.id}",))
    ]


def test_delete_publishes_message_deleted_to_the_room(member_session, member, room, recorded_events):
    message = make_message(member, room)
    recorded_events.clear()
    member_session.delete(f"/messages/{message.id}")
    assert recorded_events == [
        events.Event("message_deleted", {"message_id": message.id, "room_id": room.id}, (f"room:{room.id}",))
    ]


def test_marking_read_publishes_nothing(member_session, room, owner, recorded_events):
    message = make_message(owner, room)
    recorded_events.clear()
    member_session.post(f"/rooms/{room.id}/read", json={"message_id": message.id})
    assert recorded_events == []


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        ("closed-send", 409),
        ("client-id-elsewhere", 409),
        ("bad-content", 422),
        ("no-csrf", 403),
        ("not-author-edit", 403),
        ("deleted-edit", 409),
        ("not-allowed-delete", 403),
        ("missing-delete", 404),
    ],
)
def test_refused_requests_publish_nothing(
    member_session, member, room, owner, recorded_events, refusal, status
):
    theirs = make_message(owner, room, "theirs")
    make_message(member, room, "mine", client_id="once")
    gone = make_message(member, room, "gone")
    messaging.delete_message(member, gone.id)
    elsewhere = make_room(owner, members=(member,))
    if refusal == "closed-send":
        close(room)
    recorded_events.clear()
    requests = {
        "closed-send": lambda: send(member_session, room.id),
        "client-id-elsewhere": lambda: send(member_session, elsewhere.id, "mine", "once"),
        "bad-content": lambda: send(member_session, room.id, " "),
        "no-csrf": lambda: member_session.client.post(f"/rooms/{room.id}/messages", json={"content": "x"}),
        "not-author-edit": lambda: edit(member_session, theirs.id),
        "deleted-edit": lambda: edit(member_session, gone.id),
        "not-allowed-delete": lambda: member_session.delete(f"/messages/{theirs.id}"),
        "missing-delete": lambda: member_session.delete(f"/messages/{gone.id + 1000}"),
    }
    response = requests[refusal]()
    assert response.status_code == status, response.get_json()
    assert recorded_events == []
