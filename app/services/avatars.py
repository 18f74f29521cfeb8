"""Avatars: any PNG, JPEG, GIF or WebP in; a WebP of at most 512 px a side out, named by UUID7.

The upload is decoded and re-encoded, never stored as sent: EXIF and other metadata are gone,
animations keep their first frame, and the pixel count is checked from the header before
anything is decoded, so a small file that claims huge dimensions is refused cheaply.
"""

import io
import logging
import os
import re
from pathlib import Path

import uuid6
from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from app.errors import PayloadTooLarge, ValidationFailed
from app.extensions import db
from app.models import User

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
MAX_SIDE = 512
WEBP_QUALITY = 85
AVATAR_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.webp")


def avatar_folder() -> Path:
    """The folder avatars are written to and served from."""
    return Path(current_app.config["UPLOAD_FOLDER"]) / "avatars"


def _not_an_image(why: str = "not a PNG, JPEG, GIF or WebP image") -> ValidationFailed:
    return ValidationFailed("The file is not an image we accept.", code="not_an_image", fields={"file": why})


def _read_limited(upload: FileStorage) -> bytes:
    limit = current_app.config["AVATAR_MAX_BYTES"]
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"The image is larger than {limit // (1024 * 1024)} MiB.",
            code="file_too_large",
            fields={"file": "too large"},
        )
    if not data:
        raise _not_an_image("the file is empty")
    return data


def _open_checked(data: bytes) -> Image.Image:
    max_pixels = current_app.config["AVATAR_MAX_PIXELS"]
    try:
        image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _not_an_image() from None
    width, height = image.size
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels)
    return image


def _too_many_pixels(max_pixels: int) -> ValidationFailed:
    return ValidationFailed(
        f"The image has more than {max_pixels // 1_000_000} megapixels.",
        code="image_too_large",
        fields={"file": "too many pixels"},
    )


def convert_to_webp(data: bytes) -> bytes:
    """Decode an uploaded image and return it as a metadata-free WebP thumbnail."""
    image = _open_checked(data)
    try:
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at a reduced scale: far less work
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image)
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="WEBP", quality=WEBP_QUALITY)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise _not_an_image("the image is damaged or truncated") from None
    return out.getvalue()


def _write_atomically(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    partial = folder / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, path)
    return path


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        log.warning("could not remove old avatar %s", path, exc_info=True)


def save_avatar(user: User, upload: FileStorage) -> User:
    """Replace the user's avatar with the uploaded image; the old file is deleted."""
    webp = convert_to_webp(_read_limited(upload))
    folder = avatar_folder()
    new_path = _write_atomically(folder, f"{uuid6.uuid7()}.webp", webp)
    old_name = user.avatar
    user.avatar = new_path.name
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        _remove_quietly(new_path)
        raise
    if old_name and AVATAR_NAME.fullmatch(old_name):
        _remove_quietly(folder / old_name)
    return user
