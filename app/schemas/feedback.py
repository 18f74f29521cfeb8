"""Feedback: what visitors send and what admins triage."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.models import Feedback
from app.schemas.common import Email, Name, PageQuery, RequestModel

Status = Literal["new", "read", "archived"]


class FeedbackIn(RequestModel):
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    name: Name | None = Field(None, description="required when not signed in")
    email: Email | None = Field(None, description="required when not signed in")


class FeedbackStatusIn(RequestModel):
    status: Status


class FeedbackQuery(PageQuery):
    status: Status | None = None


class FeedbackOut(BaseModel):
    id: int
    user_id: int | None
    name: str
    email: str
    subject: str
    message: str
    status: Status
    created_at: datetime


class FeedbackEnvelope(BaseModel):
    feedback: FeedbackOut


class FeedbackPageOut(BaseModel):
    feedback: list[FeedbackOut]
    total: int


def serialize_feedback(item: Feedback) -> dict:
    """A feedback item as admins see it."""
    return FeedbackOut.model_validate(item, from_attributes=True).model_dump(mode="json")
