"""Users: the directory, direct rooms, and account administration."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

from app.openapi import endpoint
from app.schemas.rooms import RoomEnvelope, serialize_room
from app.schemas.users import (
    AdminUsersQuery,
    DirectoryQuery,
    UserAdminIn,
    UserEnvelope,
    UserListOut,
    UserPageOut,
    serialize_user,
)
from app.security import signed_in_user
from app.services import presence, rooms, users

bp = Blueprint("users", __name__)
TAGS = ["users"]


@bp.get("/users")
@endpoint(query=DirectoryQuery, responses={200: UserListOut}, tags=TAGS)
def list_users(params: DirectoryQuery) -> ResponseReturnValue:
    """Active users whose name contains q."""
    found = users.search_directory(params.q, params.limit)
    online = presence.online_among(user.id for user in found)
    admin = signed_in_user().is_admin
    return {"users": [serialize_user(user, for_admin=admin, online=user.id in online) for user in found]}


@bp.get("/users/<int:user_id>")
@endpoint(responses={200: UserEnvelope}, errors=[404], tags=TAGS)
def get_user(user_id: int) -> ResponseReturnValue:
    """One user (email and is_active only for admins and the user themself)."""
    viewer, user = signed_in_user(), users.get_user(user_id)
    shown = {"with_email": viewer.id == user.id, "for_admin": viewer.is_admin}
    return {"user": serialize_user(user, **shown, online=presence.is_online(user.id))}


@bp.post("/users/<int:user_id>/dm")
@endpoint(responses={200: RoomEnvelope, 201: RoomEnvelope}, errors=[404, 409, 422], tags=TAGS)
def open_direct_room(user_id: int) -> ResponseReturnValue:
    """Get (200) or create (201) the direct room with this user."""
    view, created = rooms.open_direct_room(signed_in_user(), user_id)
    return {"room": serialize_room(view)}, 201 if created else 200


@bp.patch("/users/<int:user_id>")
@endpoint(access="admin", body=UserAdminIn, responses={200: UserEnvelope}, errors=[404, 409], tags=["admin"])
def update_user(user_id: int, body: UserAdminIn) -> ResponseReturnValue:
    """Change a user's role, or deactivate or reactivate them (admins)."""
    user = users.update_user(user_id, role=body.role, is_active=body.is_active)
    return {"user": serialize_user(user, for_admin=True, online=presence.is_online(user.id))}


@bp.get("/admin/users")
@endpoint(access="admin", query=AdminUsersQuery, responses={200: UserPageOut}, tags=["admin"])
def admin_list_users(params: AdminUsersQuery) -> ResponseReturnValue:
    """Every account, newest first, one page at a time, searchable by name or email (admins)."""
    found, total = users.list_users(params.q, params.page, params.per_page)
    online = presence.online_among(user.id for user in found)
    page = [serialize_user(user, for_admin=True, online=user.id in online) for user in found]
    return {"users": page, "total": total}
