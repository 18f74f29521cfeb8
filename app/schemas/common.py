"""Field types and the base model shared by request schemas."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, StringConstraints


class RequestModel(BaseModel):
    """Request bodies: unknown fields are refused so that a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


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
