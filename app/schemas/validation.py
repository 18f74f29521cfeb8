"""Validating data against a schema, with errors in the envelope's {"field": "why"} form."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from app.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def validation_fields(error: ValidationError) -> dict[str, str]:
    """Pydantic errors as {"field": "why"}, the first reason per field."""
    fields: dict[str, str] = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "body"
        reason = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        # Our own validators' messages are sentences already; pydantic prefixes them.
        reason = reason.removeprefix("Value error, ")
        fields.setdefault(name, reason)
    return fields


def parse_model(model: type[M], data: object) -> M:
    """Validate data against a schema; 422 with fields when it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(fields=validation_fields(error)) from None
