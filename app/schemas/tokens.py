"""How API tokens are shown (never the secret, which is returned once at creation)."""

from datetime import datetime

from pydantic import BaseModel

from app.models import ApiToken


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str


class TokenListOut(BaseModel):
    tokens: list[TokenOut]


def serialize_token(token: ApiToken) -> dict:
    """A token without its secret."""
    return TokenOut.model_validate(token, from_attributes=True).model_dump(mode="json")
