"""The admin dashboard's numbers: accounts, rooms, messages per day and who is online."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Message, Room, User, utcnow
from app.services import presence

# The chart covers this many days, today included.
DAYS = 30


@dataclass(frozen=True)
class Stats:
    """What GET /admin/stats answers."""

    users: int
    rooms: int
    messages_today: int
    online_now: int
    messages_per_day: list[tuple[date, int]]


def _count(statement: sa.Select) -> int:
    return db.session.scalar(statement) or 0


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def messages_per_day(today: date, days: int = DAYS) -> list[tuple[date, int]]:
    """Messages (not deleted) created on each UTC day of the `days` ending with today, oldest first.

    One GROUP BY over the created_at range; days without messages are filled in with 0.
    """
    first = today - timedelta(days=days - 1)
    day = sa.func.date(Message.created_at)
    query = (
        sa.select(day, sa.func.count())
        .where(
            Message.created_at >= _day_start(first),
            Message.created_at < _day_start(today + timedelta(days=1)),
            Message.deleted_at.is_(None),
        )
        .group_by(day)
    )
    # SQLite's date() answers "YYYY-MM-DD", MySQL's DATE() a date: str() reads both the same way.
    counts = {date.fromisoformat(str(value)[:10]): count for value, count in db.session.execute(query)}
    return [(first + timedelta(days=n), counts.get(first + timedelta(days=n), 0)) for n in range(days)]


def dashboard_stats(now: datetime | None = None) -> Stats:
    """The dashboard's counts: active accounts, open public and private rooms, messages, online users."""
    today = (now or utcnow()).astimezone(UTC).date()
    per_day = messages_per_day(today)
    rooms = sa.select(sa.func.count()).select_from(Room)
    return Stats(
        users=_count(sa.select(sa.func.count()).select_from(User).where(User.is_active.is_(True))),
        rooms=_count(rooms.where(Room.is_active.is_(True), Room.kind.in_(("public", "private")))),
        messages_today=per_day[-1][1],
        online_now=presence.online_count(),
        messages_per_day=per_day,
    )
