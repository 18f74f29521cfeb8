"""The one error hierarchy and the JSON envelope every API error is rendered in.

    {"error": {"code": "snake_case", "message": "human sentence", "fields": {"field": "why"}}}

Views and services raise ApiError subclasses; the handlers below render them, and turn
Flask's own HTTP errors (404, 405, 413, malformed JSON, CSRF) into the same envelope.
"""

import logging

from flask import Flask, Response, g, jsonify, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Base of every error an API client may see."""

    status = 500
    code = "internal_error"
    message = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.fields = fields
        self.headers = headers or {}

    def to_dict(self) -> dict:
        """The envelope body."""
        body: dict = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


class BadRequest(ApiError):
    status, code, message = 400, "bad_request", "The request body could not be read."


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "Sign in to do that."


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "You are not allowed to do that."


class NotFound(ApiError):
    status, code, message = 404, "not_found", "Not found."


class MethodNotAllowed(ApiError):
    status, code, message = 405, "method_not_allowed", "That method is not allowed here."


class Conflict(ApiError):
    status, code, message = 409, "conflict", "That conflicts with what exists."


class PayloadTooLarge(ApiError):
    status, code, message = 413, "payload_too_large", "The request body is too large."


class UnsupportedMediaType(ApiError):
    status, code, message = 415, "unsupported_media_type", "Send the body as application/json."


class ValidationFailed(ApiError):
    status, code, message = 422, "validation_failed", "Some fields are not valid."


class RateLimited(ApiError):
    status, code, message = 429, "rate_limited", "Too many requests; try again later."


class ServiceUnavailable(ApiError):
    status, code, message = 503, "service_unavailable", "A service we depend on is down."


# The database is down, or every pooled connection is busy: the client should retry later.
DATABASE_UNAVAILABLE = (OperationalError, PoolTimeout)


def database_unavailable(error: Exception) -> ServiceUnavailable:
    """The 503 for a database that cannot be reached; logged in one line, not a traceback each."""
    log.warning("database unavailable: %s", str(error).splitlines()[0][:200])
    message = "The database is unreachable or busy; try again shortly."
    return ServiceUnavailable(message, code="database_unavailable")


def message_queue_unavailable(error: Exception) -> ServiceUnavailable:
    """The 503 for live features that need Redis while it cannot be reached."""
    log.warning("message queue unavailable: %s", error)
    message = "Live updates are unavailable right now; try again shortly."
    return ServiceUnavailable(message, code="message_queue_unavailable")


# Flask/Werkzeug's own errors, mapped onto ours so they render the same way.
_HTTP_ERRORS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        ValidationFailed,
        RateLimited,
        ServiceUnavailable,
    )
}


def render_api_error(error: ApiError) -> Response:
    """Render an ApiError as the JSON envelope (or, for an HTML page, an error page)."""
    if g.get("html_page"):
        response = Response(render_template("error.html", error=error), mimetype="text/html")
    else:
        response = jsonify(error.to_dict())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _render_http_exception(error: HTTPException) -> Response:
    if error.response is not None:  # already the envelope: app/rate_limits.py's 429 with Retry-After
        return error.response  # type: ignore[return-value]
    api_error_class = _HTTP_ERRORS.get(error.code or 500, ApiError)
    api_error = api_error_class()
    if isinstance(error, CSRFError):
        api_error = Forbidden("The CSRF token is missing or invalid; send X-CSRFToken.", code="csrf_failed")
    response = render_api_error(api_error)
    # Keep what the exception says in headers (Allow on 405, Retry-After on 429).
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _render_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    return render_api_error(ApiError())


def register_error_handlers(app: Flask) -> None:
    """Install the handlers that render every error as the JSON envelope."""
    app.register_error_handler(ApiError, render_api_error)
    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, lambda error: render_api_error(database_unavailable(error)))
    app.register_error_handler(HTTPException, _render_http_exception)
    app.register_error_handler(Exception, _render_unexpected)
