"""The navbar's feedback modal in a real browser: what is sent is stored, errors show in place."""

import re

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import Feedback
from tests.factories import make_user


def open_feedback(page: Page) -> None:
    """Open the modal from the navbar button."""
    page.get_by_role("button", name="Feedback").click()
    expect(page.get_by_role("dialog", name="Send feedback")).to_be_visible()


def stored_feedback() -> list[Feedback]:
    """Every feedback row, as the database has it now."""
    db.session.rollback()  # a fresh transaction sees what the server committed
    return list(db.session.scalars(sa.select(Feedback)))


def test_signed_out_feedback_is_stored_with_name_and_email(browsing) -> None:
    page = browsing.page()
    page.goto("/login")
    open_feedback(page)
    page.get_by_label("Your name").fill("Sam Guest")
    page.get_by_label("Your email").fill("sam@example.org")
    page.get_by_label("Subject").fill("Invite links")
    page.get_by_label("Message").fill("Can invite links expire?")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#toasts")).to_contain_text("Thank you")
    expect(page.get_by_role("dialog", name="Send feedback")).to_be_hidden()
    [item] = stored_feedback()
    assert (item.user_id, item.name, item.email) == (None, "Sam Guest", "sam@example.org")
    assert (item.subject, item.message) == ("Invite links", "Can invite links expire?")


def test_signed_in_feedback_is_stored_for_the_account(browsing) -> None:
    user = make_user(name="Kim Member")
    page = browsing.page(user)
    page.goto("/profile")
    open_feedback(page)
    expect(page.locator("#feedback-name")).to_have_count(0)
    page.get_by_label("Subject").fill("Dark mode")
    page.get_by_label("Message").fill("Please add a dark theme.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#toasts")).to_contain_text("Thank you")
    [item] = stored_feedback()
    assert (item.user_id, item.name, item.email) == (user.id, "Kim Member", user.email)
    assert (item.subject, item.message) == ("Dark mode", "Please add a dark theme.")


def test_invalid_feedback_shows_errors_under_the_fields(browsing) -> None:
    page = browsing.page()
    page.goto("/login")
    open_feedback(page)
    page.get_by_label("Your name").fill("Sam Guest")
    page.get_by_label("Your email").fill("not an email")
    page.get_by_label("Message").fill("The subject is missing.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#feedback-email")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#feedback-subject")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#feedback-email ~ .invalid-feedback")).not_to_be_empty()
    expect(page.get_by_role("dialog", name="Send feedback")).to_be_visible()
    assert stored_feedback() == []
