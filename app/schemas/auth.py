"""Request schemas of the auth blueprint."""

from typing import Annotated

from pydantic import BaseModel, StringConstraints
from spectree.model_adapter.pydantic_adapter import BaseFile

from app.schemas.common import AnyPassword, Email, LookupEmail, Name, Password, PatchModel, RequestModel
from app.schemas.users import UserOut


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


class ProfileIn(PatchModel):
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


class AvatarForm(BaseModel):
    """multipart/form-data with the image in `file` (PNG, JPEG, GIF or WebP; 5 MiB, 40 MP)."""

    file: BaseFile


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str


class CsrfOut(BaseModel):
    csrf_token: str
