"""Test data built through the same services the app uses."""

import itertools
import secrets

from app.extensions import db
from app.models import Message, Room, User
from app.services import accounts, messaging, rooms

_sequence = itertools.count(1)
# One random password per run: nothing guessable is ever written into the repository.
PASSWORD = "pw-" + secrets.token_urlsafe(16)


def make_user(
    *,
    email: str | None = None,
    name: str | None = None,
    password: str = PASSWORD,
    role: str = "member",
    is_active: bool = True,
) -> User:
    """Create and return a user (commits)."""
    n = next(_sequence)
    user = accounts.create_user(email or f"user{n}@example.com", password, name or f"User {n}", role=role)
    if not is_active:
        user.is_active = False
        db.session.commit()
    return user


def make_room(
    owner: User, *, name: str | None = None, kind: str = "public", members: tuple[User, ...] = ()
) -> Room:
    """Create a room owned by owner (commits), with the given users joined as members."""
    view = rooms.create_room(owner, name or f"Room {next(_sequence)}", kind=kind)
    for user in members:
        rooms.join_room(user, view.room.id, view.room.invite_code)
    return view.room


def make_message(
    author: User, room: Room, content: str | None = None, client_id: str | None = None
) -> Message:
    """Post a message through the messaging service (commits); the author must be a member."""
    message, _ = messaging.send_message(author, room.id, content or f"message {next(_sequence)}", client_id)
    return message
