"""Turning request bodies into validated schema objects, or the right error."""

from typing import TypeVar

from flask import request
from pydantic import BaseModel
from werkzeug.routing import IntegerConverter

from app.errors import BadRequest, UnsupportedMediaType
from app.models.base import MAX_ID
from app.schemas.validation import parse_model

M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> M:
    """The request's JSON object validated by model; an empty body counts as {}."""
    # The media type is judged first: a form body may already have been read (by the CSRF
    # check), and must not then pass for an empty body.
    if request.mimetype and not request.is_json and request.content_length != 0:
        raise UnsupportedMediaType()
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


def query_params(model: type[M]) -> M:
    """The query string validated by model; a repeated key arrives as a list."""
    data = {key: values[0] if len(values) == 1 else values for key, values in request.args.lists()}
    return parse_model(model, data)


class IdConverter(IntegerConverter):
    """`<int:...>` in routes: digits that name a row id.

    Digits beyond what a database id can hold become 0, an id no row has, so the view answers
    its usual 404 (refusing the match instead would turn PATCH or DELETE into a 405).
    """

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= MAX_ID else 0
