"""/admin: what only the admin pages need, the dashboard's counts and the room table."""

from flask import Blueprint
from flask.typing import ResponseReturnValue

from app.openapi import endpoint
from app.schemas.admin import (
    AdminRoomPageOut,
    AdminRoomsQuery,
    StatsOut,
    serialize_admin_room,
    serialize_stats,
)
from app.security import signed_in_user
from app.services import rooms_admin, stats

bp = Blueprint("admin", __name__, url_prefix="/admin")
TAGS = ["admin"]


@bp.get("/stats")
@endpoint(access="admin", responses={200: StatsOut}, tags=TAGS)
def admin_stats() -> ResponseReturnValue:
    """Active accounts, open rooms, messages today and per day for 30 days, users online (admins)."""
    return serialize_stats(stats.dashboard_stats())


@bp.get("/rooms")
@endpoint(access="admin", query=AdminRoomsQuery, responses={200: AdminRoomPageOut}, tags=TAGS)
def admin_list_rooms(params: AdminRoomsQuery) -> ResponseReturnValue:
    """Public and private rooms, newest first, by name and status, one page at a time (admins).

    Browsers navigating here get the admin page instead (pages.HTML_TWINS). Direct rooms are
    not listed: they are private conversations between two people.
    """
    found, total = rooms_admin.list_admin_rooms(
        signed_in_user(), params.q, params.status, params.page, params.per_page
    )
    return {"rooms": [serialize_admin_room(row) for row in found], "total": total}
