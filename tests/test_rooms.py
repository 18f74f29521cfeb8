"""Rooms over HTTP: creating, listing, editing, joining, leaving, closing, deleting and invite codes.

Who may call what is in test_room_permissions.py; here is what each call does, what bad input
gets, which events it publishes, and that GET /rooms does not grow its query count with rooms.
"""

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import Message, Room, RoomMembership
from app.services import events, messaging, rooms
from tests.conftest import (
    EVENT_ROOM_KEYS,
    app_config,
    assert_error,
    at_once,
    empty_tables,
    recording_statements,
)
from tests.factories import make_message, make_room, make_user


@pytest.fixture(scope="module")
def module_app(database_url, _schema, tmp_path_factory) -> Iterator[Flask]:
    """One app per module, configured as conftest's make_app does: building one per test costs
    about 0.1 s (route compilation), which would be most of these short tests' time."""
    application = create_app(app_config(database_url, str(tmp_path_factory.mktemp("uploads"))))
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(name="app")
def app_on_module_app(module_app) -> Iterator[Flask]:
    """conftest's app (an app context pushed, tables emptied afterwards) on the module's app."""
    with module_app.app_context():
        yield module_app
        empty_tables()


def snapshot(room_id: int) -> tuple:
    """Everything stored about a room, its members and messages, read fresh from the database."""
    db.session.expire_all()
    columns = (Room.name, Room.description, Room.kind, Room.is_active, Room.closed_at, Room.invite_code)
    room = db.session.execute(sa.select(*columns).where(Room.id == room_id)).one_or_none()
    members = db.session.execute(
        sa.select(RoomMembership.user_id, RoomMembership.role, RoomMembership.last_read_message_id)
        .where(RoomMembership.room_id == room_id)
        .order_by(RoomMembership.user_id)
    ).all()
    messages = count(Message, Message.room_id == room_id)
    return (tuple(room) if room else None, [tuple(member) for member in members], messages)


def count(model, *conditions) -> int:
    """Rows of a table matching the conditions, read fresh."""
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


def membership(room_id: int, user_id: int) -> RoomMembership | None:
    db.session.expire_all()
    return db.session.get(RoomMembership, (room_id, user_id))


def listed(session) -> dict[str, dict]:
    """GET /rooms as {name: room}."""
    response = session.get("/rooms")
    assert response.status_code == 200
    return {room["name"]: room for room in response.get_json()["rooms"]}


# -- create ---------------------------------------------------------------------------------


def test_create_room_makes_the_caller_its_owner(member_session, member):
    response = member_session.post("/rooms", json={"name": "Lobby", "description": "Say hi"})
    assert response.status_code == 201
    room = response.get_json()["room"]
    assert room["name"] == "Lobby"
    assert room["description"] == "Say hi"
    assert room["kind"] == "public"
    assert room["is_active"] is True
    assert room["created_by"] == {"id": member.id, "name": member.name}
    assert (room["member_count"], room["is_member"], room["unread_count"], room["peer"]) == (1, True, 0, None)
    assert "invite_code" not in room
    assert membership(room["id"], member.id).role == "owner"


def test_create_room_trims_name_and_description(member_session):
    response = member_session.post("/rooms", json={"name": "  Lobby  ", "description": "  hi  "})
    room = response.get_json()["room"]
    assert (room["name"], room["description"]) == ("Lobby", "hi")
    db.session.expire_all()
    assert db.session.get(Room, room["id"]).name == "Lobby"


def test_create_room_accepts_the_longest_name_and_description(member_session):
    response = member_session.post("/rooms", json={"name": "n" * 64, "description": "d" * 500})
    assert response.status_code == 201
    assert response.get_json()["room"]["name"] == "n" * 64


def test_private_room_gets_an_invite_code_shown_to_its_creator(member_session):
    response = member_session.post("/rooms", json={"name": "Hideout", "kind": "private"})
    assert response.status_code == 201
    room = response.get_json()["room"]
    assert room["kind"] == "private"
    assert room["invite_code"]
    db.session.expire_all()
    assert db.session.get(Room, room["id"]).invite_code == room["invite_code"]


