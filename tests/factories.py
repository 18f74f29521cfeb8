"""Test data built through the same services the app uses."""

import itertools
import secrets

from app.extensions import db
from app.models import User
from app.services import accounts

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
