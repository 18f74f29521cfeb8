"""Admin-only answers: the dashboard's counts and the room table."""

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, TypeAdapter

from app.schemas.common import PageQuery
from app.schemas.rooms import RoomOut, serialize_room
from app.schemas.users import AuthorOut, serialize_author

if TYPE_CHECKING:
    from app.services.rooms_admin import AdminRoom
    from app.services.stats import Stats


class DayCount(BaseModel):
    date: date
    count: int


class StatsOut(BaseModel):
    users: int = Field(description="active accounts")
    rooms: int = Field(description="open public and private rooms")
    messages_today: int = Field(description="messages created since 00:00 UTC today, not deleted")
    online_now: int = Field(description="users with at least one connected socket")
    messages_per_day: list[DayCount] = Field(
        description="the last 30 days (UTC) including today, oldest first, days without messages as 0"
    )


class AdminRoomsQuery(PageQuery):
    q: str = Field(default="", max_length=64, description="part of the room's name, case-insensitive")
    status: Literal["active", "closed"] | None = Field(None, description="open or closed rooms only")


class AdminRoomOut(RoomOut):
    """A room as the admin table shows it: the room object plus who owns it and when it was last used."""

    owners: list[AuthorOut] = Field(description="the members with the owner role")
    last_message_at: datetime | None = Field(description="when the newest message was sent, if any")


class AdminRoomPageOut(BaseModel):
    rooms: list[AdminRoomOut]
    total: int


_OPTIONAL_TIME = TypeAdapter(datetime | None)


def serialize_stats(stats: "Stats") -> dict:
    """The dashboard's counts as GET /admin/stats answers them."""
    per_day = [DayCount(date=day, count=count) for day, count in stats.messages_per_day]
    out = StatsOut(
        users=stats.users,
        rooms=stats.rooms,
        messages_today=stats.messages_today,
        online_now=stats.online_now,
        messages_per_day=per_day,
    )
    return out.model_dump(mode="json")


def serialize_admin_room(row: "AdminRoom") -> dict:
    """A room object (as its admin viewer sees it) plus owners and last_message_at."""
    owners = [serialize_author(user) for user in row.owners]
    last = _OPTIONAL_TIME.dump_python(row.last_message_at, mode="json")  # formatted like every other time
    return {**serialize_room(row.view), "owners": owners, "last_message_at": last}
