"""The OpenAPI description, generated from the same declarations that guard and parse requests.

Every view is wrapped by `endpoint(...)`, which names who may call it, the request body and
query schemas, and the responses. At run time the wrapper enforces the first and parses the
others; spectree reads the same declaration to describe the route. A route without it is
missing from /openapi.json, and tests/test_openapi.py fails.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import wraps
from typing import Any, Literal

from flask_login import current_user
from pydantic import BaseModel
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree

from app import __version__
from app.controllers.parsing import json_body, query_params
from app.errors import Forbidden, Unauthorized
from app.models.base import MAX_ID

Access = Literal["anyone", "user", "admin"]


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorOut(BaseModel):
    """The error envelope of DESIGN §4."""

    error: ErrorBody


spec = SpecTree(
    "flask",
    title="Parley API",
    version=__version__,
    description=(
        "JSON API of Parley. Sign in with the session cookie (browsers; unsafe requests then "
        "carry the X-CSRFToken header) or with `Authorization: Bearer <token>` (scripts). "
        "A Bearer token that is unknown or revoked is refused with 401 on every route, and the "
        "token of a deactivated account with 403. Any route answers 503 `database_unavailable` "
        "while the database is unreachable or has no free connection; retry later. "
        "Sign-in, sign-up, token creation, password reset and feedback are rate limited per "
        "address and per account: over a limit they answer 429 `rate_limited` with a "
        "Retry-After header (seconds). A request body over 64 KiB (the avatar upload: 5 MiB) is 413. "
        "Text fields other than passwords are trimmed of surrounding whitespace, and their "
        "minLength and maxLength count the characters that are left."
    ),
    mode="strict",
    validation_error_model=ErrorOut,
    # Plain model names: the schemas are unique across the app.
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    annotations=False,
    security_schemes=[
        SecurityScheme(
            name="session", data=SecuritySchemeData(type="apiKey", field_in="cookie", name="parley_session")
        ),
        SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer")),
    ],
)

_SIGNED_IN = [{"session": []}, {"bearer": []}]


def _require(access: Access) -> None:
    if access == "anyone":
        return
    if not current_user.is_authenticated:
        raise Unauthorized()
    if access == "admin" and not current_user.is_admin:
        raise Forbidden("Only admins may do that.", code="admin_only")


def _error_statuses(body: Any, query: Any, errors: Iterable[int]) -> set[int]:
    # Every route: 503 while the database is down or out of connections, and a Bearer token is
    # checked wherever one is sent: 401 unknown or revoked, 403 a deactivated account's. Routes
    # for the signed-in also answer 401 to nobody, and 403 without the CSRF token or to a non-admin.
    statuses = set(errors) | {401, 403, 503}
    if body is not None:
        statuses |= {400, 413, 415, 422}  # 413: a body over BODY_MAX_BYTES
    if query is not None:
        statuses.add(422)
    return statuses


# The statuses each operation declares; spectree adds a 422 to every operation, which
# openapi_document() removes where the view cannot answer it.
_declared_statuses: dict[str, set[str]] = {}
# The views whose JSON body may be left out: an empty body counts as {}, which they accept.
_optional_bodies: set[str] = set()


def _responses(responses: Mapping[int, type[BaseModel] | None], errors: set[int]) -> Response:
    models: dict[str, Any] = {f"HTTP_{status}": model for status, model in responses.items()}
    models.update({f"HTTP_{status}": ErrorOut for status in errors if status not in responses})
    return Response(**models)


def endpoint(
    *,
    access: Access = "user",
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    responses: Mapping[int, type[BaseModel] | None],
    errors: Iterable[int] = (),
    tags: Sequence[str] = (),
) -> Callable:
    """Guard, parse and describe a view: it gets `body=` and `params=` already validated.

    `form` only describes a multipart body, which the view reads itself (file uploads).
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(**kwargs: Any) -> Any:
            _require(access)
            if body is not None:
                kwargs["body"] = json_body(body)
            if query is not None:
                kwargs["params"] = query_params(query)
            return view(**kwargs)

        statuses = _error_statuses(body or form, query, errors)
        _declared_statuses[view.__name__] = {str(status) for status in (*responses, *statuses)}
        if body is not None and not any(field.is_required() for field in body.model_fields.values()):
            _optional_bodies.add(view.__name__)
        description = spec.validate(
            json=body,
            query=query,
            form=form,
            resp=_responses(responses, statuses),
            tags=tags,
            operation_id=view.__name__,
            security=_SIGNED_IN if access != "anyone" else [],
            skip_validation=True,
        )(view)
        # spectree finds the description along __wrapped__; requests never pass through its
        # wrapper, which would re-read every response body (and break file responses).
        guarded.__wrapped__ = description
        return guarded

    return decorate


def openapi_document() -> dict:
    """The OpenAPI 3.1 description of every route of the current app."""
    document = spec.spec
    for operations in document["paths"].values():
        for operation in operations.values():
            declared = _declared_statuses[operation["operationId"]]
            if operation["operationId"] in _optional_bodies:
                operation["requestBody"]["required"] = False
            operation["responses"] = {
                status: answer for status, answer in operation["responses"].items() if status in declared
            }
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"] = {
                        "type": "integer",
                        "format": "int64",
                        "minimum": 1,
                        "maximum": MAX_ID,
                    }
    return document
