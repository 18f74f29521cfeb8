"""Feedback sent from the app, by members or anonymous visitors."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import MYSQL_TABLE_OPTIONS, Base, UTCDateTime, utcnow

STATUSES = ("new", "read", "archived")


class Feedback(Base):
    """One feedback item; status is triaged by admins."""

    __tablename__ = "feedbacks"
    __table_args__ = (
        sa.CheckConstraint("status IN ('new', 'read', 'archived')", name="status"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(sa.String(64))
    email: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    message: Mapped[str] = mapped_column(sa.Text())
    status: Mapped[str] = mapped_column(sa.String(16), default="new", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
