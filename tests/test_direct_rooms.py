"""Direct rooms: POST /users/<id>/dm, and how the two-person room behaves afterwards."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Message, Room, RoomMembership
from tests.conftest import assert_error, at_once
from tests.factories import make_user


def direct_room_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Room).where(Room.kind == "direct"))


@pytest.fixture
def alice(app):
    return make_user(name="Alice")


@pytest.fixture
def bob(app):
    return make_user(name="Bob")


@pytest.fixture
def alice_session(login, alice):
    return login(alice)


@pytest.fixture
def bob_session(login, bob):
    return login(bob)


@pytest.fixture
def direct_room(alice_session, bob) -> dict:
    """The direct room between Alice and Bob, opened by Alice over HTTP."""
    response = alice_session.post(f"/users/{bob.id}/dm")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["room"]


# -- opening ------------------------------------------------------------------------------


def test_first_open_creates_a_direct_room_with_the_other_user_as_peer(alice_session, alice, bob):
    response = alice_session.post(f"/users/{bob.id}/dm")
    assert response.status_code == 201
    room = response.get_json()["room"]
    assert room["kind"] == "direct"
    assert room["peer"] == {"id": bob.id, "name": "Bob", "avatar_url": None}
    assert room["member_count"] == 2
    assert room["is_member"] is True
    assert room["is_active"] is True
    assert "invite_code" not in room


def test_direct_room_has_exactly_the_two_users_as_members(alice_session, alice, bob, direct_room):
    db.session.expire_all()
    member_ids = db.session.scalars(
        sa.select(RoomMembership.user_id).where(RoomMembership.room_id == direct_room["id"])
    )
    assert sorted(member_ids) == sorted([alice.id, bob.id])
    detail = alice_session.get(f"/rooms/{direct_room['id']}").get_json()
    assert sorted(member["user"]["id"] for member in detail["members"]) == sorted([alice.id, bob.id])


def test_second_open_returns_the_same_room_with_200(alice_session, bob, direct_room):
    response = alice_session.post(f"/users/{bob.id}/dm")
    assert response.status_code == 200
    assert response.get_json()["room"]["id"] == direct_room["id"]
    assert direct_room_count() == 1


def test_open_from_the_other_side_returns_the_same_room_with_own_peer(bob_session, alice, direct_room):
    response = bob_session.post(f"/users/{alice.id}/dm")
    assert response.status_code == 200
    room = response.get_json()["room"]
    assert room["id"] == direct_room["id"]
    assert room["peer"]["id"] == alice.id
    assert direct_room_count() == 1


def test_direct_room_is_listed_for_both_users_with_the_right_peer(
    alice_session, bob_session, alice, bob, direct_room
):
    for session, peer in ((alice_session, bob), (bob_session, alice)):
        rooms = {room["id"]: room for room in session.get("/rooms").get_json()["rooms"]}
        assert rooms[direct_room["id"]]["kind"] == "direct"
        assert rooms[direct_room["id"]]["peer"]["id"] == peer.id


def test_direct_room_is_not_listed_for_a_third_user(login, direct_room):
    carol = login(make_user(name="Carol"))
    assert direct_room["id"] not in {room["id"] for room in carol.get("/rooms").get_json()["rooms"]}


def test_both_users_can_send_and_read_history_in_the_direct_room(alice_session, bob_session, direct_room):
    url = f"/rooms/{direct_room['id']}/messages"
    assert alice_session.post(url, json={"content": "hi Bob"}).status_code == 201
    assert bob_session.post(url, json={"content": "hi Alice"}).status_code == 201
    for session in (alice_session, bob_session):
        history = session.get(url).get_json()
        assert [message["content"] for message in history["messages"]] == ["hi Bob", "hi Alice"]


def test_a_message_in_the_direct_room_is_unread_for_the_peer(alice_session, bob_session, direct_room):
    alice_session.post(f"/rooms/{direct_room['id']}/messages", json={"content": "ping"})
    rooms = {room["id"]: room for room in bob_session.get("/rooms").get_json()["rooms"]}
    assert rooms[direct_room["id"]]["unread_count"] == 1


# -- who else may see it ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "", None),
        ("get", "/members", None),
        ("get", "/messages", None),
        ("post", "/messages", {"content": "let me in"}),
        ("post", "/join", {}),
    ],
)
def test_a_third_user_cannot_see_the_direct_room(login, direct_room, method, path, body):
    carol = login(make_user(name="Carol"))
    response = getattr(carol, method)(f"/rooms/{direct_room['id']}{path}", json=body)
    assert_error(response, 404, "room_not_found")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomMembership)) == 2


def test_an_admin_can_see_the_direct_room(admin_session, alice, bob, direct_room):
    response = admin_session.get(f"/rooms/{direct_room['id']}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["room"]["kind"] == "direct"
    assert body["room"]["is_member"] is False
    assert sorted(member["user"]["id"] for member in body["members"]) == sorted([alice.id, bob.id])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("get", "/messages", None), ("post", "/messages", {"content": "admin was here"})],
)
def test_an_admin_cannot_read_or_write_a_direct_room_they_are_not_in(
    admin_session, alice_session, direct_room, method, path, body
):
    alice_session.post(f"/rooms/{direct_room['id']}/messages", json={"content": "private"})
    response = getattr(admin_session, method)(f"/rooms/{direct_room['id']}{path}", json=body)
    assert_error(response, 403, "not_a_member")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


# -- refusals ---------------------------------------------------------------------------------


def test_opening_a_direct_room_with_yourself_is_422(alice_session, alice, recorded_events):
    assert_error(alice_session.post(f"/users/{alice.id}/dm"), 422, "cannot_dm_self")
    assert direct_room_count() == 0
    assert recorded_events == []


def test_opening_a_direct_room_with_an_unknown_user_is_404(alice_session, alice, recorded_events):
    assert_error(alice_session.post(f"/users/{alice.id + 1000}/dm"), 404, "user_not_found")
    assert direct_room_count() == 0
    assert recorded_events == []


@pytest.mark.parametrize("user_id", ["0", str(2**63)])
def test_opening_a_direct_room_with_an_out_of_range_id_is_404(alice_session, user_id):
    response = alice_session.post(f"/users/{user_id}/dm")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] in {"not_found", "user_not_found"}


def test_opening_a_direct_room_with_a_deactivated_user_is_409(alice_session, recorded_events):
    gone = make_user(name="Gone", is_active=False)
    assert_error(alice_session.post(f"/users/{gone.id}/dm"), 409, "account_disabled")
    assert direct_room_count() == 0
    assert recorded_events == []


def test_an_existing_direct_room_with_a_user_deactivated_since_is_still_returned(
    alice_session, bob, direct_room
):
    bob.is_active = False
    db.session.commit()
    response = alice_session.post(f"/users/{bob.id}/dm")
    assert response.status_code == 200
    assert response.get_json()["room"]["id"] == direct_room["id"]


def test_opening_a_direct_room_needs_sign_in(client, bob):
    assert_error(client.post(f"/users/{bob.id}/dm"), 401, "unauthorized")
    assert direct_room_count() == 0


def test_opening_a_direct_room_with_the_cookie_needs_the_csrf_token(alice_session, bob):
    response = alice_session.client.post(f"/users/{bob.id}/dm")
    assert_error(response, 403, "csrf_failed")
    assert direct_room_count() == 0


# -- events -----------------------------------------------------------------------------------


def test_opening_publishes_room_created_to_each_user_with_their_own_peer(
    alice_session, alice, bob, recorded_events
):
    room_id = alice_session.post(f"/users/{bob.id}/dm").get_json()["room"]["id"]
    assert [event.name for event in recorded_events] == ["room_created", "room_created"]
    by_target = {event.to: event.data["room"] for event in recorded_events}
    assert set(by_target) == {(f"user:{alice.id}",), (f"user:{bob.id}",)}
    assert by_target[(f"user:{alice.id}",)]["peer"]["id"] == bob.id
    assert by_target[(f"user:{bob.id}",)]["peer"]["id"] == alice.id
    for room in by_target.values():
        assert room["id"] == room_id
        assert room["kind"] == "direct"
        assert "invite_code" not in room


def test_reopening_an_existing_direct_room_publishes_nothing(
    bob_session, alice, direct_room, recorded_events
):
    assert bob_session.post(f"/users/{alice.id}/dm").status_code == 200
    assert recorded_events == []


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_opens_from_both_sides_make_one_room(app, alice, bob, recorded_events):
    other = {alice.id: bob.id, bob.id: alice.id}
    results = at_once(
        app, [alice, bob] * 3, lambda session, _: session.post(f"/users/{other[session.user.id]}/dm")
    )
    assert sorted(status for status, _ in results) == [200] * 5 + [201], results
    assert len({body["room"]["id"] for _, body in results}) == 1
    assert direct_room_count() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoomMembership)) == 2
    assert [event.name for event in recorded_events] == ["room_created", "room_created"]
