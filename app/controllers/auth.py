"""/auth: accounts, sessions, profile, avatar, API tokens and password reset."""

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf

from app import rate_limits
from app.errors import UnsupportedMediaType, ValidationFailed
from app.models import User
from app.openapi import endpoint
from app.schemas.auth import (
    AvatarForm,
    CsrfOut,
    LoginIn,
    LogoutIn,
    PasswordForgotIn,
    PasswordResetIn,
    ProfileIn,
    RegisterIn,
    SessionOut,
    TokenCreateIn,
)
from app.schemas.common import OkOut
from app.schemas.tokens import TokenCreatedOut, TokenListOut, serialize_token
from app.schemas.users import UserEnvelope, serialize_user
from app.security import current_session_id, end_session, renew_session, signed_in_user, start_session
from app.services import accounts, api_tokens, avatars, presence, sessions

bp = Blueprint("auth", __name__, url_prefix="/auth")
TAGS = ["auth"]


def _own_user(user: User | None = None) -> dict:
    user = user or signed_in_user()
    return serialize_user(user, with_email=True, online=presence.is_online(user.id))


def _session_answer(user: User, csrf_token: str) -> dict:
    """What register, login and me answer: the user as they see themselves, and a CSRF token."""
    return {"user": _own_user(user), "csrf_token": csrf_token}


@bp.post("/register")
@endpoint(access="anyone", body=RegisterIn, responses={201: SessionOut}, errors=[409, 429], tags=TAGS)
@rate_limits.register
def register(body: RegisterIn) -> ResponseReturnValue:
    """Create an account and sign it in."""
    user = accounts.register(body.email, body.password, body.name)
    return _session_answer(user, start_session(user)), 201


@bp.post("/login")
@endpoint(access="anyone", body=LoginIn, responses={200: SessionOut}, errors=[401, 403, 429], tags=TAGS)
@rate_limits.sign_in
def login(body: LoginIn) -> ResponseReturnValue:
    """Sign in with email and password on a fresh session."""
    user = accounts.authenticate(body.email, body.password)
    return _session_answer(user, start_session(user, remember=body.remember))


@bp.post("/logout")
@endpoint(body=LogoutIn, responses={200: OkOut}, tags=TAGS)
def logout(body: LogoutIn) -> ResponseReturnValue:
    """End this session, or every session of the user with {"everywhere": true}."""
    sessions.sign_out(signed_in_user(), current_session_id(), everywhere=body.everywhere)
    end_session()
    return {"ok": True}


@bp.get("/me")
@endpoint(responses={200: SessionOut}, tags=TAGS)
def me() -> ResponseReturnValue:
    """The signed-in user and a CSRF token."""
    return _session_answer(signed_in_user(), generate_csrf())


@bp.get("/csrf")
@endpoint(access="anyone", responses={200: CsrfOut}, tags=TAGS)
def csrf_token() -> ResponseReturnValue:
    """A CSRF token for this session."""
    return {"csrf_token": generate_csrf()}


@bp.put("/profile")
@endpoint(body=ProfileIn, responses={200: UserEnvelope}, tags=TAGS)
def update_profile(body: ProfileIn) -> ResponseReturnValue:
    """Change name and/or password (a new password needs current_password)."""
    user = accounts.update_profile(
        signed_in_user(), name=body.name, password=body.password, current_password=body.current_password
    )
    if body.password is not None:
        renew_session(user)
    return {"user": _own_user()}


@bp.post("/profile/upload")
@endpoint(form=AvatarForm, responses={200: UserEnvelope}, errors=[413, 415, 422], tags=TAGS)
@rate_limits.accepts_upload
def upload_avatar() -> ResponseReturnValue:
    """Replace the avatar with the uploaded image (multipart field `file`)."""
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Send the image as multipart/form-data in the field `file`.")
    uploads = request.files.getlist("file")
    if not uploads:
        raise ValidationFailed(fields={"file": "no file was sent in the field `file`"})
    if len(uploads) > 1:  # which one was meant is a guess: refuse rather than pick
        raise ValidationFailed(fields={"file": "send one image, not several"})
    avatars.save_avatar(signed_in_user(), uploads[0])
    return {"user": _own_user()}


@bp.post("/tokens")
@endpoint(
    access="anyone", body=TokenCreateIn, responses={201: TokenCreatedOut}, errors=[401, 403, 429], tags=TAGS
)
@rate_limits.create_token
def create_token(body: TokenCreateIn) -> ResponseReturnValue:
    """Issue a personal API token for the given credentials; the secret is shown once."""
    token, secret = api_tokens.create_token(body.email, body.password, body.name)
    return {"token": secret, **serialize_token(token)}, 201


@bp.get("/tokens")
@endpoint(responses={200: TokenListOut}, tags=TAGS)
def list_tokens() -> ResponseReturnValue:
    """The caller's active tokens, without secrets."""
    return {"tokens": [serialize_token(token) for token in api_tokens.list_tokens(signed_in_user())]}


@bp.delete("/tokens/<int:token_id>")
@endpoint(responses={204: None}, errors=[404], tags=TAGS)
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of the caller's tokens."""
    api_tokens.revoke_token(signed_in_user(), token_id)
    return "", 204


@bp.post("/password/forgot")
@endpoint(access="anyone", body=PasswordForgotIn, responses={202: OkOut}, errors=[429], tags=TAGS)
@rate_limits.forgot_password
def forgot_password(body: PasswordForgotIn) -> ResponseReturnValue:
    """Mail a reset link; the same 202 whether or not the email exists."""
    accounts.request_password_reset(body.email)
    return {"ok": True}, 202


@bp.post("/password/reset")
@endpoint(access="anyone", body=PasswordResetIn, responses={200: OkOut}, errors=[429], tags=TAGS)
@rate_limits.reset_password
def reset_password(body: PasswordResetIn) -> ResponseReturnValue:
    """Set a new password from a mailed token."""
    accounts.reset_password(body.token, body.password)
    return {"ok": True}
