"""Accounts: registration, sign-in checks, profile, password change and reset, admins."""

import hashlib
import logging

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from app.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from app.extensions import db
from app.models import User, utcnow
from app.schemas.auth import RegisterIn
from app.schemas.validation import parse_model
from app.services import mailer, sessions
from app.services.passwords import hash_password, spend_verify_time, verify_password

log = logging.getLogger(__name__)

_RESET_SALT = "parley.password-reset"


def _rounds() -> int:
    return current_app.config["BCRYPT_ROUNDS"]


def find_user_by_email(email: str) -> User | None:
    """The user with this (lower-case) email, or None."""
    return db.session.scalar(select(User).where(User.email == email.lower()))


def _email_taken() -> Conflict:
    return Conflict(
        "That email is registered already.", code="email_taken", fields={"email": "already registered"}
    )


def create_user(email: str, password: str, name: str, role: str = "member") -> User:
    """Create a user; 409 email_taken when the email is registered already."""
    user = User(email=email.lower(), password_hash=hash_password(password, _rounds()), name=name, role=role)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _email_taken() from None
    return user


def register(email: str, password: str, name: str) -> User:
    """Sign up a new member."""
    if find_user_by_email(email) is not None:  # skip the bcrypt work for the common case
        raise _email_taken()
    return create_user(email, password, name)


def authenticate(email: str, password: str) -> User:
    """The user these credentials belong to; one 401 for unknown email and wrong password alike."""
    user = find_user_by_email(email)
    if user is None:
        spend_verify_time(password, _rounds())
        raise Unauthorized("Email or password is wrong.", code="invalid_credentials")
    if not verify_password(password, user.password_hash):
        raise Unauthorized("Email or password is wrong.", code="invalid_credentials")
    if not user.is_active:
        raise Forbidden("This account is deactivated.", code="account_disabled")
    user.last_seen_at = utcnow()
    db.session.commit()
    return user


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password, _rounds())
    sessions.revoke_all(user, "password_changed")


def update_profile(
    user: User, *, name: str | None = None, password: str | None = None, current_password: str | None = None
) -> User:
    """Change name and/or password; a new password needs the current one and ends other sessions."""
    if password is not None:
        if current_password is None:
            raise ValidationFailed(fields={"current_password": "required to set a new password"})
        if not verify_password(current_password, user.password_hash):
            raise ValidationFailed(
                "The current password is wrong.", fields={"current_password": "does not match"}
            )
        _set_password(user, password)
    if name is not None:
        user.name = name
    db.session.commit()
    return user


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_RESET_SALT)


def _reset_fingerprint(user: User) -> str:
    # Changes as soon as the password (or session version) does, which makes a token one-time.
    return hashlib.sha256(f"{user.password_hash}:{user.session_version}".encode()).hexdigest()[:32]


def request_password_reset(email: str) -> None:
    """Mail a one-time, expiring reset link if an active account has this email; silent otherwise."""
    user = find_user_by_email(email)
    if user is None or not user.is_active:
        log.info("password reset asked for an unknown or inactive email")
        return
    token = _reset_serializer().dumps({"uid": user.id, "fp": _reset_fingerprint(user)})
    link = f"{current_app.config['PUBLIC_URL']}/reset/{token}"
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE"] // 60
    mailer.send_mail(
        subject="Reset your Parley password",
        recipients=[user.email],
        body=(
            f"Hello {user.name},\n\nSomeone asked to reset the password of your Parley account.\n"
            f"Open this link within {minutes} minutes to choose a new one:\n\n{link}\n\n"
            "If it was not you, ignore this mail; your password stays as it is.\n"
        ),
    )


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset token; ends every session; the token works once."""
    invalid = ValidationFailed(
        "The reset link is invalid or has expired.",
        code="invalid_reset_token",
        fields={"token": "invalid or expired"},
    )
    try:
        payload = _reset_serializer().loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except BadSignature:
        raise invalid from None
    user = db.session.get(User, payload.get("uid")) if isinstance(payload, dict) else None
    if user is None or not user.is_active or payload.get("fp") != _reset_fingerprint(user):
        raise invalid
    _set_password(user, password)
    db.session.commit()
    return user


def ensure_admin(email: str, password: str | None, name: str) -> tuple[User, bool]:
    """Create an admin, or promote (and reactivate) the existing account; returns (user, created)."""
    user = find_user_by_email(email)
    if user is not None:
        # An admin who cannot sign in is no admin: promoting also lifts a deactivation.
        user.role = "admin"
        user.is_active = True
        db.session.commit()
        return user, False
    if not password:
        raise ValidationFailed(fields={"password": "required to create an admin"})
    return create_user(email, password, name, role="admin"), True


def ensure_configured_admin() -> User | None:
    """Make sure ADMIN_EMAIL exists as an admin when ADMIN_EMAIL and ADMIN_PASSWORD are both set."""
    email, password = current_app.config.get("ADMIN_EMAIL"), current_app.config.get("ADMIN_PASSWORD")
    if not (email and password):
        return None
    try:
        wanted = parse_model(
            RegisterIn, {"email": email, "password": password, "name": email.split("@")[0][:64]}
        )
        user, created = ensure_admin(wanted.email, wanted.password, wanted.name)
    except ValidationFailed as error:
        log.error("ADMIN_EMAIL / ADMIN_PASSWORD are not valid, no admin ensured: %s", error.fields)
        return None
    except (OperationalError, ProgrammingError):
        db.session.rollback()
        log.warning("ADMIN_EMAIL is set but the database has no tables yet; run `flask db upgrade`")
        return None
    if created:
        log.info("created admin %s from ADMIN_EMAIL", user.email)
    return user
