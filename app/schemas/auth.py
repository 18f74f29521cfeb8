"""Request schemas of the auth blueprint."""

from typing import Annotated

from pydantic import StringConstraints

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
    name: Name | None = None
    password: Password | None = None
    current_password: AnyPassword | None = None


class TokenCreateIn(RequestModel):
    email: LookupEmail
    password: AnyPassword
    name: Name


class PasswordForgotIn(RequestModel):
    email: LookupEmail


class PasswordResetIn(RequestModel):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    password: Password
