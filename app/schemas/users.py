"""How users are shown to API clients."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.models import User
from app.schemas.common import PageQuery, PatchModel, QueryModel

AVATAR_PATH = "/uploads/avatars"  # the route of app/controllers/system.py's avatar view


class UserOut(BaseModel):
    id: int
    name: str
    role: Literal["member", "admin"]
    avatar_url: str | None
    created_at: datetime
    online: bool = False
    email: str | None = Field(None, description="only for the user themself and for admins")
    is_active: bool | None = Field(None, description="only for admins")


class AuthorOut(BaseModel):
    """The short form of a user inside messages and rooms."""

    id: int
    name: str
    avatar_url: str | None


class UserEnvelope(BaseModel):
    user: UserOut


class UserListOut(BaseModel):
    users: list[UserOut]


class UserPageOut(BaseModel):
    users: list[UserOut]
    total: int


class DirectoryQuery(QueryModel):
    q: str = Field(default="", max_length=64, description="part of a name, case-insensitive")
    limit: int = Field(default=20, ge=1, le=100)


class AdminUsersQuery(PageQuery):
    q: str = Field(default="", max_length=254, description="part of a name or email")


class UserAdminIn(PatchModel):
    role: Literal["member", "admin"] | None = None
    is_active: bool | None = None


def avatar_url(user: User) -> str | None:
    """Public URL of the user's avatar, or None."""
    # A plain path, not url_for: events and CLI commands serialize users outside any request.
    return f"{AVATAR_PATH}/{user.avatar}" if user.avatar else None


def serialize_user(
    user: User, *, with_email: bool = False, for_admin: bool = False, online: bool = False
) -> dict:
    """The user object of DESIGN §4; email for the user themself and admins, is_active for admins."""
    out = UserOut(
        id=user.id,
        name=user.name,
        role=user.role,
        avatar_url=avatar_url(user),
        created_at=user.created_at,
        online=online,
        email=user.email if with_email or for_admin else None,
        is_active=user.is_active if for_admin else None,
    )
    data = out.model_dump(mode="json")
    if not (with_email or for_admin):
        del data["email"]
    if not for_admin:
        del data["is_active"]
    return data


def serialize_author(user: User) -> dict:
    """{id, name, avatar_url}: how a message's author or a direct room's peer is shown."""
    return AuthorOut(id=user.id, name=user.name, avatar_url=avatar_url(user)).model_dump(mode="json")
