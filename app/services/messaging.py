"""Messages: the one send_message for REST and Socket.IO, history pages, edits, deletes, read markers."""

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Message, Room, RoomMembership, User, utcnow
from app.models.message import on_history_index
from app.schemas.messages import serialize_message
from app.services import events
from app.services.room_views import member_access, member_room, require_active, unread_count, visible_room


def _by_client_id(user_id: int, client_id: str) -> Message | None:
    return db.session.scalar(
        sa.select(Message).where(Message.user_id == user_id, Message.client_id == client_id)
    )


def _repeat_of(message: Message, room_id: int) -> Message:
    """The first message of a repeated client_id, announced again unless it was deleted.

    A client repeats a send when it got no ack: maybe only the ack was lost, maybe the process
    died between the commit and the event. Announcing again costs a duplicate event, which
    clients drop by message id, and makes sure the room hears of the message.
    """
    if message.room_id != room_id:
        raise Conflict(
            "That client_id was used for a message in another room.",
            code="client_id_reused",
            fields={"client_id": "already used in another room"},
        )
    if not message.is_deleted:
        target = events.room_target(room_id)
        events.emit_now("new_message", {"message": serialize_message(message)}, to=(target,))
    return message


def send_message(
    user: User, room_id: int, content: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """Post to a room the user belongs to; returns (message, created).

    A repeat of the same client_id returns the first message instead of a duplicate, also
    when the repeats race each other (the unique (user_id, client_id) index decides).
    """
    room = member_access(user, room_id)
    if not room.is_active:
        # A retry of a message sent before the room closed still gets that message back.
        if client_id is not None and (earlier := _by_client_id(user.id, client_id)) is not None:
            return _repeat_of(earlier, room_id), False
        require_active(room)
    message = Message(
        room_id=room_id, user_id=user.id, content=content, client_id=client_id, created_at=utcnow()
    )
    # No lookup of client_id first: a repeat is rare, and the unique index finds it for free.
    try:
        message.id = _insert_message(message)
    except IntegrityError:
        db.session.rollback()
        earlier = _by_client_id(user.id, client_id) if client_id is not None else None
        if earlier is None:  # not a client_id race: the room's row went away under us
            raise NotFound("No such room.", code="room_not_found") from None
        return _repeat_of(earlier, room_id), False
    set_committed_value(message, "author", user)
    # Writing in a room means having read it, as in Slack and Zulip.
    _advance_marker(room_id, user.id, message.id)
    events.queue("new_message", {"message": serialize_message(message)}, to=(events.room_target(room_id),))
    _commit_keeping_loaded()
    return message, True


_INSERT_MESSAGE = sa.insert(Message.__table__)


def _insert_message(message: Message) -> int:
    """Insert the row with Core and return its id: the ORM's unit of work for one plain row
    cost more than the rest of a send (the object stays transient; nothing reloads it)."""
    columns = ("room_id", "user_id", "content", "client_id", "created_at")
    values = {column: getattr(message, column) for column in columns}
    return db.session.execute(_INSERT_MESSAGE, values).inserted_primary_key[0]


def _commit_keeping_loaded() -> None:
    """Commit without expiring what the session holds: the caller serializes the message next,
    and reloading it and its author would cost two queries on the hottest path."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def list_messages(
    user: User, room_id: int, *, before: int | None = None, after: int | None = None, limit: int = 50
) -> tuple[list[Message], bool]:
    """One history page, oldest to newest, and whether more lie beyond it (keyset on id)."""
    room, _ = member_room(user, room_id)
    query = on_history_index(sa.select(Message)).where(Message.room_id == room.id).limit(limit + 1)
    if after is not None:
        rows = list(db.session.scalars(query.where(Message.id > after).order_by(Message.id)))
        return rows[:limit], len(rows) > limit
    if before is not None:
        query = query.where(Message.id < before)
    rows = list(db.session.scalars(query.order_by(Message.id.desc())))
    return rows[:limit][::-1], len(rows) > limit


def _find_message(user: User, message_id: int) -> tuple[Message, Room, RoomMembership | None]:
    """The message, its room and the user's membership; 404 when hidden from the user."""
    message = db.session.get(Message, message_id)
    if message is None:
        raise NotFound("No such message.", code="message_not_found")
    try:
        room, membership = visible_room(user, message.room_id)
    except NotFound:
        raise NotFound("No such message.", code="message_not_found") from None
    return message, room, membership


def edit_message(user: User, message_id: int, content: str) -> Message:
    """Change the text of one's own message; a deleted message or closed room refuses."""
    message, room, _ = _find_message(user, message_id)
    if message.user_id != user.id:
        raise Forbidden("Only the author may edit a message.", code="not_author")
    if message.is_deleted:
        raise Conflict("The message was deleted.", code="message_deleted")
    require_active(room)
    message.content = content
    message.edited_at = utcnow()
    events.queue(
        "message_edited", {"message": serialize_message(message)}, to=(events.room_target(message.room_id),)
    )
    db.session.commit()
    return message


def delete_message(user: User, message_id: int) -> None:
    """Blank a message and mark it deleted (its author, the room's owners, admins); idempotent."""
    message, _, membership = _find_message(user, message_id)
    is_owner = membership is not None and membership.role == "owner"
    if not (message.user_id == user.id or is_owner or user.is_admin):
        raise Forbidden("Only the author, the room's owners and admins may delete it.", code="not_allowed")
    if message.is_deleted:
        return
    message.content = ""
    message.deleted_at = utcnow()
    payload = {"message_id": message.id, "room_id": message.room_id}
    events.queue("message_deleted", payload, to=(events.room_target(message.room_id),))
    db.session.commit()


def mark_read(user: User, room_id: int, message_id: int) -> int:
    """Move the read marker forward to a message of the room; returns the unread count left."""
    room, membership = member_room(user, room_id)
    message = db.session.get(Message, message_id)
    if message is None or message.room_id != room.id:
        raise ValidationFailed(fields={"message_id": "no such message in this room"})
    _advance_marker(room.id, user.id, message_id)
    db.session.commit()  # expires membership: unread_count reads the new marker
    return unread_count(membership)


_marker = RoomMembership.__table__.c.last_read_message_id
_ADVANCE_MARKER = (
    sa.update(RoomMembership.__table__)
    .where(
        RoomMembership.__table__.c.room_id == sa.bindparam("marker_room"),
        RoomMembership.__table__.c.user_id == sa.bindparam("marker_user"),
        sa.or_(_marker.is_(None), _marker < sa.bindparam("marker_id")),
    )
    .values(last_read_message_id=sa.bindparam("marker_id"))
)


def _advance_marker(room_id: int, user_id: int, message_id: int) -> None:
    """Move the read marker forward to message_id, never back, also under concurrent calls."""
    params = {"marker_room": room_id, "marker_user": user_id, "marker_id": message_id}
    db.session.execute(_ADVANCE_MARKER, params)
