"""POST /auth/profile/upload and GET /uploads/avatars/<name>: real images built with Pillow,
real files in the test's upload folder, the real database.
"""

import io
import os
import re
import struct
import uuid
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa
import uuid6
from flask import Flask
from PIL import Image

from app.extensions import db
from app.models import User
from tests.conftest import Session, assert_error, sign_in
from tests.factories import PASSWORD, make_user

UPLOAD_URL = "/auth/profile/upload"
AVATAR_URL = re.compile(r"/uploads/avatars/([0-9a-f-]{36}\.webp)")
FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]
MIB = 1024 * 1024
# Chunks a plain (lossy or lossless, maybe transparent) still WebP may hold: no EXIF, XMP, ICCP, ANIM.
PIXEL_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
RED, BLUE = (220, 20, 20), (20, 20, 220)


# --- building images -------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    """The image saved in fmt, as bytes."""
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def two_colour(size: tuple[int, int], left=RED, right=BLUE) -> Image.Image:
    """An RGB image, left half one colour and right half another."""
    image = Image.new("RGB", size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def noise(size: tuple[int, int] = (160, 120)) -> Image.Image:
    """Random pixels: compresses badly, so half the file really is half the picture."""
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    return encode(two_colour(size), fmt)


def png_claiming_size(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR (CRC fixed) claims width x height."""
    data = bytearray(image_bytes("PNG", (1, 1)))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def gif_claiming_size(width: int, height: int) -> bytes:
    """A 1x1 GIF whose logical screen claims width x height."""
    data = bytearray(image_bytes("GIF", (1, 1)))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def big_single_colour_png() -> bytes:
    """A real 8000 x 6000 (48 megapixel) PNG; one bit per pixel and one colour keep it tiny."""
    return encode(Image.new("1", (8000, 6000), 1), "PNG")


def webp_chunks(data: bytes) -> list[bytes]:
    """The four-character codes of a WebP file's RIFF chunks."""
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.append(data[pos : pos + 4])
        pos += 8 + size + (size & 1)
    return chunks


def close_to(pixel, colour, slack: int = 40) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(pixel[:3], colour, strict=True))


# --- talking to the app ----------------------------------------------------------------------


def upload(session: Session, data: bytes, filename: str = "avatar.png"):
    """POST the bytes as the multipart field `file` with the session's CSRF header."""
    return session.post(UPLOAD_URL, data={"file": (io.BytesIO(data), filename)})


def avatar_name(response) -> str:
    """The stored file name from an upload response's avatar_url."""
    match = AVATAR_URL.fullmatch(response.get_json()["user"]["avatar_url"] or "")
    assert match, response.get_json()
    return match.group(1)


def stored_avatar(user_id: int) -> str | None:
    """users.avatar as committed, read on a connection of its own (not the test's session)."""
    with db.engine.connect() as connection:
        return connection.execute(sa.select(User.avatar).where(User.id == user_id)).scalar_one()


def files_in(folder: Path) -> set[str]:
    """Every entry in folder, hidden partial files included."""
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def avatar_dir(app: Flask) -> Path:
    return Path(app.config["UPLOAD_FOLDER"]) / "avatars"


@pytest.fixture
def existing_avatar(member_session: Session, avatar_dir: Path) -> str:
    """The member has an avatar already; returns its file name."""
    response = upload(member_session, image_bytes("PNG"))
    assert response.status_code == 200, response.get_json()
    name = avatar_name(response)
    assert files_in(avatar_dir) == {name}
    return name


@pytest.fixture
def assert_unchanged(member_session: Session, existing_avatar: str, avatar_dir: Path):
    """Check that the member's avatar is still the existing one and no file was added or removed."""

    def check() -> None:
        assert stored_avatar(member_session.user.id) == existing_avatar
        assert files_in(avatar_dir) == {existing_avatar}

    return check


# --- accepted uploads ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_accepted_format_answers_user_with_webp_avatar_url(member_session, fmt):
    response = upload(member_session, image_bytes(fmt), f"me.{fmt.lower()}")
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    assert user["id"] == member_session.user.id
    assert AVATAR_URL.fullmatch(user["avatar_url"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_accepted_format_is_stored_as_webp(member_session, avatar_dir, fmt):
    name = avatar_name(upload(member_session, image_bytes(fmt)))
    with Image.open(avatar_dir / name) as stored:
        assert stored.format == "WEBP"


@pytest.mark.parametrize("fmt", FORMATS)
def test_stored_file_name_is_uuid7(member_session, avatar_dir, fmt):
    name = avatar_name(upload(member_session, image_bytes(fmt)))
    stem = name.removesuffix(".webp")
    assert uuid.UUID(stem).version == 7
    assert str(uuid.UUID(stem)) == stem
    assert files_in(avatar_dir) == {name}


def test_every_upload_gets_a_new_name(member_session):
    first = avatar_name(upload(member_session, image_bytes("PNG")))
    second = avatar_name(upload(member_session, image_bytes("PNG")))
    assert first != second


def test_avatar_is_saved_on_the_user(member_session):
    name = avatar_name(upload(member_session, image_bytes("JPEG")))
    assert stored_avatar(member_session.user.id) == name
    assert member_session.get("/auth/me").get_json()["user"]["avatar_url"] == f"/uploads/avatars/{name}"


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1024, 512), (512, 256)), ((300, 1200), (128, 512)), ((2000, 2000), (512, 512))],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_large_image_is_scaled_to_512_keeping_aspect_ratio(member_session, avatar_dir, fmt, size, expected):
    name = avatar_name(upload(member_session, image_bytes(fmt, size)))
    with Image.open(avatar_dir / name) as stored:
        assert stored.size == expected