@pytest.mark.parametrize(
    ("existing", "new"),
    [("Lobby", "lobby"), ("Lobby", "  LOBBY "), ("Café", "CAFÉ"), ("Straße", "STRASSE"), ("Ωmega", "ωMEGA")],
)
def test_room_names_are_unique_case_insensitively(member_session, owner, existing, new):
    make_room(owner, name=existing)
    response = member_session.post("/rooms", json={"name": new})
    error = assert_error(response, 409, "room_name_taken")
    assert "name" in error["fields"]
    assert count(Room) == 1


@pytest.mark.parametrize("name", ["dm:1:x", "dm 1 2", "dm:1:2 and more", "my dm:1:2"])
def test_names_that_only_resemble_direct_room_names_are_allowed(member_session, name):
    assert member_session.post("/rooms", json={"name": name}).status_code == 201


# -- list -----------------------------------------------------------------------------------


def test_room_list_shows_active_public_rooms_and_the_callers_own_rooms(member_session, member, owner):
    stranger = make_user(name="Sam Stranger")
    make_room(owner, name="public of others")
    rooms.set_room_active(owner, make_room(owner, name="closed public of others").id, active=False)
    make_room(owner, name="private of others", kind="private")
    rooms.set_room_active(owner, make_room(owner, name="closed public I joined", members=(member,)).id, False)
    make_room(owner, name="private I joined", kind="private", members=(member,))
    rooms.set_room_active(member, make_room(member, name="my closed private", kind="private").id, False)
    make_room(member, name="my public")
    rooms.open_direct_room(member, owner.id)
    rooms.open_direct_room(owner, stranger.id)

    assert set(listed(member_session)) == {
        "public of others",
        "closed public I joined",
        "private I joined",
        "my closed private",
        "my public",
        f"dm:{min(member.id, owner.id)}:{max(member.id, owner.id)}",
    }


def test_room_list_is_ordered_by_name_case_insensitively(member_session, owner):
    for name in ("banana", "Cherry", "apple", "Apricot"):
        make_room(owner, name=name)
    assert list(listed(member_session)) == ["apple", "Apricot", "banana", "Cherry"]


def test_room_list_reports_member_count_and_membership_for_the_caller(member_session, member, owner):
    other = make_user()
    make_room(owner, name="joined", members=(member, other))
    make_room(owner, name="not joined", members=(other,))
    by_name = listed(member_session)
    assert (by_name["joined"]["member_count"], by_name["joined"]["is_member"]) == (3, True)
    assert (by_name["not joined"]["member_count"], by_name["not joined"]["is_member"]) == (2, False)


def test_unread_count_counts_undeleted_messages_of_others_after_the_marker(member_session, member, owner):
    room = make_room(owner, name="chat", members=(member,))
    make_message(owner, room)
    make_message(owner, room)
    gone = make_message(owner, room)
    messaging.delete_message(owner, gone.id)
    make_message(member, room)  # one's own message marks everything before it read
    make_message(owner, room)
    make_message(owner, room)
    assert listed(member_session)["chat"]["unread_count"] == 2


def test_non_members_have_no_unread_messages(member_session, owner):
    room = make_room(owner, name="busy")
    make_message(owner, room)
    assert listed(member_session)["busy"]["unread_count"] == 0


def test_room_list_names_the_peer_of_direct_rooms_only(member_session, member, owner):
    direct, _ = rooms.open_direct_room(owner, member.id)
    make_room(owner, name="plain", members=(member,))
    by_name = listed(member_session)
    assert by_name[direct.room.name]["peer"] == {"id": owner.id, "name": owner.name, "avatar_url": None}
    assert by_name[direct.room.name]["kind"] == "direct"
    assert by_name["plain"]["peer"] is None


@pytest.mark.parametrize(("viewer", "shown"), [("owner", True), ("admin", True), ("member", False)])
def test_invite_code_is_shown_only_to_owners_and_admins_of_private_rooms(
    login, owner, member, admin, viewer, shown
):
    room = make_room(owner, name="hideout", kind="private", members=(member, admin))
    session = login({"owner": owner, "admin": admin, "member": member}[viewer])
    in_list = listed(session)["hideout"]
    detail = session.get(f"/rooms/{room.id}").get_json()["room"]
    for shown_room in (in_list, detail):
        assert shown_room.get("invite_code") == (room.invite_code if shown else None)
        assert shown or "invite_code" not in shown_room


