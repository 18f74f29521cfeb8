"""Turning request bodies into validated schema objects, or the right error."""

from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from app.errors import BadRequest, UnsupportedMediaType, ValidationFailed

M = TypeVar("M", bound=BaseModel)


def validation_fields(error: ValidationError) -> dict[str, str]:
    """Pydantic errors as {"field": "why"}, the first reason per field."""
    fields: dict[str, str] = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "body"
        reason = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        fields.setdefault(name, reason)
    return fields


def parse_model(model: type[M], data: object) -> M:
    """Validate data against a schema; 422 with fields when it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(fields=validation_fields(error)) from None


def json_body(model: type[M]) -> M:
    """The request's JSON object validated by model; an empty body counts as {}."""
    if not request.get_data(cache=True):
        data: object = {}
    elif not request.is_json:
        raise UnsupportedMediaType()
    else:
        data = request.get_json(silent=True)
        if data is None:
            raise BadRequest("The body is not valid JSON.", code="malformed_json")
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.", code="invalid_body")
    return parse_model(model, data)
