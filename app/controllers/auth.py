"""/auth: accounts, sessions, profile, avatar, API tokens and password reset."""

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from flask_login import login_required
from flask_wtf.csrf import generate_csrf

from app.controllers.parsing import json_body
from app.errors import UnsupportedMediaType, ValidationFailed
from app.models import User
from app.schemas.auth import (
    LoginIn,
    LogoutIn,
    PasswordForgotIn,
    PasswordResetIn,
    ProfileIn,
    RegisterIn,
    TokenCreateIn,
)
from app.schemas.tokens import serialize_token
from app.schemas.users import serialize_user
from app.security import end_session, renew_session, signed_in_user, start_session
from app.services import accounts, api_tokens, avatars

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _own_user() -> dict:
    return serialize_user(signed_in_user(), with_email=True)


def _session_answer(user: User, csrf_token: str) -> dict:
    """What register, login and me answer: the user as they see themselves, and a CSRF token."""
    return {"user": serialize_user(user, with_email=True), "csrf_token": csrf_token}


@bp.post("/register")
def register() -> ResponseReturnValue:
    """Create an account and sign it in."""
    body = json_body(RegisterIn)
    user = accounts.register(body.email, body.password, body.name)
    return _session_answer(user, start_session(user)), 201


@bp.post("/login")
def login() -> ResponseReturnValue:
    """Sign in with email and password on a fresh session."""
    body = json_body(LoginIn)
    user = accounts.authenticate(body.email, body.password)
    return _session_answer(user, start_session(user, remember=body.remember))


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    """End this session, or every session of the user with {"everywhere": true}."""
    body = json_body(LogoutIn)
    if body.everywhere:
        accounts.end_all_sessions(signed_in_user())
    end_session()
    return {"ok": True}


@bp.get("/me")
@login_required
def me() -> ResponseReturnValue:
    """The signed-in user and a CSRF token."""
    return _session_answer(signed_in_user(), generate_csrf())


@bp.get("/csrf")
def csrf_token() -> ResponseReturnValue:
    """A CSRF token for this session."""
    return {"csrf_token": generate_csrf()}


@bp.put("/profile")
@login_required
def update_profile() -> ResponseReturnValue:
    """Change name and/or password (a new password needs current_password)."""
    body = json_body(ProfileIn)
    user = accounts.update_profile(
        signed_in_user(), name=body.name, password=body.password, current_password=body.current_password
    )
    if body.password is not None:
        renew_session(user)
    return {"user": _own_user()}


@bp.post("/profile/upload")
@login_required
def upload_avatar() -> ResponseReturnValue:
    """Replace the avatar with the uploaded image (multipart field `file`)."""
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Send the image as multipart/form-data in the field `file`.")
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(fields={"file": "no file was sent in the field `file`"})
    avatars.save_avatar(signed_in_user(), upload)
    return {"user": _own_user()}


@bp.post("/tokens")
def create_token() -> ResponseReturnValue:
    """Issue a personal API token for the given credentials; the secret is shown once."""
    body = json_body(TokenCreateIn)
    token, secret = api_tokens.create_token(body.email, body.password, body.name)
    return {"token": secret, **serialize_token(token)}, 201


@bp.get("/tokens")
@login_required
def list_tokens() -> ResponseReturnValue:
    """The caller's active tokens, without secrets."""
    return {"tokens": [serialize_token(token) for token in api_tokens.list_tokens(signed_in_user())]}


@bp.delete("/tokens/<int:token_id>")
@login_required
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of the caller's tokens."""
    api_tokens.revoke_token(signed_in_user(), token_id)
    return "", 204


@bp.post("/password/forgot")
def forgot_password() -> ResponseReturnValue:
    """Mail a reset link; the same 202 whether or not the email exists."""
    body = json_body(PasswordForgotIn)
    accounts.request_password_reset(body.email)
    return {"ok": True}, 202


@bp.post("/password/reset")
def reset_password() -> ResponseReturnValue:
    """Set a new password from a mailed token."""
    body = json_body(PasswordResetIn)
    accounts.reset_password(body.token, body.password)
    return {"ok": True}