def test_public_rooms_show_no_invite_code_even_to_their_owner(owner_session, owner):
    room = make_room(owner, name="open")
    assert "invite_code" not in listed(owner_session)["open"]
    assert "invite_code" not in owner_session.get(f"/rooms/{room.id}").get_json()["room"]


def test_room_list_query_count_does_not_grow_with_rooms(member_session, member, owner):
    rooms.open_direct_room(member, owner.id)
    with_one_room = statements_during(lambda: member_session.get("/rooms"))

    for n in range(3):
        peer = make_user(name=f"Peer {n}")
        direct, _ = rooms.open_direct_room(peer, member.id)
        make_message(peer, direct.room)
    for n in range(5):
        make_message(owner, make_room(owner, name=f"joined {n}", members=(member,)))
        make_room(owner, name=f"public {n}")
        make_room(owner, name=f"private {n}", kind="private", members=(member,))
    rooms.set_room_active(member, make_room(member, name="mine, closed", kind="private").id, active=False)
    with_twenty = statements_during(lambda: member_session.get("/rooms"))

    assert len(with_twenty.response.get_json()["rooms"]) == 20
    assert len(with_twenty) == len(with_one_room), with_twenty


def test_room_list_without_direct_rooms_also_has_a_fixed_query_count(member_session, member, owner):
    make_room(owner, name="first", members=(member,))
    with_one_room = statements_during(lambda: member_session.get("/rooms"))
    for n in range(19):
        make_message(
            owner, make_room(owner, name=f"room {n}", kind=("public", "private")[n % 2], members=(member,))
        )
    with_twenty = statements_during(lambda: member_session.get("/rooms"))
    assert len(with_twenty.response.get_json()["rooms"]) == 20
    assert len(with_twenty) == len(with_one_room), with_twenty


class Statements(list):
    """The SQL statements run during one request, and its response."""

    response = None


def statements_during(request: Callable) -> Statements:
    """Run the request with everything in the session expired, counting the SQL it makes."""
    request()  # warm up: whatever is cached once per app does not count
    db.session.expire_all()
    with recording_statements() as statements:
        response = request()
    seen = Statements(statements)
    seen.response = response
    assert seen.response.status_code == 200
    return seen


# -- detail and members ---------------------------------------------------------------------


def test_room_detail_has_the_room_and_its_members(member_session, member, owner):
    room = make_room(owner, name="detail", members=(member,))
    body = member_session.get(f"/rooms/{room.id}").get_json()
    assert body["room"]["id"] == room.id
    assert body["room"]["is_member"] is True
    assert [entry["user"]["id"] for entry in body["members"]] == [owner.id, member.id]


def test_members_are_listed_owners_first_then_by_name(member_session, app):
    zora, anna, bert = make_user(name="Zora"), make_user(name="Anna"), make_user(name="Bert")
    room = make_room(zora, members=(bert, anna))
    members = member_session.get(f"/rooms/{room.id}/members").get_json()["members"]
    assert [(entry["user"]["name"], entry["role"]) for entry in members] == [
        ("Zora", "owner"),
        ("Anna", "member"),
        ("Bert", "member"),
    ]
    assert all(entry["joined_at"] for entry in members)


def test_members_do_not_show_email_addresses(member_session, owner):
    room = make_room(owner)
    members = member_session.get(f"/rooms/{room.id}/members").get_json()["members"]
    assert members
    assert all("email" not in entry["user"] for entry in members)


# -- edit -----------------------------------------------------------------------------------


def test_edit_renames_and_redescribes_the_room(owner_session, owner):
    room = make_room(owner, name="Old")
    response = owner_session.patch(f"/rooms/{room.id}", json={"name": "  New  ", "description": " about "})
    assert response.status_code == 200
    assert (response.get_json()["room"]["name"], response.get_json()["room"]["description"]) == (
        "New",
        "about",
    )
    db.session.expire_all()
    assert (db.session.get(Room, room.id).name, db.session.get(Room, room.id).description) == ("New", "about")


