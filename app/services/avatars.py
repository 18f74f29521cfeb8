"""Avatars: any PNG, JPEG, GIF or WebP in; a WebP of at most 512 px a side out, named by UUID7.

The upload is decoded and re-encoded, never stored as sent: EXIF, ICC, XMP and comments are
gone (the EXIF orientation is applied first), animations keep their first frame, and the pixel
count is checked from the header before anything is decoded, so a small file that claims huge
dimensions is refused cheaply. Only Pillow's PNG, JPEG, GIF and WebP decoders are ever tried:
BMP, TIFF, ICO, PSD, EPS (Ghostscript) and the rest are refused like any other non-image.
"""

import io
import logging
import os
import re
import struct
from pathlib import Path

import uuid6
from flask import current_app
from PIL import ExifTags, Image, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from app.errors import PayloadTooLarge, ValidationFailed
from app.extensions import db
from app.models import User

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = ("GIF", "JPEG", "PNG", "WEBP")
MAX_SIDE = 512
WEBP_QUALITY = 85
AVATAR_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.webp")
# What Pillow's plugins raise on malformed input; Image.open itself only catches some of them.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError, struct.error)
# Pillow's own bomb guard: the warning is an exception when warnings are errors (python -W error).
DECOMPRESSION_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)
# Modes that resize well as they are, so a big picture is shrunk before any full-size copy is made.
RESIZABLE_MODES = {"L", "LA", "RGB", "RGBA", "CMYK"}
# EXIF Orientation value -> the turn that shows the picture upright (as ImageOps.exif_transpose).
ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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
    """Open the upload with the accepted decoders only and refuse it on its header's pixel count."""
    max_pixels = current_app.config["AVATAR_MAX_PIXELS"]
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except DECOMPRESSION_BOMB:
        raise _too_many_pixels(max_pixels) from None
    except (UnidentifiedImageError, *DECODE_ERRORS):
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


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The turn the EXIF (or XMP) orientation asks for; unreadable metadata asks for none."""
    try:
        return ORIENTATIONS.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    except DECODE_ERRORS:
        # Broken EXIF beside good pixels: show the picture as stored rather than refuse it.
        return None


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _resizable(image: Image.Image) -> Image.Image:
    """The decoded frame in a mode that resizes smoothly (palette and 1-bit ones only do nearest)."""
    if image.mode.startswith("I"):
        # 16-bit greyscale PNG: scale to 8 bits, where a plain convert would clip it to white.
        image = image.point(lambda value: value / 256).convert("L")
        image.info.pop("transparency", None)  # a 16-bit transparent value means nothing in 8 bits
    if image.mode in RESIZABLE_MODES and "transparency" not in image.info:
        return image
    return image.convert("RGBA" if _has_alpha(image) else "RGB")


def _decode_thumbnail(image: Image.Image) -> Image.Image:
    """The first frame, upright, at most MAX_SIDE a side, in RGB or RGBA, with no metadata."""
    image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at a reduced scale: far less work
    image.load()  # the first frame only: an animation's other frames are never decoded
    orientation = _orientation(image)
    image = _resizable(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    if orientation is not None:
        image = image.transpose(orientation)  # on the thumbnail: turning the full size costs a copy
    # A fresh image carries pixels only: EXIF, ICC, XMP and comments stay behind in the old .info.
    clean = Image.new("RGBA" if _has_alpha(image) else "RGB", image.size)
    clean.paste(image.convert(clean.mode))
    return clean


def convert_to_webp(data: bytes) -> bytes:
    """Decode an uploaded image and return it as a metadata-free WebP thumbnail."""
    image = _open_checked(data)
    try:
        thumbnail = _decode_thumbnail(image)
    except DECOMPRESSION_BOMB:
        raise _too_many_pixels(current_app.config["AVATAR_MAX_PIXELS"]) from None
    except DECODE_ERRORS:
        raise _not_an_image("the image is damaged or truncated") from None
    finally:
        image.close()
    out = io.BytesIO()
    thumbnail.save(out, format="WEBP", quality=WEBP_QUALITY)
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
