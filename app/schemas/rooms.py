"""Rooms and members: request schemas, response objects and their serializers."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from app.models import Room, RoomMembership, User
from app.schemas.common import Description, Id, PatchModel, RequestModel, RoomName
from app.schemas.users import AuthorOut, UserOut, serialize_author, serialize_user

# Direct rooms are named like this internally; nobody may create a room with such a name.
DIRECT_NAME = re.compile(r"dm:\d+:\d+")


def _not_reserved(name: str) -> str:
    if DIRECT_NAME.fullmatch(name.casefold()):
        raise ValueError("this name is reserved for direct messages")
    return name


UserRoomName = Annotated[RoomName, AfterValidator(_not_reserved)]
InviteCode = Annotated[str, Field(min_length=1, max_length=64)]


class RoomCreateIn(RequestModel):
    name: UserRoomName
    description: Description = ""
    kind: Literal["public", "private"] = "public"


class RoomUpdateIn(PatchModel):
    name: UserRoomName | None = None
    description: Description | None = None


class RoomJoinIn(RequestModel):
    invite_code: InviteCode | None = None


class ReadMarkerIn(RequestModel):
    message_id: Id


class CreatorOut(BaseModel):
    id: int
    name: str


class RoomOut(BaseModel):
    """A room as one viewer sees it; is_member, unread_count and peer are about that viewer."""

    id: int
    name: str
    description: str
    kind: Literal["public", "private", "direct"]
    is_active: bool
    created_by: CreatorOut | None
    created_at: datetime
    closed_at: datetime | None
    member_count: int
    is_member: bool
    unread_count: int
    peer: AuthorOut | None = Field(None, description="direct rooms: the other person")
    invite_code: str | None = Field(None, description="private rooms, for their owners and admins only")


class MemberOut(BaseModel):
    user: UserOut
    role: Literal["owner", "member"]
    joined_at: datetime


class RoomEnvelope(BaseModel):
    room: RoomOut


class RoomListOut(BaseModel):
    rooms: list[RoomOut]


class MemberListOut(BaseModel):
    members: list[MemberOut]


class RoomDetailOut(BaseModel):
    room: RoomOut
    members: list[MemberOut]


class InviteOut(BaseModel):
    invite_code: str


class UnreadOut(BaseModel):
    unread_count: int


@dataclass
class RoomView:
    """A room with the counts and viewer facts its object shows (built by services.room_views)."""

    room: Room
    member_count: int
    role: str | None = None  # the viewer's role, None when not a member
    unread_count: int = 0
    peer: User | None = None
    show_invite: bool = False


# In events every subscriber gets the same object, so the viewer-specific fields are left out.
_VIEWER_FIELDS = {"is_member", "unread_count", "peer", "invite_code"}


def serialize_room(view: RoomView, *, for_event: bool = False) -> dict:
    """The room object of DESIGN §4 (invite_code only when the viewer may see it)."""
    room = view.room
    creator = room.creator
    data = RoomOut(
        id=room.id,
        name=room.name,
        description=room.description,
        kind=room.kind,
        is_active=room.is_active,
        created_by=CreatorOut(id=creator.id, name=creator.name) if creator else None,
        created_at=room.created_at,
        closed_at=room.closed_at,
        member_count=view.member_count,
        is_member=view.role is not None,
        unread_count=view.unread_count,
        peer=serialize_author(view.peer) if view.peer else None,
        invite_code=room.invite_code if view.show_invite else None,
    ).model_dump(mode="json")
    if for_event:
        return {key: value for key, value in data.items() if key not in _VIEWER_FIELDS}
    if not view.show_invite:
        del data["invite_code"]
    return data


def serialize_member(membership: RoomMembership, *, online: bool = False) -> dict:
    """A member: {user, role, joined_at}."""
    user = serialize_user(membership.user, online=online)
    data = MemberOut(user=user, role=membership.role, joined_at=membership.joined_at).model_dump(mode="json")
    return {**data, "user": user}  # the user object as serialize_user shaped it, without empty keys
