"""Turning request bodies into validated schema objects, or the right error."""

from typing import TypeVar

from flask import request
from pydantic import BaseModel
from werkzeug.routing import IntegerConverter, Map

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
    """`<int:...>` in routes: a positive id that fits the database, so a huge one is 404, not 500."""

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int = 1, max: int = MAX_ID) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max)
