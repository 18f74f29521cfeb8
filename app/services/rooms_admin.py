"""The admin room table: public and private rooms, one page at a time, with owners and last activity.

Direct rooms are left out on purpose: they are two people's private conversation, not rooms
an admin runs (admins can still delete one through DELETE /rooms/<id>).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.extensions import db
from app.models import Message, Room, RoomMembership, User
from app.models.room import room_name_key
from app.schemas.rooms import RoomView

# room_views builds the viewer-specific room objects (member count, role, unread, invite code)
# for a list in a constant number of queries; the admin table reuses that rather than a copy.
from app.services.room_views import build_views, views_query

ADMIN_KINDS = ("public", "private")


@dataclass
class AdminRoom:
    """One row of the admin room table."""

    view: RoomView
    owners: list[User]
    last_message_at: datetime | None


def _name_contains(text: str) -> sa.ColumnElement[bool]:
    # name_key is the casefolded name, compared byte for byte on every database.
    key = room_name_key(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Room.name_key.like(f"%{key}%", escape="\\")


def _conditions(query: str, status: str | None) -> list[sa.ColumnElement[bool]]:
    conditions = [Room.kind.in_(ADMIN_KINDS)]
    if query.strip():
        conditions.append(_name_contains(query))
    if status is not None:
        conditions.append(Room.is_active.is_(status == "active"))
    return conditions


def _owners(room_ids: Sequence[int]) -> dict[int, list[User]]:
    """Each room's owners by name, in one query."""
    owners: dict[int, list[User]] = {room_id: [] for room_id in room_ids}
    if not room_ids:
        return owners
    query = (
        sa.select(RoomMembership.room_id, User)
        .join(User, User.id == RoomMembership.user_id)
        .where(RoomMembership.room_id.in_(room_ids), RoomMembership.role == "owner")
        .order_by(User.name, User.id)
    )
    for room_id, user in db.session.execute(query):
        owners[room_id].append(user)
    return owners


def _last_message_times(room_ids: Sequence[int]) -> dict[int, datetime]:
    """When each room's newest message was sent: the highest id per room walks (room_id, id)."""
    if not room_ids:
        return {}
    # Two small queries: MySQL can walk the index for MAX(id) per room, but not always inside IN (...).
    newest = sa.select(sa.func.max(Message.id)).where(Message.room_id.in_(room_ids)).group_by(Message.room_id)
    ids = list(db.session.scalars(newest))
    query = sa.select(Message.room_id, Message.created_at).where(Message.id.in_(ids))
    return dict(db.session.execute(query).all())


def list_admin_rooms(
    admin: User, query: str = "", status: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[AdminRoom], int]:
    """Public and private rooms whose name contains query, newest first: one page and the total."""
    conditions = _conditions(query, status)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Room).where(*conditions)) or 0
    rooms_query, _ = views_query(admin)
    rows = db.session.execute(
        rooms_query.where(*conditions).order_by(Room.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    views = build_views(admin, rows)
    room_ids = [view.room.id for view in views]
    owners, last = _owners(room_ids), _last_message_times(room_ids)
    rows_out = [AdminRoom(view, owners[view.room.id], last.get(view.room.id)) for view in views]
    return rows_out, total
