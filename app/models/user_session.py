"""Browser sessions, one row per signed-in cookie: deleting the row ends the session."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import MYSQL_TABLE_OPTIONS, Base, UTCDateTime, utcnow


class UserSession(Base):
    """A signed-in browser session; the cookie holds a secret, this row only its SHA-256."""

    __tablename__ = "user_sessions"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    # sha256 hex of the cookie's secret: a copy of this table signs nobody in.
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Written at most once a minute; a session unseen for PERMANENT_SESSION_LIFETIME is over.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
