"""/rooms: list, create, detail, edit, join, leave, close, reopen, delete, members, invites."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

from app.models import Room
from app.openapi import endpoint
from app.schemas.rooms import (
    InviteOut,
    MemberListOut,
    RoomCreateIn,
    RoomDetailOut,
    RoomEnvelope,
    RoomJoinIn,
    RoomListOut,
    RoomUpdateIn,
    RoomView,
    serialize_member,
    serialize_room,
)
from app.security import signed_in_user
from app.services import presence, room_views, rooms

bp = Blueprint("rooms", __name__)
TAGS = ["rooms"]


def _room_answer(view: RoomView, status: int = 200) -> ResponseReturnValue:
    return {"room": serialize_room(view)}, status


@bp.get("/rooms")
@endpoint(responses={200: RoomListOut}, tags=TAGS)
def list_rooms() -> ResponseReturnValue:
    """Active public rooms and every room the caller belongs to, with counts."""
    return {"rooms": [serialize_room(view) for view in room_views.list_room_views(signed_in_user())]}


@bp.post("/rooms")
@endpoint(body=RoomCreateIn, responses={201: RoomEnvelope}, errors=[409], tags=TAGS)
def create_room(body: RoomCreateIn) -> ResponseReturnValue:
    """Create a public or private room; the caller becomes its owner."""
    return _room_answer(rooms.create_room(signed_in_user(), body.name, body.description, body.kind), 201)


@bp.get("/rooms/<int:room_id>")
@endpoint(responses={200: RoomDetailOut}, errors=[404], tags=TAGS)
def get_room(room_id: int) -> ResponseReturnValue:
    """A room and its members (public rooms: anyone signed in; others: members and admins)."""
    user = signed_in_user()
    room, _ = room_views.visible_room(user, room_id)
    return {"room": serialize_room(room_views.room_view(user, room)), "members": _members(room)}


@bp.patch("/rooms/<int:room_id>")
@endpoint(body=RoomUpdateIn, responses={200: RoomEnvelope}, errors=[403, 404, 409], tags=TAGS)
def update_room(room_id: int, body: RoomUpdateIn) -> ResponseReturnValue:
    """Rename or redescribe a room (owners and admins)."""
    return _room_answer(
        rooms.update_room(signed_in_user(), room_id, name=body.name, description=body.description)
    )


@bp.post("/rooms/<int:room_id>/join")
@endpoint(body=RoomJoinIn, responses={200: RoomEnvelope}, errors=[403, 404, 409], tags=TAGS)
def join_room(room_id: int, body: RoomJoinIn) -> ResponseReturnValue:
    """Become a member (private rooms need the invite code; closed rooms refuse)."""
    return _room_answer(rooms.join_room(signed_in_user(), room_id, body.invite_code))


@bp.post("/rooms/<int:room_id>/leave")
@endpoint(responses={200: RoomEnvelope}, errors=[403, 404, 409], tags=TAGS)
def leave_room(room_id: int) -> ResponseReturnValue:
    """Stop being a member."""
    return _room_answer(rooms.leave_room(signed_in_user(), room_id))


@bp.post("/rooms/<int:room_id>/close")
@endpoint(responses={200: RoomEnvelope}, errors=[403, 404, 409], tags=TAGS)
def close_room(room_id: int) -> ResponseReturnValue:
    """Close a room: it stays readable and takes no messages (owners and admins)."""
    return _room_answer(rooms.set_room_active(signed_in_user(), room_id, active=False))


@bp.post("/rooms/<int:room_id>/reopen")
@endpoint(responses={200: RoomEnvelope}, errors=[403, 404, 409], tags=TAGS)
def reopen_room(room_id: int) -> ResponseReturnValue:
    """Reopen a closed room (owners and admins)."""
    return _room_answer(rooms.set_room_active(signed_in_user(), room_id, active=True))


@bp.delete("/rooms/<int:room_id>")
@endpoint(responses={204: None}, errors=[403, 404], tags=TAGS)
def delete_room(room_id: int) -> ResponseReturnValue:
    """Delete a room and its messages (owners and admins)."""
    rooms.delete_room(signed_in_user(), room_id)
    return "", 204


@bp.get("/rooms/<int:room_id>/members")
@endpoint(responses={200: MemberListOut}, errors=[404], tags=TAGS)
def list_members(room_id: int) -> ResponseReturnValue:
    """The room's members with their roles (whoever may see the room)."""
    room, _ = room_views.visible_room(signed_in_user(), room_id)
    return {"members": _members(room)}


def _members(room: Room) -> list[dict]:
    memberships = room_views.members_of(room)
    online = presence.online_among(membership.user_id for membership in memberships)
    return [serialize_member(membership, online=membership.user_id in online) for membership in memberships]


@bp.post("/rooms/<int:room_id>/invite")
@endpoint(responses={200: InviteOut}, errors=[403, 404, 409], tags=TAGS)
def rotate_invite(room_id: int) -> ResponseReturnValue:
    """Replace a private room's invite code; the old one stops working (owners and admins)."""
    return {"invite_code": rooms.rotate_invite_code(signed_in_user(), room_id)}


@bp.get("/invites/<code>")
@endpoint(responses={200: RoomEnvelope}, errors=[404], tags=TAGS)
def preview_invite(code: str) -> ResponseReturnValue:
    """The private room an invite code opens, to show before joining it."""
    return _room_answer(rooms.preview_invite(signed_in_user(), code))
