"""Request schemas of the auth blueprint."""

from typing import Annotated

from pydantic import StringConstraints, field_validator

from app.schemas.common import AnyPassword, Email, LookupEmail, Name, Password, RequestModel


class RegisterIn(RequestModel):
    email: Email
    password: Password
    name: Name


class LoginIn(RequestModel):
    email: LookupEmail
    password: AnyPassword
    remember: bool = False


class LogoutIn(RequestModel):
    everywhere: bool = False


class ProfileIn(RequestModel):
    """Every field is optional: leave it out to keep it. An explicit null is refused, not ignored."""

    name: Name | None = None
    password: Password | None = None
    current_password: AnyPassword | None = None

    @field_validator("name", "password", "current_password", mode="before")
    @classmethod
    def _refuse_null(cls, value: object) -> object:
        # Runs only for fields the client sent; defaults are not validated.
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value


class TokenCreateIn(RequestModel):
    email: LookupEmail
    password: AnyPassword
    name: Name


class PasswordForgotIn(RequestModel):
    email: LookupEmail


class PasswordResetIn(RequestModel):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    password: Password
