"""Who is calling: the session cookie or a Bearer token, and CSRF for cookie requests.

A request with `Authorization: Bearer <token>` is authenticated by the token alone (a cookie
it may also carry is ignored), so it needs no CSRF token. A cookie-authenticated unsafe
request must carry X-CSRFToken, except the endpoints that create a session or a token from
credentials (DESIGN §4).
"""

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app, g, request, session
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf

from app.errors import Unauthorized
from app.extensions import csrf, db, login_manager
from app.models import ApiToken, User
from app.services import api_tokens
from app.services.presence import session_kind, token_kind

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A random name for each browser session, so signing out of one closes only its sockets.
SESSION_KEY = "session_key"
CSRF_EXEMPT_ENDPOINTS = frozenset({"auth.login", "auth.register", "auth.create_token"})


def _load_session_user(identity: str) -> User | None:
    user_id, _, version = identity.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


def _refuse_anonymous() -> None:
    raise Unauthorized()


def _forget_previous_request() -> None:
    # A request may run inside an app context pushed earlier (tests, scripts) whose g outlives
    # it; the caller's identity and CSRF token must never carry over from a previous request.
    for name in ("_login_user", "auth_method", current_app.config["WTF_CSRF_FIELD_NAME"]):
        g.pop(name, None)


def _authenticate_bearer() -> None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return
    # Flask-Login reads g._login_user before it looks at the session.
    g._login_user = api_tokens.user_for_token(secret.strip())
    g.auth_method = "token"


def _protect_csrf() -> None:
    if request.method in SAFE_METHODS or is_token_request():
        return
    if request.endpoint in CSRF_EXEMPT_ENDPOINTS:
        return
    if current_user.is_authenticated:
        csrf.protect()


def signed_in_user() -> User:
    """The real User behind current_user (services must not hold the request-bound proxy)."""
    return current_user._get_current_object()


def is_token_request() -> bool:
    """Whether this request was authenticated by a Bearer token."""
    return g.get("auth_method") == "token"


def start_session(user: User, *, remember: bool = False) -> str:
    """Sign the user in on a fresh session (nothing of the old one kept); returns its CSRF token."""
    session.clear()
    login_user(user)
    session.permanent = remember
    session[SESSION_KEY] = secrets.token_hex(8)
    return generate_csrf()


def renew_session(user: User) -> None:
    """Keep the current session valid after the user's session version moved."""
    if not is_token_request():
        login_user(user)


def current_session_key() -> str:
    """The name of the current browser session ("" for a token request)."""
    return "" if is_token_request() else session.get(SESSION_KEY, "")


def end_session() -> None:
    """Sign out of the current session."""
    logout_user()
    session.clear()


@dataclass(frozen=True)
class SocketIdentity:
    """Who opened a socket, and with what: checked again on every event."""

    user_id: int
    kind: str  # "session:<key>" or "token:<id>" (see services.presence)
    session_version: int
    token_id: int | None = None


def socket_identity(auth: object) -> tuple[User, SocketIdentity]:
    """Authenticate a socket: auth={"token": secret}, else the session cookie; 401 for anyone else."""
    if isinstance(auth, dict) and auth.get("token") is not None:
        token = api_tokens.token_for_secret(str(auth["token"]))
        user = token.user
        return user, SocketIdentity(user.id, token_kind(token.id), user.session_version, token.id)
    user = _load_session_user(str(session.get("_user_id", "")))
    if user is None:
        raise Unauthorized()
    return user, SocketIdentity(user.id, session_kind(session.get(SESSION_KEY, "")), user.session_version)


def socket_user(identity: SocketIdentity) -> User:
    """The socket's user, if what opened the socket is still valid; 401 session_ended if not."""
    if identity.token_id is None:
        user = db.session.get(User, identity.user_id)
        valid = user is not None and user.is_active and user.session_version == identity.session_version
    else:  # user and token in one query: this runs on every event
        query = sa.select(User).join(ApiToken, ApiToken.user_id == User.id)
        live = ApiToken.revoked_at.is_(None) & (ApiToken.id == identity.token_id)
        user = db.session.scalar(query.where(User.id == identity.user_id, live))
        valid = user is not None and user.is_active
    if not valid:
        raise Unauthorized("This connection's session has ended; sign in again.", code="session_ended")
    return user


def init_security(app: Flask) -> None:
    """Install the user loader and the per-request authentication and CSRF checks."""
    login_manager.user_loader(_load_session_user)
    login_manager.unauthorized_handler(_refuse_anonymous)
    app.before_request(_forget_previous_request)
    app.before_request(_authenticate_bearer)
    app.before_request(_protect_csrf)
