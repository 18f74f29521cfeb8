"""How users are shown to API clients."""

from datetime import datetime

from flask import url_for
from pydantic import BaseModel

from app.models import User


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    avatar_url: str | None
    created_at: datetime
    online: bool = False
    email: str | None = None


def avatar_url(user: User) -> str | None:
    """Public URL of the user's avatar, or None."""
    return url_for("system.avatar", filename=user.avatar) if user.avatar else None


def serialize_user(user: User, *, with_email: bool = False, online: bool = False) -> dict:
    """The user object of DESIGN §4; email only for the user itself and admins."""
    out = UserOut(
        id=user.id,
        name=user.name,
        role=user.role,
        avatar_url=avatar_url(user),
        created_at=user.created_at,
        online=online,
        email=user.email if with_email else None,
    )
    data = out.model_dump(mode="json")
    if not with_email:
        del data["email"]
    return data
