"""Messages: history, send, edit, delete and read markers."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

from app.openapi import endpoint
from app.schemas.messages import (
    HistoryOut,
    HistoryQuery,
    MessageEditIn,
    MessageEnvelope,
    MessageIn,
    serialize_message,
)
from app.schemas.rooms import ReadMarkerIn, UnreadOut
from app.security import signed_in_user
from app.services import messaging

bp = Blueprint("messages", __name__)
TAGS = ["messages"]


@bp.get("/rooms/<int:room_id>/messages")
@endpoint(query=HistoryQuery, responses={200: HistoryOut}, errors=[403, 404], tags=TAGS)
def list_messages(room_id: int, params: HistoryQuery) -> ResponseReturnValue:
    """One page of history, oldest to newest: before=, after= or the newest page."""
    messages, has_more = messaging.list_messages(
        signed_in_user(), room_id, before=params.before, after=params.after, limit=params.limit
    )
    return {"messages": [serialize_message(message) for message in messages], "has_more": has_more}


@bp.post("/rooms/<int:room_id>/messages")
@endpoint(
    body=MessageIn, responses={201: MessageEnvelope, 200: MessageEnvelope}, errors=[403, 404, 409], tags=TAGS
)
def send_message(room_id: int, body: MessageIn) -> ResponseReturnValue:
    """Post a message; repeating a client_id returns the first message with 200."""
    message, created = messaging.send_message(signed_in_user(), room_id, body.content, body.client_id)
    return {"message": serialize_message(message)}, 201 if created else 200


@bp.patch("/messages/<int:message_id>")
@endpoint(body=MessageEditIn, responses={200: MessageEnvelope}, errors=[403, 404, 409], tags=TAGS)
def edit_message(message_id: int, body: MessageEditIn) -> ResponseReturnValue:
    """Change the text of one's own message."""
    return {"message": serialize_message(messaging.edit_message(signed_in_user(), message_id, body.content))}


@bp.delete("/messages/<int:message_id>")
@endpoint(responses={204: None}, errors=[403, 404], tags=TAGS)
def delete_message(message_id: int) -> ResponseReturnValue:
    """Delete a message (its author, the room's owners, admins); it stays in history blanked."""
    messaging.delete_message(signed_in_user(), message_id)
    return "", 204


@bp.post("/rooms/<int:room_id>/read")
@endpoint(body=ReadMarkerIn, responses={200: UnreadOut}, errors=[403, 404], tags=TAGS)
def mark_read(room_id: int, body: ReadMarkerIn) -> ResponseReturnValue:
    """Move the caller's read marker forward; answers the unread count left."""
    return {"unread_count": messaging.mark_read(signed_in_user(), room_id, body.message_id)}
