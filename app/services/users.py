"""The user directory, and what admins do to accounts (role, deactivation)."""

import sqlalchemy as sa

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import User


def _like(text: str) -> str:
    """A LIKE pattern matching text anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def search_directory(query: str = "", limit: int = 20) -> list[User]:
    """Active users whose name contains the query (case-insensitive), by name."""
    statement = sa.select(User).where(User.is_active.is_(True))
    if query.strip():
        statement = statement.where(sa.func.lower(User.name).like(_like(query.strip()), escape="\\"))
    return list(db.session.scalars(statement.order_by(User.name, User.id).limit(limit)))


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
        pattern = _like(query.strip())
        condition = sa.or_(
            sa.func.lower(User.name).like(pattern, escape="\\"), User.email.like(pattern, escape="\\")
        )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(condition)) or 0
    statement = sa.select(User).where(condition).order_by(User.id.desc())
    users = db.session.scalars(statement.offset((page - 1) * per_page).limit(per_page))
    return list(users), total


def _other_active_admins(user: User) -> int:
    query = sa.select(sa.func.count()).select_from(User)
    query = query.where(User.role == "admin", User.is_active.is_(True), User.id != user.id)
    return db.session.scalar(query) or 0


def update_user(user_id: int, *, role: str | None = None, is_active: bool | None = None) -> User:
    """Change a user's role or deactivate/reactivate them; the last active admin stays one."""
    user = get_user(user_id)
    loses_admin = user.is_admin and user.is_active and (role == "member" or is_active is False)
    if loses_admin and _other_active_admins(user) == 0:
        raise Conflict("Parley needs at least one active admin.", code="last_admin")
    if role is not None:
        user.role = role
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        # Deactivation signs the user out everywhere; their tokens stop working too.
        user.session_version += 1
    db.session.commit()
    return user
