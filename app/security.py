"""Who is calling: the session cookie or a Bearer token, and CSRF for cookie requests.

A request with `Authorization: Bearer <token>` is authenticated by the token alone (a cookie
it may also carry is ignored), so it needs no CSRF token. A cookie-authenticated unsafe
request must carry X-CSRFToken, except the endpoints that create a session or a token from
credentials (DESIGN §4).

A cookie signs in only while its session lives on the server (services/sessions): Flask's
signed cookie holds `_user_id` ("<user id>:<session version>") and a random secret whose
SHA-256 names the user_sessions row, so a copy of a cookie that was signed out is worthless.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app, g, request, session
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf

from app.errors import BadRequest, Unauthorized
from app.extensions import csrf, db, login_manager
from app.models import ApiToken, User
from app.services import api_tokens, sessions
from app.services.presence import session_kind, token_kind

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The cookie's secret for its server-side session (services/sessions); never stored as such.
SESSION_KEY = "session_key"
CSRF_EXEMPT_ENDPOINTS = frozenset({"auth.login", "auth.register", "auth.create_token"})


def _cookie_session_id() -> str:
    """The id of the server-side session the cookie names ("" when it names none)."""
    secret = session.get(SESSION_KEY)
    return sessions.id_for_secret(secret) if isinstance(secret, str) and secret else ""


def _load_session_user(identity: str) -> User | None:
    user_id, _, version = identity.partition(":")
    session_id = _cookie_session_id()
    if not (user_id.isdigit() and version.isdigit() and session_id):
        return None
    return sessions.session_user(int(user_id), int(version), session_id)


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
        if None in request.form:
            # A multipart part whose header could not be parsed has no name; Flask-WTF, which
            # looks for the token among the form's names before the header, would crash on it.
            raise BadRequest("The multipart body could not be read.", code="malformed_body")
        csrf.protect()


def signed_in_user() -> User:
    """The real User behind current_user (services must not hold the request-bound proxy)."""
    return current_user._get_current_object()


def is_token_request() -> bool:
    """Whether this request was authenticated by a Bearer token."""
    return g.get("auth_method") == "token"


def _open_server_session(user: User, replacing: str) -> None:
    agent, ip = request.headers.get("User-Agent"), request.remote_addr
    session[SESSION_KEY] = sessions.open_session(user, replacing=replacing, user_agent=agent, ip=ip)
    login_user(user)


def start_session(user: User, *, remember: bool = False) -> str:
    """Sign the user in on a fresh session (nothing of the old one kept); returns its CSRF token."""
    previous = _cookie_session_id()
    session.clear()  # no fixation: whatever the cookie held before, it is not what signs in
    _open_server_session(user, replacing=previous)
    session.permanent = remember
    return generate_csrf()


def renew_session(user: User) -> None:
    """After a password change ended every session: keep this browser signed in, on a new secret.

    A copy of this browser's old cookie stays ended, like every other session's; the CSRF
    token and the remember-me choice carry over.
    """
    if not is_token_request():
        _open_server_session(user, replacing=_cookie_session_id())


def current_session_id() -> str:
    """The id of the current browser session ("" for a token request)."""
    return "" if is_token_request() else _cookie_session_id()


def end_session() -> None:
    """Forget the signed-in user in this browser (the server-side session is ended by the service)."""
    logout_user()
    session.clear()


@dataclass(frozen=True)
class SocketIdentity:
    """Who opened a socket, and with what: checked again on every event."""

    user_id: int
    kind: str  # "session:<session id>" or "token:<id>;" (see services.presence)
    session_version: int
    token_id: int | None = None
    session_id: str = ""  # the server-side session of a cookie socket


def socket_identity(auth: object) -> tuple[User, SocketIdentity]:
    """Authenticate a socket: auth={"token": secret}, else the session cookie; 401 for anyone else."""
    if isinstance(auth, dict) and auth.get("token") is not None:
        token = api_tokens.token_for_secret(str(auth["token"]))
        user = token.user
        return user, SocketIdentity(user.id, token_kind(token.id), user.session_version, token.id)
    user = _load_session_user(str(session.get("_user_id", "")))
    if user is None:
        raise Unauthorized()
    session_id = _cookie_session_id()
    identity = SocketIdentity(user.id, session_kind(session_id), user.session_version, session_id=session_id)
    return user, identity


def socket_user(identity: SocketIdentity) -> User:
    """The socket's user, if what opened the socket is still valid; 401 session_ended if not."""
    if identity.token_id is None:
        user = sessions.session_user(identity.user_id, identity.session_version, identity.session_id)
        valid = user is not None
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
