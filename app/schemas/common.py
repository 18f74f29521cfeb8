"""Field types and the base model shared by request schemas."""

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from app.models.base import MAX_ID


class RequestModel(BaseModel):
    """Request bodies: unknown fields are refused so that a typo is an error, not a no-op."""

    # strict: JSON has real booleans and numbers, so "no" is not quietly read as False.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)


class PatchModel(RequestModel):
    """A partial update: leave a field out to keep it; an explicit null is refused, not ignored."""

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: object) -> object:
        # Runs only for the fields the client sent; defaults are not validated.
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value


class OkOut(BaseModel):
    ok: bool


class QueryModel(BaseModel):
    """Query strings: unknown parameters are ignored (cache busters and the like)."""

    model_config = ConfigDict(extra="ignore")


class PageQuery(QueryModel):
    """Numbered pages for admin tables."""

    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=100)


def _lower(value: str) -> str:
    return value.lower()


# Emails are compared and stored lower-case.
Email = Annotated[EmailStr, StringConstraints(max_length=254), AfterValidator(_lower)]
# A login or lookup email is not format-checked: an odd value simply matches nobody.
LookupEmail = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254, to_lower=True)
]
# Passwords are never trimmed or truncated (DESIGN §4: 12..128 characters).
Password = Annotated[str, StringConstraints(min_length=12, max_length=128)]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
RoomName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
# Message text: 1..4000 characters once surrounding whitespace is trimmed (DESIGN §4).
Content = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
# A client-chosen idempotency key: printable ASCII without spaces (UUIDs, ULIDs, counters).
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[!-~]+$")]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
