"""Payloads of the client events of the /chat namespace (DESIGN §5)."""

from typing import Annotated

from pydantic import Field

from app.models.base import MAX_ID
from app.schemas.common import Id, RequestModel
from app.schemas.messages import MessageIn
from app.schemas.rooms import ReadMarkerIn


class RoomRef(RequestModel):
    """leave_room: which room."""

    room_id: Id


class JoinRoomIn(RoomRef):
    # 0 means "from the first message", as after=0 does in REST history.
    since_id: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None


class SendMessageIn(RoomRef, MessageIn):
    """send_message: the REST body plus the room."""


class TypingIn(RoomRef):
    is_typing: bool


class MarkReadIn(RoomRef, ReadMarkerIn):
    """mark_read: the REST body plus the room."""
