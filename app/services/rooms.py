"""Rooms: create, edit, join, leave, close, reopen, delete, invite codes and direct rooms.

Every change commits here and queues its DESIGN §5 event. Events about a public room go to
everyone (every client lists active public rooms); those about other rooms go to the room.
"""

import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Message, Room, RoomMembership, User, utcnow
from app.models.room import room_name_key
from app.schemas.rooms import RoomView, serialize_room
from app.schemas.users import serialize_user
from app.services import events
from app.services.room_views import (
    can_see,
    event_view,
    find_membership,
    member_room,
    require_active,
    room_view,
    visible_room,
)


def _name_taken() -> Conflict:
    return Conflict("A room with that name exists.", code="room_name_taken", fields={"name": "already taken"})


def _new_invite_code() -> str:
    return secrets.token_urlsafe(12)


def _audience(room: Room) -> tuple[str, ...]:
    """Where lifecycle events of this room go: everyone for public rooms, else its subscribers."""
    return () if room.kind == "public" else (events.room_target(room.id),)


def _require_manager(user: User, membership: RoomMembership | None) -> None:
    if not (user.is_admin or (membership is not None and membership.role == "owner")):
        raise Forbidden("Only the room's owners and admins may do that.", code="not_room_owner")


def _refuse_direct(room: Room, action: str) -> None:
    if room.kind == "direct":
        raise Conflict(f"Direct conversations cannot be {action}.", code="direct_room")