def test_edit_of_description_alone_keeps_the_name(owner_session, owner):
    room = make_room(owner, name="Keep")
    owner_session.patch(f"/rooms/{room.id}", json={"description": "changed"})
    assert snapshot(room.id)[0][:2] == ("Keep", "changed")


def test_rename_to_a_taken_name_is_409_and_changes_nothing(owner_session, owner, recorded_events):
    make_room(owner, name="Café")
    room = make_room(owner, name="Other")
    before = snapshot(room.id)
    recorded_events.clear()
    error = assert_error(
        owner_session.patch(f"/rooms/{room.id}", json={"name": "CAFÉ"}), 409, "room_name_taken"
    )
    assert "name" in error["fields"]
    assert snapshot(room.id) == before
    assert recorded_events == []


def test_rename_to_its_own_name_in_another_case_is_allowed(owner_session, owner):
    room = make_room(owner, name="Café")
    response = owner_session.patch(f"/rooms/{room.id}", json={"name": "CAFÉ"})
    assert response.status_code == 200
    assert snapshot(room.id)[0][0] == "CAFÉ"


# -- join and invite codes ------------------------------------------------------------------


def test_join_public_room_makes_the_caller_a_member(member_session, member, owner):
    room = make_room(owner)
    response = member_session.post(f"/rooms/{room.id}/join")
    assert response.status_code == 200
    assert (response.get_json()["room"]["is_member"], response.get_json()["room"]["member_count"]) == (
        True,
        2,
    )
    assert membership(room.id, member.id).role == "member"


def test_join_twice_keeps_one_membership(member_session, member, owner):
    room = make_room(owner, members=(member,))
    before = snapshot(room.id)
    response = member_session.post(f"/rooms/{room.id}/join")
    assert response.status_code == 200
    assert response.get_json()["room"]["is_member"] is True
    assert snapshot(room.id) == before


def test_join_private_room_with_the_invite_code(member_session, member, owner):
    room = make_room(owner, kind="private")
    response = member_session.post(f"/rooms/{room.id}/join", json={"invite_code": room.invite_code})
    assert response.status_code == 200
    assert "invite_code" not in response.get_json()["room"]
    assert membership(room.id, member.id).role == "member"
    assert member_session.get(f"/rooms/{room.id}").status_code == 200


def test_joining_marks_old_messages_read(member_session, member, owner):
    room = make_room(owner, name="history")
    old = [make_message(owner, room) for _ in range(3)]
    response = member_session.post(f"/rooms/{room.id}/join")
    assert response.get_json()["room"]["unread_count"] == 0
    assert membership(room.id, member.id).last_read_message_id == old[-1].id
    assert listed(member_session)["history"]["unread_count"] == 0
    make_message(owner, room)
    assert listed(member_session)["history"]["unread_count"] == 1


@pytest.mark.parametrize("kind", ["public", "private"])
def test_joining_a_closed_room_is_409(member_session, owner, kind):
    room = make_room(owner, kind=kind)
    rooms.set_room_active(owner, room.id, active=False)
    before = snapshot(room.id)
    response = member_session.post(f"/rooms/{room.id}/join", json={"invite_code": room.invite_code})
    assert_error(response, 409, "room_closed")
    assert snapshot(room.id) == before


def test_invite_preview_shows_the_room_to_an_outsider(member_session, owner):
    room = make_room(owner, name="Hideout", kind="private")
    response = member_session.get(f"/invites/{room.invite_code}")
    assert response.status_code == 200
    shown = response.get_json()["room"]
    assert (shown["id"], shown["name"], shown["is_member"], shown["member_count"]) == (
        room.id,
        "Hideout",
        False,
        1,
    )
    assert "invite_code" not in shown


@pytest.mark.parametrize("code", ["no-such-code", "x" * 500, "ümlaut", "%25"])
def test_unknown_invite_code_is_404(member_session, owner, code):
    make_room(owner, kind="private")
    assert_error(member_session.get(f"/invites/{code}"), 404, "invite_not_found")


