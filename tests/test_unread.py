"""Read markers and unread counts: POST /rooms/<id>/read, and unread_count in GET /rooms and
GET /rooms/<id>. Unread = messages by others, not deleted, after the caller's read marker."""

import pytest

from app.extensions import db
from app.models import Message, RoomMembership
from app.models.base import MAX_ID
from app.services import api_tokens, messaging, rooms
from tests.conftest import assert_error, at_once, with_token
from tests.factories import PASSWORD, make_message, make_room, make_user


def marker(room_id: int, user_id: int) -> int | None:
    db.session.expire_all()
    return db.session.get(RoomMembership, (room_id, user_id)).last_read_message_id


def room_object(session, room_id: int) -> dict:
    """The room as GET /rooms/<id> shows it to the session's user."""
    response = session.get(f"/rooms/{room_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["room"]


def listed(session) -> dict[int, dict]:
    """GET /rooms for the session's user, by room id."""
    response = session.get("/rooms")
    assert response.status_code == 200, response.get_json()
    return {room["id"]: room for room in response.get_json()["rooms"]}


def unread(session, room_id: int) -> int:
    """The caller's unread count of a room; GET /rooms and GET /rooms/<id> must agree on it."""
    detail = room_object(session, room_id)["unread_count"]
    assert listed(session)[room_id]["unread_count"] == detail
    return detail


def read(session, room_id: int, message_id):
    return session.post(f"/rooms/{room_id}/read", json={"message_id": message_id})


# -- what counts ---------------------------------------------------------------------------


def test_messages_by_others_after_the_marker_are_unread(member_session, room, owner):
    for _ in range(3):
        make_message(owner, room)
    assert unread(member_session, room.id) == 3


def test_a_room_without_messages_has_nothing_unread(member_session, room):
    assert unread(member_session, room.id) == 0


def test_messages_before_the_marker_are_not_unread(member_session, member, room, owner):
    ids = [make_message(owner, room).id for _ in range(5)]
    messaging.mark_read(member, room.id, ids[2])
    assert unread(member_session, room.id) == 2


def test_own_messages_never_count_as_unread(member_session, member, room, owner):
    # Stored without the send path, so the marker stays behind them: only authorship excludes them.
    db.session.add_all([Message(room_id=room.id, user_id=member.id, content=f"mine {n}") for n in range(3)])
    db.session.commit()
    make_message(owner, room)
    assert marker(room.id, member.id) is None
    assert unread(member_session, room.id) == 1


def test_deleted_messages_are_not_unread(member_session, room, owner):
    ids = [make_message(owner, room).id for _ in range(3)]
    messaging.delete_message(owner, ids[1])
    assert unread(member_session, room.id) == 2


def test_deleting_an_unread_message_lowers_the_count(login, member_session, room, owner):
    ids = [make_message(owner, room).id for _ in range(3)]
    assert unread(member_session, room.id) == 3
    assert login(owner).delete(f"/messages/{ids[0]}").status_code == 204
    assert unread(member_session, room.id) == 2


def test_an_edit_does_not_make_a_read_message_unread_again(login, member_session, member, room, owner):
    message = make_message(owner, room)
    messaging.mark_read(member, room.id, message.id)
    assert login(owner).patch(f"/messages/{message.id}", json={"content": "edited"}).status_code == 200
    assert unread(member_session, room.id) == 0


def test_unread_counts_are_per_room(member_session, member, room, owner):
    quiet = make_room(owner, members=(member,))
    loud = make_room(owner, members=(member,))
    for _ in range(4):
        make_message(owner, loud)
    make_message(owner, room)
    rooms_seen = listed(member_session)
    assert rooms_seen[quiet.id]["unread_count"] == 0
    assert rooms_seen[loud.id]["unread_count"] == 4
    assert rooms_seen[room.id]["unread_count"] == 1


def test_unread_counts_are_per_caller(login, member_session, member, room, owner):
    third = make_user(name="Thea Third")
    rooms.join_room(third, room.id)
    make_message(owner, room)
    make_message(member, room)
    make_message(third, room)
    counts = {
        "owner": listed(login(owner))[room.id]["unread_count"],
        "member": listed(member_session)[room.id]["unread_count"],
        "third": listed(login(third))[room.id]["unread_count"],
    }
    # Each sender has read everything up to their own message (sending moves the marker).
    assert counts == {"owner": 2, "member": 1, "third": 0}


def test_unread_counts_in_a_direct_room(login, member_session, member, owner):
    dm, _ = rooms.open_direct_room(owner, member.id)
    make_message(owner, dm.room)
    make_message(owner, dm.room)
    assert unread(member_session, dm.room.id) == 2
    assert unread(login(owner), dm.room.id) == 0


@pytest.mark.parametrize("kind", ["public", "private"])
def test_a_non_member_sees_unread_0_and_is_member_false(admin_session, login, owner, kind):
    lurker = login(make_user(name="Lou Lurker"))
    target = make_room(owner, kind=kind)
    make_message(owner, target)
    # Admins can see private rooms; for a public room any signed-in user can.
    viewers = [admin_session, lurker] if kind == "public" else [admin_session]
    for viewer in viewers:
        shown = room_object(viewer, target.id)
        assert (shown["unread_count"], shown["is_member"]) == (0, False)


def test_a_non_member_sees_public_rooms_in_the_list_with_unread_0(login, owner):
    target = make_room(owner)
    make_message(owner, target)
    shown = listed(login(make_user()))[target.id]
    assert (shown["unread_count"], shown["is_member"]) == (0, False)


def test_a_closed_room_keeps_its_unread_count_for_members(member_session, room, owner):
    make_message(owner, room)
    rooms.set_room_active(owner, room.id, False)
    assert unread(member_session, room.id) == 1


# -- moving the marker ---------------------------------------------------------------------


def test_sending_moves_the_senders_marker_to_the_new_message(member_session, member, room, owner):
    for _ in range(3):
        make_message(owner, room)
    response = member_session.post(f"/rooms/{room.id}/messages", json={"content": "caught up"})
    assert marker(room.id, member.id) == response.get_json()["message"]["id"]
    assert unread(member_session, room.id) == 0


def test_a_repeated_send_does_not_move_the_marker(member_session, member, room, owner):
    first = member_session.post(f"/rooms/{room.id}/messages", json={"content": "x", "client_id": "k"})
    newer = make_message(owner, room)
    member_session.post(f"/rooms/{room.id}/messages", json={"content": "x", "client_id": "k"})
    assert marker(room.id, member.id) == first.get_json()["message"]["id"]
    assert unread(member_session, room.id) == 1
    assert newer.id > marker(room.id, member.id)


def test_mark_read_moves_the_marker_and_answers_the_count_left(member_session, member, room, owner):
    ids = [make_message(owner, room).id for _ in range(4)]
    response = read(member_session, room.id, ids[1])
    assert response.status_code == 200
    assert response.get_json() == {"unread_count": 2}
    assert marker(room.id, member.id) == ids[1]
    assert unread(member_session, room.id) == 2


def test_mark_read_up_to_the_newest_leaves_nothing_unread(member_session, room, owner):
    ids = [make_message(owner, room).id for _ in range(3)]
    assert read(member_session, room.id, ids[-1]).get_json() == {"unread_count": 0}
    assert unread(member_session, room.id) == 0


def test_mark_read_never_moves_the_marker_back(member_session, member, room, owner):
    ids = [make_message(owner, room).id for _ in range(4)]
    read(member_session, room.id, ids[2])
    response = read(member_session, room.id, ids[0])
    assert response.status_code == 200
    assert response.get_json() == {"unread_count": 1}
    assert marker(room.id, member.id) == ids[2]


def test_mark_read_of_the_current_marker_changes_nothing(member_session, member, room, owner):
    ids = [make_message(owner, room).id for _ in range(2)]
    read(member_session, room.id, ids[0])
    assert read(member_session, room.id, ids[0]).get_json() == {"unread_count": 1}
    assert marker(room.id, member.id) == ids[0]


def test_mark_read_accepts_a_deleted_message(member_session, member, room, owner):
    ids = [make_message(owner, room).id for _ in range(3)]
    messaging.delete_message(owner, ids[1])
    assert read(member_session, room.id, ids[1]).get_json() == {"unread_count": 1}
    assert marker(room.id, member.id) == ids[1]


def test_mark_read_of_an_own_message_works(member_session, member, room, owner):
    make_message(owner, room)
    mine = make_message(member, room)
    later = make_message(owner, room)
    assert read(member_session, room.id, mine.id).get_json() == {"unread_count": 1}
    assert later.id > marker(room.id, member.id)


def test_mark_read_in_a_closed_room_works(member_session, room, owner):
    message = make_message(owner, room)
    rooms.set_room_active(owner, room.id, False)
    assert read(member_session, room.id, message.id).get_json() == {"unread_count": 0}


def test_mark_read_with_a_message_of_another_room_is_422(member_session, member, room, owner):
    here = make_message(owner, room)
    elsewhere = make_room(owner, members=(member,))
    there = make_message(owner, elsewhere)
    assert there.id > here.id
    assert_error(read(member_session, room.id, there.id), 422, "validation_failed", "message_id")
    assert marker(room.id, member.id) is None
    assert unread(member_session, room.id) == 1


@pytest.mark.parametrize(
    "message_id",
    [999_999_999, 0, -1, MAX_ID + 1, "abc", None, 1.5, []],
    ids=["unknown", "zero", "negative", "too-big", "text", "null", "float", "list"],
)
def test_mark_read_rejects_bad_message_ids(member_session, member, room, owner, message_id):
    make_message(owner, room)
    response = read(member_session, room.id, message_id)
    assert_error(response, 422, "validation_failed", "message_id")
    assert marker(room.id, member.id) is None


def test_mark_read_without_a_message_id_is_422(member_session, room):
    response = member_session.post(f"/rooms/{room.id}/read", json={})
    assert_error(response, 422, "validation_failed", "message_id")


def test_mark_read_of_a_missing_room_is_404(member_session, member, room, owner):
    message = make_message(owner, room)
    assert_error(read(member_session, 999_999_999, message.id), 404, "room_not_found")


# -- joining --------------------------------------------------------------------------------


def test_joining_a_room_with_history_starts_at_unread_0(login, owner):
    target = make_room(owner)
    for _ in range(5):
        make_message(owner, target)
    newcomer = login(make_user(name="Nina Newcomer"))
    response = newcomer.post(f"/rooms/{target.id}/join")
    assert response.status_code == 200
    assert response.get_json()["room"]["unread_count"] == 0
    assert unread(newcomer, target.id) == 0


def test_after_joining_new_messages_count(login, owner):
    target = make_room(owner)
    make_message(owner, target)
    newcomer = login(make_user(name="Nina Newcomer"))
    newcomer.post(f"/rooms/{target.id}/join")
    make_message(owner, target)
    assert unread(newcomer, target.id) == 1


def test_joining_a_private_room_with_its_code_starts_at_unread_0(login, owner):
    target = make_room(owner, kind="private")
    make_message(owner, target)
    newcomer = login(make_user(name="Nina Newcomer"))
    response = newcomer.post(f"/rooms/{target.id}/join", json={"invite_code": target.invite_code})
    assert response.status_code == 200
    assert unread(newcomer, target.id) == 0


def test_leaving_and_rejoining_starts_at_unread_0_again(member_session, member, room, owner):
    make_message(owner, room)
    assert member_session.post(f"/rooms/{room.id}/leave").status_code == 200
    make_message(owner, room)
    make_message(owner, room)
    assert member_session.post(f"/rooms/{room.id}/join").status_code == 200
    assert unread(member_session, room.id) == 0


def test_messages_of_other_rooms_do_not_count(member_session, member, room, owner):
    elsewhere = make_room(owner, members=(member,))
    first = make_message(owner, room)
    make_message(owner, elsewhere)
    make_message(owner, room)
    messaging.mark_read(member, room.id, first.id)
    assert unread(member_session, room.id) == 1
    assert unread(member_session, elsewhere.id) == 1


def test_concurrent_mark_reads_leave_the_marker_at_the_newest(app, member, room, owner):
    threads_count, rounds = 8, 3
    ids = [make_message(owner, room).id for _ in range(threads_count * rounds)]
    _, secret = api_tokens.create_token(member.email, PASSWORD, "tabs")
    room_id, user_id = room.id, member.id
    for first in range(0, len(ids), threads_count):
        batch = ids[first : first + threads_count]
        results = at_once(
            app,
            [member] * threads_count,
            lambda session, n, batch=batch: session.post(
                f"/rooms/{room_id}/read", json={"message_id": batch[n]}
            ),
            start=with_token(secret),
        )
        assert [status for status, _ in results] == [200] * threads_count, results
        assert marker(room_id, user_id) == batch[-1], f"a lower id than {batch[-1]} won the race"
