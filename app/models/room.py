"""Chat rooms: public, private (invite code) and two-person direct rooms."""

import unicodedata
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import MYSQL_TABLE_OPTIONS, Base, UTCDateTime, binary_string, utcnow
from app.models.user import User

KINDS = ("public", "private", "direct")


def room_name_key(name: str) -> str:
    """The case-insensitive identity of a room name, identical on every database.

    Unicode's caseless identifier match (NFKC around casefold), so "Café" typed precomposed
    or with a combining accent is one name, and so are "Straße" and "STRASSE".
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


class Room(Base):
    """A room; is_active false means closed (readable, takes no messages)."""

    __tablename__ = "rooms"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('public', 'private', 'direct')", name="kind"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    # casefold() of name, compared byte for byte: uniqueness that means the same on SQLite and MySQL.
    name_key: Mapped[str] = mapped_column(binary_string(192), unique=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    kind: Mapped[str] = mapped_column(sa.String(16), default="public")
    invite_code: Mapped[str | None] = mapped_column(binary_string(32), unique=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    creator: Mapped[User | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Room {self.id} {self.name!r}>"