def _flush_name() -> None:
    """Write pending changes now, so a name clash (also a concurrent one) is a 409, not a 500."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _name_taken() from None


def _queue_room_event(name: str, room: Room, to: tuple[str, ...] | None = None) -> None:
    data = {"room": serialize_room(event_view(room), for_event=True)}
    events.queue(name, data, to=_audience(room) if to is None else to)


def create_room(user: User, name: str, description: str = "", kind: str = "public") -> RoomView:
    """Create a public or private room owned by its creator; 409 when the name is taken."""
    key = room_name_key(name)
    if db.session.scalar(sa.select(Room.id).where(Room.name_key == key)) is not None:
        raise _name_taken()
    room = Room(name=name, name_key=key, description=description, kind=kind, created_by=user.id)
    room.invite_code = _new_invite_code() if kind == "private" else None
    db.session.add(room)
    _flush_name()
    db.session.add(RoomMembership(room_id=room.id, user_id=user.id, role="owner"))
    db.session.flush()
    events.queue_subscription(user.id, room.id)
    # A new private room concerns only its creator until someone joins.
    _queue_room_event("room_created", room, to=() if kind == "public" else (events.user_target(user.id),))
    db.session.commit()
    return room_view(user, room)


def update_room(
    user: User, room_id: int, *, name: str | None = None, description: str | None = None
) -> RoomView:
    """Rename or redescribe a room (owners and admins); 409 when the new name is taken."""
    room, membership = visible_room(user, room_id)
    _refuse_direct(room, "renamed")
    _require_manager(user, membership)
    if name is not None:
        room.name, room.name_key = name, room_name_key(name)
    if description is not None:
        room.description = description
    if not db.session.is_modified(room):
        return room_view(user, room)
    _flush_name()
    _queue_room_event("room_updated", room)
    db.session.commit()
    return room_view(user, room)


def _newest_message_id(room_id: int) -> int | None:
    return db.session.scalar(sa.select(sa.func.max(Message.id)).where(Message.room_id == room_id))


def join_room(user: User, room_id: int, invite_code: str | None = None) -> RoomView:
    """Become a member: public rooms freely, private ones with the invite code; idempotent.

    A private room stays hidden (404) from whoever has neither membership nor the right code.
    """
    room = db.session.get(Room, room_id)
    membership = find_membership(room_id, user.id) if room is not None else None
    if room is None or not (can_see(user, room, membership) or _invite_matches(room, invite_code)):
        raise NotFound("No such room.", code="room_not_found")
    if membership is not None:
        return room_view(user, room)
    _refuse_direct(room, "joined")
    require_active(room)
    if room.kind == "private" and not _invite_matches(room, invite_code):
        raise Forbidden("The invite code is missing or wrong.", code="invalid_invite_code")
    _add_member(user, room)
    return room_view(user, room)


def _invite_matches(room: Room, invite_code: str | None) -> bool:
    return bool(invite_code and room.invite_code) and secrets.compare_digest(
        invite_code.encode(), room.invite_code.encode()
    )


def preview_invite(user: User, invite_code: str) -> RoomView:
    """The private room an invite code opens, as the invited user sees it before joining."""
    room = db.session.scalar(sa.select(Room).where(Room.invite_code == invite_code))
    if room is None:
        raise NotFound("That invite code is not valid.", code="invite_not_found")
    return room_view(user, room)


def _add_member(user: User, room: Room) -> None:
    # Joining marks the history read: unread counts start from now, as in Slack.
    db.session.add(
        RoomMembership(room_id=room.id, user_id=user.id, last_read_message_id=_newest_message_id(room.id))
    )
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent join of the same user won; the result is the same
        db.session.rollback()
        return
    events.queue_subscription(user.id, room.id)
    payload = {"room_id": room.id, "user": serialize_user(user)}
    events.queue("user_joined", payload, to=(events.room_target(room.id), events.user_target(user.id)))
    db.session.commit()


def leave_room(user: User, room_id: int) -> RoomView:
    """Stop being a member; the longest-standing member inherits a room its last owner leaves."""
    room, membership = member_room(user, room_id)
    _refuse_direct(room, "left")
    db.session.delete(membership)
    db.session.flush()
    if membership.role == "owner":
        _hand_over_ownership(room)
    payload = {"room_id": room.id, "user": serialize_user(user)}
    events.queue("user_left", payload, to=(events.room_target(room.id), events.user_target(user.id)))
    events.queue_subscription(user.id, room.id, enter=False)
    db.session.commit()
    return room_view(user, room)


def _hand_over_ownership(room: Room) -> None:
    owners = sa.select(RoomMembership).where(RoomMembership.room_id == room.id)
    if db.session.scalar(owners.where(RoomMembership.role == "owner")) is not None:
        return
    heir = db.session.scalar(owners.order_by(RoomMembership.joined_at, RoomMembership.user_id))
    if heir is not None:
        heir.role = "owner"


def set_room_active(user: User, room_id: int, active: bool) -> RoomView:
    """Close (active False) or reopen a room (owners and admins); repeating it changes nothing."""
    room, membership = visible_room(user, room_id)
    _refuse_direct(room, "closed or reopened")
    _require_manager(user, membership)
    if room.is_active != active:
        room.is_active = active
        room.closed_at = None if active else utcnow()
        name = "room_reopened" if active else "room_closed"
        events.queue(name, {"room_id": room.id}, to=_audience(room))
        db.session.commit()
    return room_view(user, room)


def delete_room(user: User, room_id: int) -> None:
    """Delete a room and its messages (owners and admins)."""
    room, membership = visible_room(user, room_id)
    _require_manager(user, membership)
    events.queue("room_deleted", {"room_id": room.id}, to=_audience(room))
    events.queue_close_room(room.id)
    db.session.delete(room)
    db.session.commit()


def rotate_invite_code(user: User, room_id: int) -> str:
    """Give a private room a new invite code; the old one stops working (owners and admins)."""
    room, membership = visible_room(user, room_id)
    _require_manager(user, membership)
    if room.kind != "private":
        raise Conflict("Only private rooms have invite codes.", code="not_private")
    room.invite_code = _new_invite_code()
    db.session.commit()
    return room.invite_code


def open_direct_room(user: User, other_id: int) -> tuple[RoomView, bool]:
    """Get or create the two-person direct room with another user; returns (view, created)."""
    if other_id == user.id:
        raise ValidationFailed("You cannot open a direct conversation with yourself.", code="cannot_dm_self")
    other = db.session.get(User, other_id)
    if other is None:
        raise NotFound("No such user.", code="user_not_found")
    low, high = sorted((user.id, other.id))
    key = f"dm:{low}:{high}"
    room = db.session.scalar(sa.select(Room).where(Room.name_key == key))
    if room is not None:
        return room_view(user, room), False
    if not other.is_active:
        raise Conflict("That account is deactivated.", code="account_disabled")
    room = Room(name=key, name_key=key, kind="direct", created_by=user.id)
    db.session.add(room)
    try:
        db.session.flush()
    except IntegrityError:  # the other side opened it at the same moment
        db.session.rollback()
        return room_view(user, db.session.scalar(sa.select(Room).where(Room.name_key == key))), False
    db.session.add_all([RoomMembership(room_id=room.id, user_id=uid) for uid in (low, high)])
    db.session.flush()
    for viewer in (user, other):
        events.queue_subscription(viewer.id, room.id)
        view = room_view(viewer, room)
        events.queue("room_created", {"room": serialize_room(view)}, to=(events.user_target(viewer.id),))
    db.session.commit()
    return room_view(user, room), True
