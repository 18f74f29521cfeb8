"""Health, version and the public avatar files."""

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue

from app import __version__
from app.errors import NotFound
from app.services.avatars import AVATAR_NAME, avatar_folder
from app.services.health import health_report

bp = Blueprint("system", __name__)


@bp.get("/health")
def health() -> ResponseReturnValue:
    """Each dependency's status; 503 when one is down (the body names it)."""
    report, healthy = health_report()
    return report, 200 if healthy else 503


@bp.get("/version")
def version() -> ResponseReturnValue:
    """The running Parley version."""
    return {"version": __version__}


@bp.get("/uploads/avatars/<filename>")
def avatar(filename: str) -> ResponseReturnValue:
    """An avatar file; only UUID7 WebP names inside the avatar folder are ever served."""
    if not AVATAR_NAME.fullmatch(filename):
        raise NotFound("No such avatar.", code="avatar_not_found")
    response = send_from_directory(avatar_folder(), filename, mimetype="image/webp", max_age=31536000)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
