"""The profile page in a real browser: name, password, avatar upload and personal API tokens."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import User
from tests.factories import PASSWORD, make_user

AVATAR_URL = re.compile(r"/uploads/avatars/[0-9a-f-]+\.webp$")
DEFAULT_AVATAR = "/static/img/avatar.svg"
NEW_PASSWORD = "a much longer passphrase"
INVALID = re.compile(r"\bis-invalid\b")


def png(size: int = 64, colour: str = "#d63384") -> dict:
    """A PNG picture as Playwright's set_input_files takes it."""
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return {"name": "me.png", "mimeType": "image/png", "buffer": out.getvalue()}


@pytest.fixture
def user(app) -> User:
    return make_user(name="Pat Profile")


@pytest.fixture
def profile(browsing, user) -> Page:
    """The profile page of user, loaded (its forms are enabled once /auth/me answered)."""
    page = browsing.page(user)
    page.goto("/profile")
    expect(page.locator("#profile-email")).to_have_text(user.email)
    return page


def bearer(browsing, secret: str) -> int:
    """The status of GET /auth/me with the token and no cookie."""
    context = browsing.browser.new_context(base_url=browsing.server.url)
    try:
        return context.request.get("/auth/me", headers={"Authorization": f"Bearer {secret}"}).status
    finally:
        context.close()


def create_token(page: Page, name: str, password: str = PASSWORD) -> None:
    page.locator("#token-name").fill(name)
    page.locator("#token-password").fill(password)
    page.get_by_role("button", name="Create token").click()


# Avatar


def test_choosing_an_avatar_shows_a_preview_before_saving(profile: Page) -> None:
    profile.locator("#avatar-file").set_input_files(png())
    expect(profile.locator("#avatar-preview")).to_be_visible()
    expect(profile.locator("#avatar-preview")).to_have_attribute("src", re.compile(r"^blob:"))
    profile.wait_for_function("document.getElementById('avatar-preview').naturalWidth > 0")
    expect(profile.locator("#nav-avatar")).to_have_attribute("src", DEFAULT_AVATAR)
    expect(profile.get_by_role("button", name="Save avatar")).to_be_enabled()


def test_saving_an_avatar_shows_progress_and_the_new_picture(profile: Page) -> None:
    profile.locator("#avatar-file").set_input_files(png())
    profile.get_by_role("button", name="Save avatar").click()
    progress = profile.get_by_role("progressbar", name="Avatar upload")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("aria-valuenow", "100")
    expect(profile.locator("#nav-avatar")).to_have_attribute("src", AVATAR_URL)
    expect(profile.locator("#profile-avatar")).to_have_attribute("src", AVATAR_URL)
    profile.wait_for_function(
        "(img => img.complete && img.naturalWidth > 0)(document.getElementById('nav-avatar'))"
    )
    expect(profile.locator("#avatar-preview")).to_be_hidden()


def test_saved_avatar_is_stored_for_the_user(profile: Page, user: User) -> None:
    profile.locator("#avatar-file").set_input_files(png())
    profile.get_by_role("button", name="Save avatar").click()
    expect(profile.locator("#nav-avatar")).to_have_attribute("src", AVATAR_URL)
    db.session.rollback()  # a fresh transaction sees what the server committed
    assert (
        profile.locator("#nav-avatar")
        .get_attribute("src")
        .endswith(f"/{db.session.get(User, user.id).avatar}")
    )


def test_a_file_that_is_not_an_image_shows_the_servers_refusal(profile: Page) -> None:
    text = {"name": "notes.png", "mimeType": "image/png", "buffer": b"these are not pixels"}
    profile.locator("#avatar-file").set_input_files(text)
    profile.get_by_role("button", name="Save avatar").click()
    expect(profile.locator("#avatar-file")).to_have_class(INVALID)
    expect(profile.locator("#avatar-file ~ .invalid-feedback")).to_have_text(
        "not a PNG, JPEG, GIF or WebP image"
    )
    expect(profile.locator("#avatar-progress")).to_be_hidden()
    expect(profile.locator("#nav-avatar")).to_have_attribute("src", DEFAULT_AVATAR)


# Name and password


def test_name_change_updates_the_navbar(profile: Page, user: User) -> None:
    profile.locator("#profile-name").fill("Pat Renamed")
    profile.get_by_role("button", name="Save name").click()
    expect(profile.locator("#nav-user-name")).to_have_text("Pat Renamed")
    expect(profile.locator("#profile-heading")).to_have_text("Pat Renamed")
    db.session.rollback()
    assert db.session.get(User, user.id).name == "Pat Renamed"


def test_wrong_current_password_is_shown_under_its_field(profile: Page) -> None:
    profile.locator("#profile-current-password").fill("not my password")
    profile.locator("#profile-new-password").fill(NEW_PASSWORD)
    profile.locator("#profile-confirm-password").fill(NEW_PASSWORD)
    profile.get_by_role("button", name="Change password").click()
    expect(profile.locator("#profile-current-password")).to_have_class(INVALID)
    expect(profile.locator("#profile-current-password ~ .invalid-feedback")).to_have_text("does not match")


def test_password_change_keeps_this_page_signed_in(profile: Page, user: User) -> None:
    profile.locator("#profile-current-password").fill(PASSWORD)
    profile.locator("#profile-new-password").fill(NEW_PASSWORD)
    profile.locator("#profile-confirm-password").fill(NEW_PASSWORD)
    profile.get_by_role("button", name="Change password").click()
    expect(profile.locator("#toasts")).to_contain_text("Your password is changed")
    profile.reload()
    expect(profile.locator("#profile-email")).to_have_text(user.email)
    answer = profile.request.post("/auth/login", data={"email": user.email, "password": NEW_PASSWORD})
    assert answer.status == 200


# API tokens


def test_new_token_is_shown_once_and_listed(browsing, profile: Page) -> None:
    create_token(profile, "deploy bot")
    secret = profile.locator("#token-secret")
    expect(secret).to_have_value(re.compile(r"^parley_\S{43}$"))
    expect(profile.locator("#token-list")).to_contain_text("deploy bot")
    value = secret.input_value()
    assert bearer(browsing, value) == 200
    profile.reload()
    expect(profile.locator("#token-list")).to_contain_text("deploy bot")
    expect(profile.locator("#token-secret")).to_have_count(0)
    assert value not in profile.content()


def test_token_creation_with_a_wrong_password_is_refused_under_the_field(profile: Page) -> None:
    create_token(profile, "deploy bot", password="not my password")
    expect(profile.locator("#token-password")).to_have_class(INVALID)
    expect(profile.locator("#token-secret")).to_have_count(0)


def test_copy_button_puts_the_token_on_the_clipboard(profile: Page) -> None:
    profile.context.grant_permissions(["clipboard-read", "clipboard-write"])
    create_token(profile, "copied bot")
    profile.get_by_role("button", name="Copy").click()
    expect(profile.locator("#toasts")).to_contain_text("The token is copied.")
    copied = profile.evaluate("navigator.clipboard.readText()")
    assert copied == profile.locator("#token-secret").input_value()


def test_revoking_a_token_removes_it_and_stops_it(browsing, profile: Page) -> None:
    create_token(profile, "old bot")
    secret = profile.locator("#token-secret")
    expect(secret).to_have_value(re.compile(r"^parley_"))
    value = secret.input_value()
    profile.get_by_role("button", name="Revoke the token old bot").click()
    profile.get_by_role("button", name="Yes, revoke").click()
    expect(profile.locator("#token-list")).not_to_contain_text("old bot")
    expect(profile.locator("#token-empty")).to_be_visible()
    assert bearer(browsing, value) == 401
