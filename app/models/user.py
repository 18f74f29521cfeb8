"""User accounts."""

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import MYSQL_TABLE_OPTIONS, Base, UTCDateTime, utcnow

ROLES = ("member", "admin")


class User(UserMixin, Base):
    """A person who can sign in; email is stored lower-case."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('member', 'admin')", name="role"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[str] = mapped_column(sa.String(16), default="member")
    avatar: Mapped[str | None] = mapped_column(sa.String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped to end every session at once (logout everywhere, password change, deactivation).
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_admin(self) -> bool:
        """Whether the user has the admin role."""
        return self.role == "admin"

    def get_id(self) -> str:
        """Session identity: id and session version, so bumping the version signs every session out."""
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"
