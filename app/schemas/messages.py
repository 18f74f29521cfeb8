"""Messages: request schemas, the message object and history pages."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from app.models import Message
from app.models.base import MAX_ID
from app.schemas.common import ClientId, Content, Id, QueryModel, RequestModel
from app.schemas.users import AuthorOut, serialize_author


class MessageIn(RequestModel):
    content: Content
    client_id: ClientId | None = Field(None, description="idempotency key: a retry returns the first message")


class MessageEditIn(RequestModel):
    content: Content


class HistoryQuery(QueryModel):
    before: Id | None = Field(None, description="the newest `limit` messages older than this id")
    after: Annotated[int, Field(ge=0, le=MAX_ID)] | None = Field(
        None, description="the oldest `limit` messages newer than this id; 0 starts at the beginning"
    )
    limit: int = Field(default=50, ge=1, le=100)

    @field_validator("after")
    @classmethod
    def _one_direction(cls, after: int | None, info: ValidationInfo) -> int | None:
        if after is not None and info.data.get("before") is not None:
            raise ValueError("give before or after, not both")
        return after


class MessageOut(BaseModel):
    id: int
    room_id: int
    author: AuthorOut
    content: str = Field(description='"" once deleted')
    client_id: str | None
    created_at: datetime
    edited_at: datetime | None
    deleted: bool


class MessageEnvelope(BaseModel):
    message: MessageOut


class HistoryOut(BaseModel):
    messages: list[MessageOut] = Field(description="oldest to newest")
    has_more: bool = Field(description="more messages exist beyond this page in the direction of travel")


def serialize_message(message: Message) -> dict:
    """The message object of DESIGN §4."""
    return MessageOut(
        id=message.id,
        room_id=message.room_id,
        author=serialize_author(message.author),
        content=message.content,
        client_id=message.client_id,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted=message.is_deleted,
    ).model_dump(mode="json")
