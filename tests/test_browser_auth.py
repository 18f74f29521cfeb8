"""Signing up, in and out, password reset and invite links, in a real browser on a live server."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import RoomMembership, User
from app.services import accounts, mailer, rooms
from tests.factories import PASSWORD, make_room, make_user

NEW_PASSWORD = "correct horse battery staple"


def sign_in_with_form(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill the sign-in form and submit it."""
    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(password)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()


def sign_up_with_form(page: Page, name: str, email: str, password: str = PASSWORD) -> None:
    """Fill the sign-up form and submit it."""
    page.locator("#register-name").fill(name)
    page.locator("#register-email").fill(email)
    page.locator("#register-password").fill(password)
    page.locator("#register-form").get_by_role("button", name="Create account").click()


def at(browsing, path: str) -> re.Pattern:
    """The live server's URL for path, exactly."""
    return re.compile(re.escape(browsing.server.url + path) + "$")


@pytest.fixture
def reset_token(make_app, browsing, monkeypatch):
    """reset_token(user) -> the token the live server would mail to user, asked for in-process."""
    server_app = make_app(SECRET_KEY=browsing.server.env["SECRET_KEY"])

    def ask(user: User) -> str:
        mails: list[dict] = []
        monkeypatch.setattr(mailer, "send_mail", lambda **mail: mails.append(mail))
        with server_app.app_context():
            accounts.request_password_reset(user.email)
        assert len(mails) == 1
        return re.search(r"/reset/([\w.\-]+)", mails[0]["body"]).group(1)

    return ask


# Signing up


@pytest.mark.parametrize(
    ("path", "script", "form"), [("/login", "auth", "#login-form"), ("/profile", "profile", "#password-form")]
)
def test_a_password_form_cannot_be_sent_before_its_script_has_wired_it(browsing, path, script, form) -> None:
    page = browsing.page(make_user() if path == "/profile" else None)
    # The page's module, served empty: as if it had not run yet on a slow connection. The
    # browser's own submission would carry the password to the page, in its URL for a GET form.
    page.route(f"**/js/{script}.js", lambda route: route.fulfill(content_type="text/javascript", body=""))
    page.goto(path)
    expect(page.locator(f'{form} [type="submit"]')).to_be_disabled()
    expect(page.locator(form)).to_have_attribute("method", "post")


def test_sign_up_lands_in_the_chat_signed_in(browsing) -> None:
    page = browsing.page()
    page.goto("/register")
    sign_up_with_form(page, "Grace Hopper", "grace@example.com")
    expect(page).to_have_url(at(browsing, "/"))
    expect(page.locator("#nav-user-name")).to_have_text("Grace Hopper")


def test_sign_up_with_a_taken_email_says_so_under_the_field(browsing) -> None:
    make_user(email="taken@example.com")
    page = browsing.page()
    page.goto("/register")
    sign_up_with_form(page, "Someone Else", "taken@example.com")
    expect(page.locator("#register-email")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#register-email ~ .invalid-feedback")).to_have_text("already registered")
    expect(page).to_have_url(at(browsing, "/register"))


def test_sign_up_with_a_short_password_says_so_under_the_field(browsing) -> None:
    page = browsing.page()
    page.goto("/register")
    sign_up_with_form(page, "Short Password", "short@example.com", password="too short")
    expect(page.locator("#register-password")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#register-password ~ .invalid-feedback")).to_contain_text("12")


# Signing in


def test_wrong_password_shows_the_error_and_stays(browsing) -> None:
    user = make_user()
    page = browsing.page()
    page.goto("/login")
    sign_in_with_form(page, user.email, "not the password")
    expect(page.locator("#login-form [data-form-error]")).to_have_text("Email or password is wrong.")
    expect(page).to_have_url(at(browsing, "/login"))


def test_deactivated_account_is_told_so(browsing) -> None:
    user = make_user(is_active=False)
    page = browsing.page()
    page.goto("/login")
    sign_in_with_form(page, user.email)
    expect(page.locator("#login-form [data-form-error]")).to_have_text("This account is deactivated.")


def test_sign_in_returns_to_the_page_asked_for(browsing) -> None:
    user = make_user(name="Back Again")
    page = browsing.page()
    page.goto("/profile")
    expect(page).to_have_url(at(browsing, "/login?next=/profile"))
    sign_in_with_form(page, user.email)
    expect(page).to_have_url(at(browsing, "/profile"))
    expect(page.locator("#nav-user-name")).to_have_text("Back Again")


@pytest.mark.parametrize("remember", [True, False])
def test_remember_me_decides_whether_the_session_outlives_the_browser(browsing, remember: bool) -> None:
    user = make_user()
    page = browsing.page()
    page.goto("/login")
    page.get_by_label("Remember me").set_checked(remember)
    sign_in_with_form(page, user.email)
    expect(page).to_have_url(at(browsing, "/"))
    [cookie] = [cookie for cookie in page.context.cookies() if cookie["name"] == "parley_session"]
    assert (cookie["expires"] > 0) is remember  # -1: a cookie that ends with the browser


def test_sign_in_never_follows_a_next_the_browser_reads_as_another_host(browsing) -> None:
    user = make_user()
    page = browsing.page()
    page.goto("/login?next=/%5Cevil.example/x")
    sign_in_with_form(page, user.email)
    expect(page).to_have_url(at(browsing, "/"))


def test_sign_out_from_the_user_menu_ends_the_session(browsing) -> None:
    page = browsing.page(make_user())
    page.goto("/profile")
    # Loaded first: a profile request answered 401 after the sign-out would go to /login?next=.
    expect(page.locator("#profile")).to_have_attribute("aria-busy", "false")
    page.locator("#user-menu").click()
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(at(browsing, "/login"))
    page.goto("/")
    expect(page).to_have_url(at(browsing, "/login?next=/"))


# Password reset


def test_forgot_password_shows_the_same_confirmation_for_any_email(browsing) -> None:
    page = browsing.page()
    page.goto("/forgot")
    page.locator("#forgot-email").fill("nobody@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator("#forgot-done")).to_contain_text(
        "If an account exists for that email, a link is on its way"
    )
    expect(page.locator("#forgot-form")).to_be_hidden()


def test_reset_link_sets_a_password_that_signs_in(browsing, reset_token) -> None:
    user = make_user(name="Reset Me")
    page = browsing.page()
    page.goto(f"/reset/{reset_token(user)}")
    page.locator("#reset-password").fill(NEW_PASSWORD)
    page.locator("#reset-confirm").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_role("link", name="Sign in with the new password").click()
    sign_in_with_form(page, user.email, NEW_PASSWORD)
    expect(page).to_have_url(at(browsing, "/"))
    expect(page.locator("#nav-user-name")).to_have_text("Reset Me")


def test_reset_with_two_different_passwords_is_refused_in_the_page(browsing) -> None:
    page = browsing.page()
    page.goto("/reset/some-token")
    page.locator("#reset-password").fill(NEW_PASSWORD)
    page.locator("#reset-confirm").fill(NEW_PASSWORD + "!")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#reset-confirm")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#reset-confirm ~ .invalid-feedback")).to_have_text(
        "The two passwords are not the same."
    )


def test_reset_with_an_invalid_link_shows_the_api_error(browsing) -> None:
    page = browsing.page()
    page.goto("/reset/not-a-real-token")
    page.locator("#reset-password").fill(NEW_PASSWORD)
    page.locator("#reset-confirm").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#reset-form [data-form-error]")).to_have_text(
        "The reset link is invalid or has expired."
    )
    expect(page.get_by_role("link", name="Ask for a new one")).to_be_visible()


