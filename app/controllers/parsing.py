"""Turning request bodies into validated schema objects, or the right error."""

from typing import TypeVar

from flask import request
from pydantic import BaseModel

from app.errors import BadRequest, UnsupportedMediaType
from app.schemas.validation import parse_model

M = TypeVar("M", bound=BaseModel)


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