def test_rotating_the_invite_code_invalidates_the_old_one(owner_session, owner, login):
    room = make_room(owner, kind="private")
    old_code = room.invite_code
    response = owner_session.post(f"/rooms/{room.id}/invite")
    assert response.status_code == 200
    new_code = response.get_json()["invite_code"]
    assert new_code not in (None, "", old_code)
    assert snapshot(room.id)[0][5] == new_code

    outsider = login(make_user())
    assert_error(outsider.get(f"/invites/{old_code}"), 404, "invite_not_found")
    assert_error(
        outsider.post(f"/rooms/{room.id}/join", json={"invite_code": old_code}), 404, "room_not_found"
    )
    assert membership(room.id, outsider.user.id) is None
    assert outsider.get(f"/invites/{new_code}").status_code == 200
    assert outsider.post(f"/rooms/{room.id}/join", json={"invite_code": new_code}).status_code == 200


# -- leave ----------------------------------------------------------------------------------


def test_leave_ends_the_membership(member_session, member, owner):
    room = make_room(owner, kind="private", members=(member,))
    response = member_session.post(f"/rooms/{room.id}/leave")
    assert response.status_code == 200
    assert response.get_json()["room"]["is_member"] is False
    assert membership(room.id, member.id) is None
    assert_error(member_session.get(f"/rooms/{room.id}"), 404, "room_not_found")


def test_last_owner_leaving_hands_the_room_to_the_longest_standing_member(owner_session, owner):
    later, earliest = make_user(name="Joined later"), make_user(name="Joined first")
    room = make_room(owner, members=(earliest, later))  # the earliest joiner has the higher id
    assert earliest.id > later.id
    assert owner_session.post(f"/rooms/{room.id}/leave").status_code == 200
    assert membership(room.id, earliest.id).role == "owner"
    assert membership(room.id, later.id).role == "member"


def test_owner_leaving_while_another_owner_stays_promotes_nobody(owner_session, owner, member):
    co_owner = make_user(name="Co Owner")
    room = make_room(owner, members=(member, co_owner))
    membership(room.id, co_owner.id).role = "owner"
    db.session.commit()
    owner_session.post(f"/rooms/{room.id}/leave")
    assert membership(room.id, member.id).role == "member"
    assert membership(room.id, co_owner.id).role == "owner"


# -- close, reopen, delete ------------------------------------------------------------------


def test_close_stops_messages_and_reopen_allows_them_again(owner_session, owner):
    room = make_room(owner)
    closed = owner_session.post(f"/rooms/{room.id}/close").get_json()["room"]
    assert (closed["is_active"], bool(closed["closed_at"])) == (False, True)
    refused = owner_session.post(f"/rooms/{room.id}/messages", json={"content": "anyone?"})
    assert_error(refused, 409, "room_closed")
    assert count(Message, Message.room_id == room.id) == 0

    reopened = owner_session.post(f"/rooms/{room.id}/reopen").get_json()["room"]
    assert (reopened["is_active"], reopened["closed_at"]) == (True, None)
    assert owner_session.post(f"/rooms/{room.id}/messages", json={"content": "back"}).status_code == 201


def test_closing_twice_keeps_the_first_closing_time(owner_session, owner):
    room = make_room(owner)
    first = owner_session.post(f"/rooms/{room.id}/close").get_json()["room"]
    before = snapshot(room.id)
    second = owner_session.post(f"/rooms/{room.id}/close")
    assert second.status_code == 200
    assert second.get_json()["room"]["closed_at"] == first["closed_at"]
    assert snapshot(room.id) == before


def test_members_still_see_a_closed_room(member_session, member, owner):
    room = make_room(owner, kind="private", members=(member,))
    rooms.set_room_active(owner, room.id, active=False)
    assert member_session.get(f"/rooms/{room.id}").get_json()["room"]["is_active"] is False


