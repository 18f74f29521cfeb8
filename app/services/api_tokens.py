"""Personal API tokens: created with credentials, shown once, stored as SHA-256."""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select

from app.errors import Forbidden, NotFound, Unauthorized
from app.extensions import db
from app.models import ApiToken, User, utcnow
from app.services import accounts, events
from app.services.presence import token_kind

TOKEN_PREFIX = "parley_"
# last_used_at is written at most this often per token, not on every request.
_TOUCH_INTERVAL = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(email: str, password: str, name: str) -> tuple[ApiToken, str]:
    """Check the credentials and issue a token; returns the row and the one-time secret."""
    user = accounts.authenticate(email, password)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=_digest(secret))
    db.session.add(token)
    db.session.commit()
    return token, secret


def list_tokens(user: User) -> list[ApiToken]:
    """The user's tokens that are not revoked, oldest first."""
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    return list(db.session.scalars(query.order_by(ApiToken.id)))


def revoke_token(user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens; any other id is 404."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise NotFound("No such token.", code="token_not_found")
    token.revoked_at = utcnow()
    events.queue_disconnect(user.id, "token_revoked", token_kind(token.id))
    db.session.commit()


def token_for_secret(secret: str) -> ApiToken:
    """The live token a Bearer secret names; 401 for unknown or revoked, 403 deactivated."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None or token.revoked_at is not None:
        raise Unauthorized("The API token is invalid or revoked.", code="invalid_token")
    if not token.user.is_active:
        raise Forbidden("This account is deactivated.", code="account_disabled")
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_INTERVAL:
        token.last_used_at = now
        db.session.commit()
    return token


def user_for_token(secret: str) -> User:
    """The active user a Bearer secret belongs to (see token_for_secret)."""
    return token_for_secret(secret).user
