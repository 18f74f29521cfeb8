"""The HTML pages: server-rendered shells whose scripts talk to the REST API and /chat.

The server only decides who may see a page: anonymous visitors of a signed-in page are sent
to /login (and back afterwards), signed-in visitors of /login or /register to the chat, and
non-admins of an admin page get a 403 page. Everything on a page after that comes from the
public API, like any other client.

`/admin/users` and `/admin/rooms` are both admin pages and API endpoints (DESIGN §4 has
`GET /admin/users`): a request that prefers HTML (a browser navigating) gets the page, any
other the JSON.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, Literal

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.errors import Forbidden

bp = Blueprint("pages", __name__)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another host."""
    # Browsers read a backslash as a slash, so "/\\evil.example" would leave the site too.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.chat")
    return target


Access = Literal["anyone", "guest", "user", "admin"]


def page(*, access: Access = "user") -> Callable:
    """Guard an HTML page: "anyone", "guest" (signed-out only), "user" or "admin"."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(**kwargs: Any) -> ResponseReturnValue:
            g.html_page = True  # errors raised from here on render as an HTML page
            signed_in = current_user.is_authenticated
            if access == "guest" and signed_in:
                return redirect(_safe_next(request.args.get("next")))
            if access in ("user", "admin") and not signed_in:
                return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
            if access == "admin" and not current_user.is_admin:
                raise Forbidden("This page is for administrators.", code="admin_only")
            return view(**kwargs)

        return guarded

    return decorate


@bp.get("/")
@page()
def chat() -> ResponseReturnValue:
    """The chat: rooms, the conversation and its members."""
    return render_template("index.html")


@bp.get("/login")
@page(access="guest")
def login() -> ResponseReturnValue:
    """Sign in."""
    return render_template("auth/login.html", next_url=_safe_next(request.args.get("next")))


@bp.get("/register")
@page(access="guest")
def register() -> ResponseReturnValue:
    """Create an account."""
    return render_template("auth/register.html", next_url=_safe_next(request.args.get("next")))


@bp.get("/forgot")
@page(access="anyone")
def forgot_password() -> ResponseReturnValue:
    """Ask for a password reset link."""
    return render_template("auth/forgot.html")


@bp.get("/reset/<token>")
@page(access="anyone")
def reset_password(token: str) -> ResponseReturnValue:
    """Choose a new password with the link's token (the API checks the token)."""
    return render_template("auth/reset.html", token=token)


@bp.get("/profile")
@page()
def profile() -> ResponseReturnValue:
    """Name, password, avatar and API tokens."""
    return render_template("auth/profile.html")


@bp.get("/invite/<code>")
@page()
def invite(code: str) -> ResponseReturnValue:
    """Show the private room an invite opens, and join it."""
    return render_template("invite.html", code=code)


@bp.get("/admin")
@page(access="admin")
def admin_dashboard() -> ResponseReturnValue:
    """Counts and messages per day."""
    return render_template("admin/dashboard.html")


@page(access="admin")
def admin_rooms() -> ResponseReturnValue:
    """Close, reopen and delete rooms; see their members (served at /admin/rooms, see HTML_TWINS)."""
    return render_template("admin/rooms.html")


@bp.get("/admin/feedback")
@page(access="admin")
def admin_feedback() -> ResponseReturnValue:
    """Read and triage feedback."""
    return render_template("admin/feedback.html")


@page(access="admin")
def admin_users() -> ResponseReturnValue:
    """Search users, promote them, deactivate them (served at /admin/users, see HTML_TWINS)."""
    return render_template("admin/users.html")


# API endpoints that share their path with an admin page: the page each one stands for.
HTML_TWINS: dict[str, Callable[[], ResponseReturnValue]] = {
    "users.admin_list_users": admin_users,
    "admin.admin_list_rooms": admin_rooms,
}


@bp.before_app_request
def _serve_html_twin() -> ResponseReturnValue | None:
    twin = HTML_TWINS.get(request.endpoint or "")
    if twin is None or request.method != "GET":
        return None
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html":
        return None
    return twin()
