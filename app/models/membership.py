"""Who belongs to which room, with their role and read marker."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import MYSQL_TABLE_OPTIONS, Base, BigId, UTCDateTime, utcnow
from app.models.room import Room
from app.models.user import User


class RoomMembership(Base):
    """One user's membership of one room."""

    __tablename__ = "room_memberships"
    __table_args__ = (
        sa.CheckConstraint("role IN ('owner', 'member')", name="role"),
        MYSQL_TABLE_OPTIONS,
    )

    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16), default="member")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_read_message_id: Mapped[int | None] = mapped_column(BigId)

    room: Mapped[Room] = relationship()
    user: Mapped[User] = relationship()
