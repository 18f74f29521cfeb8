"""Browser sessions kept on the server, so that ending one ends every copy of its cookie.

The signed cookie carries "<user id>:<session version>" and a random secret; a request is
signed in only while the `user_sessions` row named by the secret's SHA-256 exists, the
version still matches and the account is active. Deleting the row ends one session (logout),
deleting the user's rows and bumping the version ends them all (logout everywhere, password
change or reset, deactivation). The version also ends sessions that a login racing with such a
change creates after the rows were deleted.

A session unseen for PERMANENT_SESSION_LIFETIME is over: it no longer signs in, and its row is
deleted at its user's next sign-in, or with every other expired one by `purge_expired`.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import User, UserSession, utcnow
from app.services import events
from app.services.presence import SESSION_SOCKETS, session_kind

# last_seen_at is written at most this often per session, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)
_USER_AGENT_LENGTH = 255


def id_for_secret(secret: str) -> str:
    """The id of the session a cookie secret opens: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _expiry_cutoff() -> datetime:
    return utcnow() - current_app.config["PERMANENT_SESSION_LIFETIME"]


def _delete_sessions(*conditions: sa.ColumnElement[bool]) -> None:
    # Found by a plain read, deleted by primary key: a DELETE by user_id would take InnoDB gap
    # locks, and two sign-ins each waiting to insert into the other's locked gap deadlock. A row
    # committed meanwhile is missed, but the session version bumped with it still ends it.
    ids = list(db.session.scalars(sa.select(UserSession.id).where(*conditions)))
    if ids:
        db.session.execute(sa.delete(UserSession).where(UserSession.id.in_(ids)))


def open_session(
    user: User, *, replacing: str = "", user_agent: str | None = None, ip: str | None = None
) -> str:
    """Record a new session of the user and return the secret its cookie carries.

    `replacing` names the session this browser had until now (any user's): signing in again
    ends it, so that a copy of the earlier cookie does not stay signed in.
    """
    secret = secrets.token_urlsafe(32)
    previous = db.session.get(UserSession, replacing) if replacing else None
    if previous is not None:
        db.session.delete(previous)
        events.queue_disconnect(previous.user_id, "signed_out", session_kind(previous.id))
    # The user's expired rows go now: no scheduler is needed to keep the table small.
    _delete_sessions(UserSession.user_id == user.id, UserSession.last_seen_at < _expiry_cutoff())
    agent = (user_agent or "")[:_USER_AGENT_LENGTH] or None
    db.session.add(UserSession(id=id_for_secret(secret), user_id=user.id, user_agent=agent, ip=ip))
    db.session.commit()
    return secret


def session_user(user_id: int, version: int, session_id: str) -> User | None:
    """The active user of a live session (one query), or None; notes that it was seen."""
    query = (
        sa.select(User, UserSession.last_seen_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.id == session_id,
            UserSession.last_seen_at >= _expiry_cutoff(),
            User.id == user_id,
            User.session_version == version,
            User.is_active.is_(True),
        )
    )
    found = db.session.execute(query).first()
    if found is None:
        return None
    user, last_seen_at = found
    now = utcnow()
    if now - last_seen_at > TOUCH_INTERVAL:
        db.session.execute(
            sa.update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
        )
        db.session.commit()
    return user


def end_session(user: User, session_id: str) -> None:
    """End one session of the user and close the sockets it opened."""
    db.session.execute(
        sa.delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id)
    )
    events.queue_disconnect(user.id, "signed_out", session_kind(session_id))
    db.session.commit()


def forget_all(user: User) -> None:
    """Within the caller's transaction: end every browser session of the user (sockets aside)."""
    user.session_version += 1
    _delete_sessions(UserSession.user_id == user.id)


def revoke_all(user: User, reason: str) -> None:
    """Within the caller's transaction: end every browser session of the user and, after commit,
    close the sockets they opened. Sockets of API tokens stay: tokens are revoked one by one."""
    forget_all(user)
    events.queue_disconnect(user.id, reason, SESSION_SOCKETS)


def sign_out(user: User, session_id: str, *, everywhere: bool = False) -> None:
    """Logout: end this session, or with everywhere every session of the user."""
    if everywhere:
        revoke_all(user, "signed_out")
        db.session.commit()
    elif session_id:  # a token request has no browser session of its own to end
        end_session(user, session_id)


def purge_expired() -> int:
    """Delete the rows of every expired session; returns how many went."""
    result = db.session.execute(sa.delete(UserSession).where(UserSession.last_seen_at < _expiry_cutoff()))
    db.session.commit()
    return result.rowcount
