"""The user directory, and what admins do to accounts (role, deactivation)."""

import sqlalchemy as sa

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import User
from app.models.base import casefolded
from app.services import events, sessions


def _like(text: str) -> str:
    """A LIKE pattern matching text anywhere, case-folded, with LIKE's wildcards taken literally."""
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _name_contains(text: str) -> sa.ColumnElement[bool]:
    return casefolded(User.name).like(_like(text), escape="\\")


def search_directory(query: str = "", limit: int = 20) -> list[User]:
    """Active users whose name contains the query (case-insensitive), by name."""
    statement = sa.select(User).where(User.is_active.is_(True))
    if query.strip():
        statement = statement.where(_name_contains(query.strip()))
    return list(db.session.scalars(statement.order_by(casefolded(User.name), User.id).limit(limit)))


def get_user(user_id: int) -> User:
    """A user by id; 404 when there is none."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


def list_users(query: str = "", page: int = 1, per_page: int = 50) -> tuple[list[User], int]:
    """Every account matching a name or email fragment, newest first, one page and the total."""
    condition = sa.true()
    if query.strip():
        text = query.strip()
        condition = sa.or_(_name_contains(text), User.email.like(_like(text), escape="\\"))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(condition)) or 0
    statement = sa.select(User).where(condition).order_by(User.id.desc())
    users = db.session.scalars(statement.offset((page - 1) * per_page).limit(per_page))
    return list(users), total


def _lock_admin_rows() -> None:
    # Lock every admin row in id order before changing one, so that concurrent demotions queue
    # behind each other instead of deadlocking (MySQL); SQLite serializes writers anyway.
    db.session.execute(sa.select(User.id).where(User.role == "admin").order_by(User.id).with_for_update())


def _active_admins() -> int:
    # A locking read sees the latest committed rows, not the transaction's older snapshot.
    query = sa.select(User.id).where(User.role == "admin", User.is_active.is_(True)).with_for_update()
    return len(db.session.scalars(query).all())


def update_user(user_id: int, *, role: str | None = None, is_active: bool | None = None) -> User:
    """Change a user's role or deactivate/reactivate them; the last active admin stays one."""
    user = get_user(user_id)
    demoting = role == "member" or is_active is False
    if demoting:
        _lock_admin_rows()
        db.session.refresh(user, with_for_update=True)
    if role is not None:
        user.role = role
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        # Deactivation signs the user out everywhere; their tokens stop working too.
        sessions.forget_all(user)
        if not is_active:
            events.queue_disconnect(user.id, "account_disabled")
    db.session.flush()
    if demoting and _active_admins() == 0:
        db.session.rollback()
        raise Conflict("Parley needs at least one active admin.", code="last_admin")
    db.session.commit()
    return user
