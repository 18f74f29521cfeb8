"""The main screens in a real browser, saved as pictures: the README shows them.

Every run takes them (into the test's temporary folder) and checks that each screen shows what
it should; `make screenshots` runs this module with PARLEY_SCREENSHOTS=docs/screenshots to
refresh the committed pictures.
"""

import io
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import Message, User
from app.services import feedback, messaging, rooms
from tests.browser_support import DESKTOP, PHONE
from tests.factories import make_room, make_user

PEOPLE = [
    ("Alice Martin", "#0d6efd"),
    ("Bob Chen", "#198754"),
    ("Carol Diaz", "#d63384"),
    ("Dev Patel", "#fd7e14"),
]
CONVERSATION = [
    (0, "Morning! The release candidate is up on staging."),
    (1, "Nice. I'll run the smoke tests after stand-up."),
    (2, "Docs are updated too: https://example.com/parley/release-notes"),
    (3, "Great work everyone!"),
    (0, "Shout if anything looks off.\nI'm around all day."),
    (1, "All green on my side."),
]


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the pictures go: PARLEY_SCREENSHOTS (make screenshots) or the test's folder."""
    folder = Path(os.environ.get("PARLEY_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _portrait(initials: str, colour: str) -> bytes:
    picture = Image.new("RGB", (256, 256), colour)
    ImageDraw.Draw(picture).text((128, 128), initials, fill="white", anchor="mm", font_size=110)
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def _give_avatar(page: Page, name: str, colour: str) -> None:
    initials = "".join(part[0] for part in name.split())
    upload = {"name": "me.png", "mimeType": "image/png", "buffer": _portrait(initials, colour)}
    token = page.request.get("/auth/csrf").json()["csrf_token"]
    answer = page.request.post(
        "/auth/profile/upload", multipart={"file": upload}, headers={"X-CSRFToken": token}
    )
    assert answer.ok, answer.text()


@pytest.fixture
def team(browsing) -> list[User]:
    """Four people with avatars, two rooms, a conversation and one direct room."""
    people = [make_user(name=name, email=f"{name.split()[0].lower()}@example.com") for name, _ in PEOPLE]
    for person, (name, colour) in zip(people, PEOPLE, strict=True):
        _give_avatar(browsing.page(person), name, colour)
    general = make_room(people[0], name="general", members=tuple(people[1:]))
    design = make_room(people[1], name="design", members=(people[0], people[2]))
    make_room(people[2], name="ops", kind="private", members=(people[0],))
    for author, text in CONVERSATION:
        messaging.send_message(people[author], general.id, text)
    # Unread for Alice: a room message and a direct message she has not seen yet.
    messaging.send_message(people[1], design.id, "New mockups are in the shared folder.")
    direct, _ = rooms.open_direct_room(people[2], people[0].id)
    messaging.send_message(people[2], direct.room.id, "Got a minute for the on-call rota?")
    return people


def _backdate_history(author: User, room_id: int) -> None:
    """Messages on most of the last 30 days, so the dashboard's chart has a shape."""
    now = datetime.now(UTC)
    for days_ago in range(1, 30):
        for n in range((days_ago * 7) % 11 + (3 if days_ago % 7 in (1, 2) else 0)):
            message, _ = messaging.send_message(author, room_id, f"Day -{days_ago}, note {n}")
            when = now - timedelta(days=days_ago)
            db.session.execute(sa.update(Message).where(Message.id == message.id).values(created_at=when))
    db.session.commit()


def _save(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    with Image.open(path) as picture:
        assert (picture.format, picture.size) == (
            "PNG",
            (page.viewport_size["width"], page.viewport_size["height"]),
        )
    return path


def test_chat_on_a_desktop(browsing, team, shots) -> None:
    browsing.page(team[1]).goto("/")  # Bob is online too
    page = browsing.page(team[0], viewport=DESKTOP)
    page.goto("/")
    expect(page.get_by_text("All green on my side")).to_be_visible()
    expect(page.get_by_role("link", name="https://example.com/parley/release-notes")).to_be_visible()
    _save(page, shots, "chat")


def test_chat_on_a_phone(browsing, team, shots) -> None:
    page = browsing.page(team[0], viewport=PHONE)
    page.goto("/")
    expect(page.get_by_text("All green on my side")).to_be_visible()
    _save(page, shots, "chat-phone")
    page.get_by_role("button", name=re.compile("rooms", re.I)).first.click()
    expect(page.locator(".offcanvas-md.show, .offcanvas.show").first).to_be_visible()
    _save(page, shots, "chat-phone-rooms")


def test_sign_in_page(browsing, shots) -> None:
    page = browsing.page(viewport=DESKTOP)
    page.goto("/login")
    expect(page.locator("#login-email")).to_be_visible()
    _save(page, shots, "sign-in")


def test_profile_page(browsing, team, shots) -> None:
    page = browsing.page(team[0], viewport=DESKTOP)
    page.goto("/profile")
    expect(page.locator("#nav-avatar")).to_have_attribute("src", re.compile(r"/uploads/avatars/.+\.webp"))
    _save(page, shots, "profile")


def test_admin_dashboard(browsing, team, shots) -> None:
    admin = make_user(name="Erin Admin", role="admin")
    _backdate_history(admin, make_room(admin, name="log").id)
    feedback.submit_feedback(team[1], "Dark mode?", "Would love a dark theme for late shifts.")
    browsing.page(team[1]).goto("/")  # someone online
    page = browsing.page(admin, viewport=DESKTOP)
    page.goto("/admin")
    expect(page.locator("svg rect.chart-bar")).to_have_count(30)
    expect(page.locator("#nav-feedback-count")).to_have_text("1")
    _save(page, shots, "admin-dashboard")


def test_admin_feedback(browsing, team, shots) -> None:
    admin = make_user(name="Erin Admin", role="admin")
    feedback.submit_feedback(team[1], "Dark mode?", "Would love a dark theme for late shifts.")
    feedback.submit_feedback(None, "Invite links", "Can invite links expire?", "Sam Guest", "sam@example.org")
    page = browsing.page(admin, viewport=DESKTOP)
    page.goto("/admin/feedback")
    expect(page.get_by_text("Invite links")).to_be_visible()
    _save(page, shots, "admin-feedback")
