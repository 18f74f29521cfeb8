"""Health, version and the public avatar files."""

from flask import Blueprint, render_template, send_from_directory
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from app import __version__
from app.errors import NotFound
from app.openapi import endpoint, openapi_document
from app.schemas.users import AVATAR_PATH
from app.services.avatars import AVATAR_NAME, avatar_folder
from app.services.health import health_report

bp = Blueprint("system", __name__)
TAGS = ["system"]


class HealthOut(BaseModel):
    status: str
    database: str
    message_queue: str


class VersionOut(BaseModel):
    version: str


@bp.get("/health")
@endpoint(access="anyone", responses={200: HealthOut, 503: HealthOut}, tags=TAGS)
def health() -> ResponseReturnValue:
    """Each dependency's status; 503 when one is down (the body names it)."""
    report, healthy = health_report()
    return report, 200 if healthy else 503


@bp.get("/version")
@endpoint(access="anyone", responses={200: VersionOut}, tags=TAGS)
def version() -> ResponseReturnValue:
    """The running Parley version."""
    return {"version": __version__}


@bp.get(f"{AVATAR_PATH}/<filename>")
@endpoint(access="anyone", responses={200: None}, errors=[404], tags=TAGS)
def avatar(filename: str) -> ResponseReturnValue:
    """An avatar file; only UUID7 WebP names inside the avatar folder are ever served."""
    if not AVATAR_NAME.fullmatch(filename):
        raise NotFound("No such avatar.", code="avatar_not_found")
    response = send_from_directory(avatar_folder(), filename, mimetype="image/webp", max_age=31536000)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/openapi.json")
@endpoint(access="anyone", responses={200: None}, tags=TAGS)
def openapi_json() -> ResponseReturnValue:
    """This API's OpenAPI 3.1 description."""
    return openapi_document()


@bp.get("/docs")
@endpoint(access="anyone", responses={200: None}, tags=TAGS)
def docs() -> ResponseReturnValue:
    """The API reference as a page, rendered from the OpenAPI description."""
    return render_template("docs.html", spec=openapi_document())