def test_delete_removes_the_room_its_messages_and_memberships(owner_session, owner, member):
    room = make_room(owner, members=(member,))
    make_message(owner, room)
    make_message(member, room)
    kept = make_room(owner, members=(member,))
    make_message(member, kept)

    response = owner_session.delete(f"/rooms/{room.id}")
    assert response.status_code == 204
    assert count(Room, Room.id == room.id) == 0
    assert count(Message, Message.room_id == room.id) == 0
    assert count(RoomMembership, RoomMembership.room_id == room.id) == 0
    assert count(Message, Message.room_id == kept.id) == 1
    assert count(RoomMembership, RoomMembership.room_id == kept.id) == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("get", "/members"), ("post", "/join"), ("delete", ""), ("patch", ""), ("post", "/close")],
)
def test_deleted_room_is_404_afterwards(owner_session, owner, method, path):
    room = make_room(owner)
    owner_session.delete(f"/rooms/{room.id}")
    body = {"description": "x"} if method == "patch" else None
    assert_error(getattr(owner_session, method)(f"/rooms/{room.id}{path}", json=body), 404, "room_not_found")


# -- concurrency ----------------------------------------------------------------------------


def test_concurrent_creates_of_one_name_make_one_room(app, member, owner):
    names = ["Same Name", "SAME name"]
    results = at_once(
        app, [member, owner], lambda session, n: session.post("/rooms", json={"name": names[n]})
    )
    assert sorted(status for status, _ in results) == [201, 409], results
    assert [body["error"]["code"] for status, body in results if status == 409] == ["room_name_taken"]
    assert count(Room) == 1


def test_concurrent_joins_by_one_user_make_one_membership(app, member, owner):
    room = make_room(owner)
    room_id = room.id
    with events.recording() as published:
        results = at_once(app, [member, member], lambda session, _: session.post(f"/rooms/{room_id}/join"))
    assert [status for status, _ in results] == [200, 200], results
    assert all(body["room"]["is_member"] for _, body in results)
    assert count(RoomMembership, RoomMembership.room_id == room_id) == 2
    assert [event.name for event in published] == ["user_joined"]


# -- events ---------------------------------------------------------------------------------


def only_event(published: list[events.Event]) -> events.Event:
    """The one event published; fails when there were none or several."""
    assert len(published) == 1, [event.name for event in published]
    return published[0]


def audience(room: Room) -> tuple[str, ...]:
    """Lifecycle events of public rooms go to everyone, of other rooms to the room's subscribers."""
    return () if room.kind == "public" else (f"room:{room.id}",)


def test_creating_a_public_room_announces_it_to_everyone(member_session, recorded_events):
    response = member_session.post("/rooms", json={"name": "Lobby"})
    event = only_event(recorded_events)
    assert (event.name, event.to) == ("room_created", ())
    assert set(event.data) == {"room"}
    assert set(event.data["room"]) == EVENT_ROOM_KEYS
    assert event.data["room"]["id"] == response.get_json()["room"]["id"]
    assert event.data["room"]["member_count"] == 1


def test_creating_a_private_room_tells_only_its_creator(member_session, member, recorded_events):
    member_session.post("/rooms", json={"name": "Hideout", "kind": "private"})
    event = only_event(recorded_events)
    assert (event.name, event.to) == ("room_created", (f"user:{member.id}",))
    assert set(event.data["room"]) == EVENT_ROOM_KEYS  # above all: no invite_code


@pytest.mark.parametrize("kind", ["public", "private"])
def test_editing_a_room_publishes_room_updated(owner_session, owner, recorded_events, kind):
    room = make_room(owner, kind=kind)
    recorded_events.clear()
    owner_session.patch(f"/rooms/{room.id}", json={"name": "Renamed"})
    event = only_event(recorded_events)
    assert (event.name, event.to) == ("room_updated", audience(room))
    assert set(event.data["room"]) == EVENT_ROOM_KEYS
    assert (event.data["room"]["id"], event.data["room"]["name"]) == (room.id, "Renamed")


@pytest.mark.parametrize("kind", ["public", "private"])
def test_joining_publishes_user_joined_to_the_room_and_the_user(
    member_session, member, owner, recorded_events, kind
):
    room = make_room(owner, kind=kind)
    recorded_events.clear()
    member_session.post(f"/rooms/{room.id}/join", json={"invite_code": room.invite_code})
    event = only_event(recorded_events)
    assert (event.name, set(event.to)) == ("user_joined", {f"room:{room.id}", f"user:{member.id}"})
    assert set(event.data) == {"room_id", "user"}
    assert (event.data["room_id"], event.data["user"]["id"]) == (room.id, member.id)
    assert "email" not in event.data["user"]


