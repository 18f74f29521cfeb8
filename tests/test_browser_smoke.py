"""The page shell in a real browser: navbar, feedback modal and sign-in redirects."""

from playwright.sync_api import expect

from tests.factories import make_user


def test_signed_in_page_shows_the_user_menu(browsing) -> None:
    user = make_user(name="Ada Lovelace")
    page = browsing.page(user)
    page.goto("/")
    expect(page.locator("#nav-user-name")).to_have_text("Ada Lovelace")


def test_anonymous_visitor_is_sent_to_sign_in(browsing) -> None:
    page = browsing.page()
    page.goto("/profile")
    expect(page).to_have_url(browsing.server.url + "/login?next=/profile")