# Invite links


def test_member_joins_a_private_room_from_its_invite(browsing) -> None:
    owner, guest = make_user(), make_user()
    room = make_room(owner, name="Skunkworks", kind="private")
    room.description = "Nobody talks about it"
    db.session.commit()
    page = browsing.page(guest)
    page.goto(f"/invite/{room.invite_code}")
    expect(page.locator("#invite-room-name")).to_have_text("Skunkworks")
    expect(page.locator("#invite-room-description")).to_have_text("Nobody talks about it")
    expect(page.locator("#invite-room-members")).to_have_text("1 member")
    page.get_by_role("button", name="Join the room").click()
    expect(page).to_have_url(at(browsing, f"/?room={room.id}"))
    db.session.rollback()  # a fresh transaction sees what the server committed
    membership = sa.select(RoomMembership).filter_by(room_id=room.id, user_id=guest.id)
    assert db.session.scalar(membership) is not None


def test_unknown_invite_says_it_is_no_longer_valid(browsing) -> None:
    page = browsing.page(make_user())
    page.goto("/invite/no-such-code")
    expect(page.get_by_role("heading", name="This invite is no longer valid")).to_be_visible()
    expect(page.get_by_role("link", name="Go to the chat")).to_have_attribute("href", "/")


def test_rotated_invite_says_it_is_no_longer_valid(browsing) -> None:
    owner = make_user()
    room = make_room(owner, kind="private")
    old_code = room.invite_code
    rooms.rotate_invite_code(owner, room.id)
    page = browsing.page(make_user())
    page.goto(f"/invite/{old_code}")
    expect(page.get_by_role("heading", name="This invite is no longer valid")).to_be_visible()


def test_invite_rotated_while_the_page_is_open_is_refused_on_join(browsing) -> None:
    owner, guest = make_user(), make_user()
    room = make_room(owner, name="Moving target", kind="private")
    page = browsing.page(guest)
    page.goto(f"/invite/{room.invite_code}")
    expect(page.locator("#invite-room-name")).to_have_text("Moving target")
    rooms.rotate_invite_code(owner, room.id)
    page.get_by_role("button", name="Join the room").click()
    expect(page.get_by_role("heading", name="This invite is no longer valid")).to_be_visible()
    db.session.rollback()
    membership = sa.select(RoomMembership).filter_by(room_id=room.id, user_id=guest.id)
    assert db.session.scalar(membership) is None


def test_invite_to_a_closed_room_offers_no_join(browsing) -> None:
    owner = make_user()
    room = make_room(owner, name="Archive", kind="private")
    rooms.set_room_active(owner, room.id, False)
    page = browsing.page(make_user())
    page.goto(f"/invite/{room.invite_code}")
    expect(page.locator("#invite")).to_contain_text("This room is closed")
    expect(page.get_by_role("button", name="Join the room")).to_have_count(0)


def test_invite_for_a_room_already_joined_opens_it(browsing) -> None:
    owner = make_user()
    room = make_room(owner, kind="private")
    page = browsing.page(owner)
    page.goto(f"/invite/{room.invite_code}")
    expect(page.get_by_role("link", name="Open the room")).to_have_attribute("href", f"/?room={room.id}")


def test_anonymous_invitee_signs_up_and_comes_back_to_the_invite(browsing) -> None:
    room = make_room(make_user(), name="Book club", kind="private")
    page = browsing.page()
    page.goto(f"/invite/{room.invite_code}")
    page.get_by_role("link", name="Create an account").click()
    sign_up_with_form(page, "New Reader", "reader@example.com")
    expect(page).to_have_url(at(browsing, f"/invite/{room.invite_code}"))
    expect(page.locator("#invite-room-name")).to_have_text("Book club")
