"""Reading rooms: who may see one, and the counts its object carries, without N+1 queries."""

from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.models import Message, Room, RoomMembership, User
from app.models.message import on_history_index
from app.schemas.rooms import RoomView


def find_membership(room_id: int, user_id: int) -> RoomMembership | None:
    """The user's membership of the room, or None."""
    return db.session.get(RoomMembership, (room_id, user_id))


def can_see(user: User, room: Room, membership: RoomMembership | None) -> bool:
    """Public rooms are visible to everyone signed in; others to their members and admins."""
    return _can_see(user, room.kind, membership is not None)


def _can_see(user: User, kind: str, is_member: bool) -> bool:
    return kind == "public" or is_member or user.is_admin


class RoomAccess(NamedTuple):
    """What sending and typing need to know about a room: whether it is open."""

    room_id: int
    is_active: bool


_rooms, _memberships = Room.__table__, RoomMembership.__table__
# Core, built once, three columns: this runs on every message and typing event, where loading
# the room, its creator and the membership as objects cost more than the rest of the send.
_ACCESS = (
    sa.select(_rooms.c.kind, _rooms.c.is_active, _memberships.c.user_id.is_not(None))
    .select_from(_rooms)
    .outerjoin(
        _memberships,
        sa.and_(_memberships.c.room_id == _rooms.c.id, _memberships.c.user_id == sa.bindparam("user_id")),
    )
    .where(_rooms.c.id == sa.bindparam("room_id"))
)


def member_access(user: User, room_id: int) -> RoomAccess:
    """member_room's answer (404 hidden, 403 not a member) without loading any object."""
    row = db.session.execute(_ACCESS, {"user_id": user.id, "room_id": room_id}).first()
    if row is None or not _can_see(user, row[0], bool(row[2])):
        raise NotFound("No such room.", code="room_not_found")
    if not row[2]:
        raise Forbidden("Join the room first.", code="not_a_member")
    return RoomAccess(room_id, bool(row[1]))


def visible_room(user: User, room_id: int) -> tuple[Room, RoomMembership | None]:
    """The room and the user's membership; 404 when it does not exist or is hidden from them."""
    # One query for both: this runs on every message sent.
    mine = sa.and_(RoomMembership.room_id == Room.id, RoomMembership.user_id == user.id)
    row = db.session.execute(
        sa.select(Room, RoomMembership).outerjoin(RoomMembership, mine).where(Room.id == room_id)
    ).first()
    room, membership = row if row is not None else (None, None)
    if room is None or not can_see(user, room, membership):
        raise NotFound("No such room.", code="room_not_found")
    return room, membership


def member_room(user: User, room_id: int) -> tuple[Room, RoomMembership]:
    """The room and the user's membership; 403 when they can see it but are not a member."""
    room, membership = visible_room(user, room_id)
    if membership is None:
        raise Forbidden("Join the room first.", code="not_a_member")
    return room, membership


def require_active(room: Room | RoomAccess) -> None:
    """409 room_closed unless the room is open."""
    if not room.is_active:
        raise Conflict("This room is closed.", code="room_closed")


def _unread_in(ranges: sa.ColumnElement[bool], user_id: int) -> list[sa.ColumnElement[bool]]:
    """Unread: messages by others, not deleted, in the given (room, after the marker) ranges."""
    return [ranges, Message.user_id != user_id, Message.deleted_at.is_(None)]


def _after_marker(room_id: int, marker: int | None) -> sa.ColumnElement[bool]:
    # Constants, not a correlated subquery: a marker taken from the outer row leaves MySQL and
    # MariaDB only the room_id half of the index, and they count through the whole room.
    return sa.and_(Message.room_id == room_id, Message.id > (marker or 0))


def _unread_counts(user: User, markers: dict[int, int | None]) -> dict[int, int]:
    """Unread counts of several rooms in one query: {room_id: count} (rooms with none left out)."""
    if not markers:
        return {}
    ranges = sa.or_(*(_after_marker(room_id, marker) for room_id, marker in markers.items()))
    query = on_history_index(sa.select(Message.room_id, sa.func.count())).where(*_unread_in(ranges, user.id))
    return dict(db.session.execute(query.group_by(Message.room_id)).all())


def _member_count_expression() -> sa.ScalarSelect:
    return (
        sa.select(sa.func.count())
        .select_from(RoomMembership)
        .where(RoomMembership.room_id == Room.id)
        .scalar_subquery()
    )


def views_query(user: User) -> tuple[sa.Select, type[RoomMembership]]:
    """Rooms with member_count and the user's role and read marker, one row per room."""
    mine = aliased(RoomMembership)
    query = sa.select(Room, _member_count_expression(), mine.role, mine.last_read_message_id).outerjoin(
        mine, sa.and_(mine.room_id == Room.id, mine.user_id == user.id)
    )
    return query, mine


def _peers(user: User, rooms: Sequence[Room]) -> dict[int, User]:
    """The other member of each direct room, in one query."""
    direct_ids = [room.id for room in rooms if room.kind == "direct"]
    if not direct_ids:
        return {}
    query = (
        sa.select(RoomMembership.room_id, User)
        .join(User, User.id == RoomMembership.user_id)
        .where(RoomMembership.room_id.in_(direct_ids), RoomMembership.user_id != user.id)
    )
    return dict(db.session.execute(query).all())


def build_views(user: User, rows: Sequence[sa.Row]) -> list[RoomView]:
    """RoomViews from views_query rows, with peers and unread counts in two more queries."""
    peers = _peers(user, [row[0] for row in rows])
    unread = _unread_counts(user, {room.id: marker for room, _, role, marker in rows if role is not None})
    return [
        RoomView(
            room=room,
            member_count=member_count,
            role=role,
            unread_count=unread.get(room.id, 0),
            peer=peers.get(room.id) if role is not None else None,  # admins looking in have no peer
            show_invite=room.kind == "private" and (role == "owner" or user.is_admin),
        )
        for room, member_count, role, _ in rows
    ]


def list_room_views(user: User) -> list[RoomView]:
    """Active public rooms and every room the user belongs to, alphabetically."""
    query, mine = views_query(user)
    query = query.where(
        sa.or_(sa.and_(Room.kind == "public", Room.is_active.is_(True)), mine.user_id.is_not(None))
    ).order_by(Room.name_key)
    return build_views(user, db.session.execute(query).all())


def room_view(user: User, room: Room) -> RoomView:
    """One room as the user sees it."""
    query, _ = views_query(user)
    rows = db.session.execute(query.where(Room.id == room.id)).all()
    return build_views(user, rows)[0]


def event_view(room: Room) -> RoomView:
    """The room for an event: counts only, nothing about a particular viewer."""
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(RoomMembership).where(RoomMembership.room_id == room.id)
    )
    return RoomView(room=room, member_count=count or 0)


def unread_count(membership: RoomMembership) -> int:
    """Messages by others, not deleted, after the member's read marker."""
    ranges = _after_marker(membership.room_id, membership.last_read_message_id)
    query = on_history_index(sa.select(sa.func.count()).select_from(Message))
    return db.session.scalar(query.where(*_unread_in(ranges, membership.user_id))) or 0


def members_of(room: Room) -> list[RoomMembership]:
    """The room's memberships with their users: owners first, then by name."""
    query = (
        sa.select(RoomMembership)
        .join(User, User.id == RoomMembership.user_id)
        .where(RoomMembership.room_id == room.id)
        .order_by(RoomMembership.role.desc(), User.name, User.id)
        .options(sa.orm.contains_eager(RoomMembership.user))
    )
    return list(db.session.scalars(query))
