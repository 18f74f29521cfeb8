"""Accessibility basics on every page, in a real browser: every control has a name, every image
an alt text, new messages are announced, and the chat can be used from the keyboard."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories import make_room, make_user

# Controls without a name: no <label>, aria-label, aria-labelledby or title (dialogs included).
UNNAMED_CONTROLS = """
nodes => nodes.filter(node =>
  !(node.labels && node.labels.length) && !node.getAttribute("aria-label")
  && !node.getAttribute("aria-labelledby") && !node.getAttribute("title")
).map(node => node.outerHTML.slice(0, 160))
"""
# Buttons and links with neither text nor an aria-label/title.
UNNAMED_ACTIONS = """
nodes => nodes.filter(node =>
  !node.textContent.trim() && !node.getAttribute("aria-label")
  && !node.getAttribute("aria-labelledby") && !node.getAttribute("title")
).map(node => node.outerHTML.slice(0, 160))
"""

SIGNED_OUT_PAGES = ["/login", "/register", "/forgot", "/reset/some-token"]
ADMIN_PAGES = ["/", "/profile", "/admin", "/admin/rooms", "/admin/feedback", "/admin/users"]


def _assert_named(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    controls = page.locator("input:not([type=hidden]), textarea, select")
    assert controls.evaluate_all(UNNAMED_CONTROLS) == []
    assert page.locator("button, a[href]").evaluate_all(UNNAMED_ACTIONS) == []
    assert page.locator("img:not([alt])").count() == 0


@pytest.mark.parametrize("path", SIGNED_OUT_PAGES)
def test_signed_out_pages_name_every_control(browsing, path: str) -> None:
    page = browsing.page()
    page.goto(path)
    _assert_named(page)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_signed_in_pages_name_every_control(browsing, path: str) -> None:
    admin = make_user(role="admin")
    make_room(admin, name="general")
    page = browsing.page(admin)
    page.goto(path)
    _assert_named(page)


def test_invite_page_names_every_control(browsing) -> None:
    owner, guest = make_user(), make_user()
    room = make_room(owner, name="secret", kind="private")
    page = browsing.page(guest)
    page.goto(f"/invite/{room.invite_code}")
    _assert_named(page)


def test_new_messages_are_announced(browsing) -> None:
    user = make_user()
    make_room(user, name="general")
    page = browsing.page(user)
    page.goto("/")
    expect(page.locator('[role="log"][aria-live]')).to_have_count(1)


def test_the_composer_is_reached_from_the_keyboard(browsing) -> None:
    user = make_user()
    make_room(user, name="general")
    page = browsing.page(user)
    page.goto("/")
    composer = page.get_by_role("textbox", name="Message")
    expect(composer).to_be_enabled()
    for _ in range(60):
        page.keyboard.press("Tab")
        if composer.evaluate("node => node === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the message box")
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    expect(page.locator('[role="log"]').get_by_text("typed without a mouse")).to_be_visible()