def test_small_image_is_not_enlarged(member_session, avatar_dir):
    name = avatar_name(upload(member_session, image_bytes("PNG", (100, 50))))
    with Image.open(avatar_dir / name) as stored:
        assert stored.size == (100, 50)


def test_output_is_lossy_webp(member_session, avatar_dir):
    name = avatar_name(upload(member_session, encode(noise(), "PNG")))
    chunks = webp_chunks((avatar_dir / name).read_bytes())
    assert b"VP8 " in chunks
    assert b"VP8L" not in chunks


def test_client_file_name_is_ignored(member_session, app, avatar_dir):
    response = upload(member_session, image_bytes("PNG"), "../../escape.png")
    name = avatar_name(response)
    assert files_in(avatar_dir) == {name}
    assert files_in(Path(app.config["UPLOAD_FOLDER"])) == {"avatars"}


# --- metadata, orientation, transparency, animation ------------------------------------------


def exif_with(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "ParleyTestCam"  # Make
    exif[0x0131] = "ParleySecretEditor"  # Software
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_is_dropped(member_session, avatar_dir, fmt):
    data = encode(two_colour((80, 60)), fmt, exif=exif_with())
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.getexif()[0x010F] == "ParleyTestCam"  # the upload really carries EXIF
    name = avatar_name(upload(member_session, data))
    stored_bytes = (avatar_dir / name).read_bytes()
    with Image.open(avatar_dir / name) as stored:
        assert not stored.getexif()
        assert "exif" not in stored.info
    assert b"Exif" not in stored_bytes
    assert b"ParleyTestCam" not in stored_bytes


def test_no_metadata_chunks_are_written(member_session, avatar_dir):
    data = encode(two_colour((80, 60)), "WEBP", exif=exif_with(), xmp=b"<x:xmpmeta>secret</x:xmpmeta>")
    name = avatar_name(upload(member_session, data))
    assert set(webp_chunks((avatar_dir / name).read_bytes())) <= PIXEL_CHUNKS


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_applied(member_session, avatar_dir, fmt):
    # Orientation 6: the camera was turned, the picture must be turned 90 degrees clockwise to show.
    data = encode(two_colour((200, 100)), fmt, exif=exif_with(orientation=6), quality=95)
    name = avatar_name(upload(member_session, data))
    with Image.open(avatar_dir / name) as stored:
        assert stored.size == (100, 200)
        image = stored.convert("RGB")
        assert close_to(image.getpixel((50, 20)), RED)  # the left half ends up on top
        assert close_to(image.getpixel((50, 180)), BLUE)


def transparent_images() -> dict[str, bytes]:
    """Half transparent, half opaque red, in every way the accepted formats carry transparency."""
    rgba = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    rgba.paste((*RED, 255), (20, 0, 40, 20))
    palette = Image.new("P", (40, 20), 0)
    palette.putpalette([0, 0, 0, *RED])
    palette.paste(1, (20, 0, 40, 20))
    grey_alpha = Image.new("LA", (40, 20), (0, 0))
    grey_alpha.paste((200, 255), (20, 0, 40, 20))
    return {
        "rgba-png": encode(rgba, "PNG"),
        "la-png": encode(grey_alpha, "PNG"),
        "palette-png": encode(palette, "PNG", transparency=0),
        "gif": encode(palette, "GIF", transparency=0),
        "rgba-webp": encode(rgba, "WEBP", lossless=True),
    }


@pytest.mark.parametrize("kind", sorted(transparent_images()))
def test_transparency_is_kept(member_session, avatar_dir, kind):
    name = avatar_name(upload(member_session, transparent_images()[kind]))
    with Image.open(avatar_dir / name) as stored:
        assert stored.mode == "RGBA"
        assert stored.getpixel((5, 10))[3] == 0
        assert stored.getpixel((35, 10))[3] == 255


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_keeps_its_first_frame(member_session, avatar_dir, fmt):
    frames = [Image.new("RGB", (60, 40), RED), Image.new("RGB", (60, 40), BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.n_frames == 2
    name = avatar_name(upload(member_session, data))
    with Image.open(avatar_dir / name) as stored:
        assert not getattr(stored, "is_animated", False)
        assert getattr(stored, "n_frames", 1) == 1
        assert close_to(stored.convert("RGB").getpixel((30, 20)), RED)
    assert b"ANIM" not in webp_chunks((avatar_dir / name).read_bytes())


# --- replacing and serving -------------------------------------------------------------------


def test_new_upload_deletes_the_old_file(member_session, existing_avatar, avatar_dir):
    name = avatar_name(upload(member_session, image_bytes("JPEG")))
    assert name != existing_avatar
    assert files_in(avatar_dir) == {name}
    assert stored_avatar(member_session.user.id) == name


def test_old_avatar_url_is_gone_after_replacement(member_session, client, existing_avatar):
    upload(member_session, image_bytes("JPEG"))
    assert_error(client.get(f"/uploads/avatars/{existing_avatar}"), 404)


def test_avatar_is_served_as_webp(client, existing_avatar, avatar_dir):
    response = client.get(f"/uploads/avatars/{existing_avatar}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == (avatar_dir / existing_avatar).read_bytes()


def test_avatar_is_public(app, existing_avatar):
    assert app.test_client().get(f"/uploads/avatars/{existing_avatar}").status_code == 200


def test_unknown_avatar_is_404_envelope(client):
    assert_error(client.get(f"/uploads/avatars/{uuid6.uuid7()}.webp"), 404)


SECRET = b"parley-secret-outside-the-avatar-folder"
OUTSIDE_NAME = "01900000-0000-7000-8000-000000000000.webp"


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "%2e%2e%2fsecret.txt",
        "..%2fsecret.txt",
        "%2e%2e/secret.txt",
        "..%5csecret.txt",
        f"..%2f{OUTSIDE_NAME}",
        f"%2e%2e%2f{OUTSIDE_NAME}",
        "%2e%2e%2f%2e%2e%2fapp%2f__init__.py",
        "not-a-uuid.webp",
        f"{uuid.uuid4()}.webp",
        "01900000-0000-7000-8000-000000000000.png",
        "01900000-0000-7000-8000-000000000000.webp.png",
        "01900000-0000-7000-8000-000000000000",
        ".01900000-0000-7000-8000-000000000000.webp.part",
        "",
    ],
)
def test_bad_avatar_path_is_404_and_never_a_file_outside(client, app, existing_avatar, path):
    uploads = Path(app.config["UPLOAD_FOLDER"])
    (uploads / "secret.txt").write_bytes(SECRET)
    (uploads / OUTSIDE_NAME).write_bytes(SECRET)
    response = client.get(f"/uploads/avatars/{path}")
    assert_error(response, 404)
    assert SECRET not in response.data
    assert b"__version__" not in response.data


def test_partial_file_is_not_served(client, existing_avatar, avatar_dir):
    (avatar_dir / f".{OUTSIDE_NAME}.part").write_bytes(SECRET)
    response = client.get(f"/uploads/avatars/.{OUTSIDE_NAME}.part")
    assert_error(response, 404)
    assert SECRET not in response.data


def test_relative_upload_folder_serves_what_it_stores(make_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    application = make_app(UPLOAD_FOLDER="relative-uploads")
    with application.app_context():
        session = sign_in(application.test_client(), make_user())
    response = upload(session, image_bytes("PNG"))
    name = avatar_name(response)
    assert (tmp_path / "relative-uploads" / "avatars" / name).is_file()
    served = application.test_client().get(response.get_json()["user"]["avatar_url"])
    assert served.status_code == 200
    assert served.data == (tmp_path / "relative-uploads" / "avatars" / name).read_bytes()


# --- refused uploads -------------------------------------------------------------------------

NOT_IMAGES = {
    "text": b"just some text, certainly not a picture\n" * 20,
    "html": b"<!doctype html><html><body><script>alert(1)</script></body></html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10"/></svg>',
    "bmp": encode(Image.new("RGB", (8, 8)), "BMP"),
    "tiff": encode(Image.new("RGB", (8, 8)), "TIFF"),
    "png-signature-only": b"\x89PNG\r\n\x1a\n",
}


@pytest.mark.parametrize("kind", sorted(NOT_IMAGES))
def test_non_image_is_422_not_an_image(member_session, assert_unchanged, kind):
    error = assert_error(upload(member_session, NOT_IMAGES[kind], "avatar.png"), 422, "not_an_image")
    assert error["fields"]["file"]
    assert_unchanged()


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_image_is_422(member_session, assert_unchanged, fmt):
    data = encode(noise(), fmt)
    error = assert_error(upload(member_session, data[: len(data) // 2]), 422, "not_an_image")
    assert error["fields"]["file"]
    assert_unchanged()


def test_empty_file_is_422(member_session, assert_unchanged):
    error = assert_error(upload(member_session, b""), 422, "not_an_image")
    assert error["fields"]["file"]
    assert_unchanged()


OVERSIZED = {
    "png-header-48mp": lambda: png_claiming_size(8000, 6000),
    "png-header-just-over-40mp": lambda: png_claiming_size(8001, 5000),
    "png-header-4gp": lambda: png_claiming_size(65535, 65535),
    "gif-header-48mp": lambda: gif_claiming_size(8000, 6000),
    "real-png-48mp": big_single_colour_png,
}


@pytest.mark.parametrize("kind", sorted(OVERSIZED))
def test_image_over_40_megapixels_is_422_image_too_large(member_session, assert_unchanged, kind):
    data = OVERSIZED[kind]()
    assert len(data) < 100_000  # a small file: the pixel count alone must refuse it
    error = assert_error(upload(member_session, data), 422, "image_too_large")
    assert error["fields"]["file"]
    assert_unchanged()


def test_file_of_exactly_5_mib_is_accepted(member_session):
    image = image_bytes("PNG")
    data = image + os.urandom(5 * MIB - len(image))  # bytes after IEND are ignored by decoders
    assert len(data) == 5 * MIB
    response = upload(member_session, data)
    assert response.status_code == 200, response.get_json()


def test_file_over_5_mib_is_413(member_session, assert_unchanged):
    image = image_bytes("PNG")
    data = image + os.urandom(5 * MIB + 1 - len(image))
    error = assert_error(upload(member_session, data), 413, "file_too_large")
    assert error["fields"]["file"]
    assert_unchanged()


def test_body_over_max_content_length_is_413_envelope(member_session, app, assert_unchanged):
    data = os.urandom(app.config["MAX_CONTENT_LENGTH"] + 1)
    assert_error(upload(member_session, data), 413)
    assert_unchanged()


def test_small_max_content_length_is_413_envelope_before_the_view(make_app, avatar_dir):
    application = make_app(MAX_CONTENT_LENGTH=1024)
    with application.app_context():
        user = make_user()
        session = sign_in(application.test_client(), user)
    response = upload(session, encode(noise((64, 64)), "PNG"))
    assert_error(response, 413)
    with application.app_context():
        assert stored_avatar(user.id) is None
    assert files_in(avatar_dir) == set()


def test_missing_file_field_is_422(member_session, assert_unchanged):
    response = member_session.post(UPLOAD_URL, data={"picture": (io.BytesIO(image_bytes("PNG")), "a.png")})
    error = assert_error(response, 422)
    assert error["fields"]["file"]
    assert_unchanged()


def test_file_sent_as_plain_form_field_is_422(member_session, assert_unchanged):
    response = member_session.post(
        UPLOAD_URL, data={"file": "not a file"}, content_type="multipart/form-data"
    )
    error = assert_error(response, 422)
    assert error["fields"]["file"]
    assert_unchanged()


def test_json_body_is_415(member_session, assert_unchanged):
    response = member_session.post(UPLOAD_URL, json={"file": "aGVsbG8="})
    assert_error(response, 415)
    assert_unchanged()


def test_raw_image_body_is_415(member_session, assert_unchanged):
    response = member_session.post(UPLOAD_URL, data=image_bytes("PNG"), content_type="image/png")
    assert_error(response, 415)
    assert_unchanged()


def test_not_signed_in_is_401(app, member_session, assert_unchanged):
    response = app.test_client().post(UPLOAD_URL, data={"file": (io.BytesIO(image_bytes("PNG")), "a.png")})
    assert_error(response, 401)
    assert_unchanged()


@pytest.mark.parametrize("headers", [{}, {"X-CSRFToken": "not-the-token"}], ids=["missing", "wrong"])
def test_cookie_upload_without_csrf_token_is_403(member_session, assert_unchanged, headers):
    response = member_session.client.post(
        UPLOAD_URL, headers=headers, data={"file": (io.BytesIO(image_bytes("PNG")), "a.png")}
    )
    assert_error(response, 403, "csrf_failed")
    assert_unchanged()


def test_bearer_token_upload_needs_no_csrf_token(app, member, avatar_dir):
    created = app.test_client().post(
        "/auth/tokens", json={"email": member.email, "password": PASSWORD, "name": "avatar script"}
    )
    assert created.status_code == 201, created.get_json()
    response = app.test_client().post(
        UPLOAD_URL,
        headers={"Authorization": f"Bearer {created.get_json()['token']}"},
        data={"file": (io.BytesIO(image_bytes("WEBP")), "a.webp")},
    )
    assert response.status_code == 200, response.get_json()
    name = avatar_name(response)
    assert stored_avatar(member.id) == name
    assert files_in(avatar_dir) == {name}


def test_revoked_bearer_token_is_401(app, member, avatar_dir):
    created = app.test_client().post(
        "/auth/tokens", json={"email": member.email, "password": PASSWORD, "name": "avatar script"}
    )
    token = created.get_json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert app.test_client().delete(f"/auth/tokens/{token['id']}", headers=headers).status_code == 204
    response = app.test_client().post(
        UPLOAD_URL, headers=headers, data={"file": (io.BytesIO(image_bytes("PNG")), "a.png")}
    )
    assert_error(response, 401)
    assert stored_avatar(member.id) is None
    assert files_in(avatar_dir) == set()