def test_joining_again_publishes_nothing(member_session, member, owner, recorded_events):
    room = make_room(owner, members=(member,))
    recorded_events.clear()
    assert member_session.post(f"/rooms/{room.id}/join").status_code == 200
    assert recorded_events == []


def test_leaving_publishes_user_left_to_the_room_and_the_user(member_session, member, owner, recorded_events):
    room = make_room(owner, kind="private", members=(member,))
    recorded_events.clear()
    member_session.post(f"/rooms/{room.id}/leave")
    event = only_event(recorded_events)
    assert (event.name, set(event.to)) == ("user_left", {f"room:{room.id}", f"user:{member.id}"})
    assert set(event.data) == {"room_id", "user"}
    assert (event.data["room_id"], event.data["user"]["id"]) == (room.id, member.id)


@pytest.mark.parametrize("kind", ["public", "private"])
def test_closing_twice_publishes_room_closed_once(owner_session, owner, recorded_events, kind):
    room = make_room(owner, kind=kind)
    recorded_events.clear()
    owner_session.post(f"/rooms/{room.id}/close")
    owner_session.post(f"/rooms/{room.id}/close")
    event = only_event(recorded_events)
    assert (event.name, event.to, event.data) == ("room_closed", audience(room), {"room_id": room.id})


@pytest.mark.parametrize("kind", ["public", "private"])
def test_reopening_twice_publishes_room_reopened_once(owner_session, owner, recorded_events, kind):
    room = make_room(owner, kind=kind)
    rooms.set_room_active(owner, room.id, active=False)
    recorded_events.clear()
    owner_session.post(f"/rooms/{room.id}/reopen")
    owner_session.post(f"/rooms/{room.id}/reopen")
    event = only_event(recorded_events)
    assert (event.name, event.to, event.data) == ("room_reopened", audience(room), {"room_id": room.id})


@pytest.mark.parametrize("kind", ["public", "private"])
def test_deleting_publishes_room_deleted(owner_session, owner, recorded_events, kind):
    room = make_room(owner, kind=kind)
    room_id, expected_audience = room.id, audience(room)
    recorded_events.clear()
    owner_session.delete(f"/rooms/{room_id}")
    event = only_event(recorded_events)
    assert (event.name, event.to, event.data) == ("room_deleted", expected_audience, {"room_id": room_id})


def test_rotating_the_invite_code_publishes_nothing(owner_session, owner, recorded_events):
    room = make_room(owner, kind="private")
    recorded_events.clear()
    assert owner_session.post(f"/rooms/{room.id}/invite").status_code == 200
    assert recorded_events == []


def committed(query: sa.Select):
    """The query's result read on a separate connection, so it sees only committed data."""
    with db.engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(query))


@pytest.mark.parametrize("action", ["rename", "join", "close", "delete"])
def test_events_fire_only_once_the_change_is_committed(owner_session, owner, member_session, member, action):
    room = make_room(owner, name="Before")
    requests = {
        "rename": (owner_session.patch, f"/rooms/{room.id}", {"name": "After"}),
        "join": (member_session.post, f"/rooms/{room.id}/join", None),
        "close": (owner_session.post, f"/rooms/{room.id}/close", None),
        "delete": (owner_session.delete, f"/rooms/{room.id}", None),
    }
    reads = {
        "rename": sa.select(Room.name).where(Room.id == room.id),
        "join": sa.select(RoomMembership.user_id).where(RoomMembership.room_id == room.id),
        "close": sa.select(Room.is_active).where(Room.id == room.id),
        "delete": sa.select(Room.id).where(Room.id == room.id),
    }
    expected = {
        "rename": [("After",)],
        "join": sorted([(owner.id,), (member.id,)]),
        "close": [(False,)],
        "delete": [],
    }
    seen_at_publish: list = []
    send, url, body = requests[action]
    with events.listening(lambda event: seen_at_publish.append(committed(reads[action]))):
        assert send(url, json=body).status_code in (200, 204)
    assert seen_at_publish == [expected[action]]
