"""The admin pages in a real browser: the dashboard's counts and chart, running rooms, triaging
feedback, managing accounts, paging through tables, and the 403 page members get instead."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import Feedback, Message, Room, User
from app.services import feedback, rooms
from tests.factories import make_message, make_room, make_user

ADMIN_PAGES = ["/admin", "/admin/rooms", "/admin/feedback", "/admin/users"]
EN_DASH = "\u2013"  # the pager says "1\u201325 of 30"


def stored(model: type, row_id: int):
    """The row as the database has it now (the live server changed it)."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, row_id)


def row_of(page: Page, table: str, text: str):
    return page.locator(f"#{table} tbody tr").filter(has_text=text)


@pytest.fixture
def admin():
    return make_user(name="Ada Admin", role="admin")


# -- dashboard --------------------------------------------------------------------------------


def test_dashboard_shows_the_counts(browsing, admin) -> None:
    member = make_user(name="Mia Member")
    make_user(name="Gone", is_active=False)
    room = make_room(admin, name="Lobby", members=(member,))
    closed = make_room(admin, name="Closed")
    rooms.set_room_active(admin, closed.id, active=False)
    make_message(member, room)
    make_message(admin, room)
    page = browsing.page(admin)
    page.goto("/admin")
    expect(page.locator('[data-stat="users"]')).to_have_text("2")
    expect(page.locator('[data-stat="rooms"]')).to_have_text("1")
    expect(page.locator('[data-stat="messages_today"]')).to_have_text("2")
    expect(page.locator('[data-stat="online_now"]')).to_have_text(re.compile(r"^\d+$"))


def test_dashboard_draws_30_bars_with_todays_and_yesterdays_counts(browsing, admin) -> None:
    room = make_room(admin, name="Lobby")
    make_message(admin, room)
    old = make_message(admin, room)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    db.session.execute(sa.update(Message).where(Message.id == old.id).values(created_at=yesterday))
    db.session.commit()
    page = browsing.page(admin)
    page.goto("/admin")
    bars = page.locator("#chart rect.chart-bar")
    expect(bars).to_have_count(30)
    expect(bars.last).to_have_attribute("data-date", datetime.now(UTC).date().isoformat())
    expect(bars.last).to_have_attribute("data-count", "1")
    expect(bars.nth(28)).to_have_attribute("data-count", "1")
    expect(bars.first).to_have_attribute("aria-label", re.compile(r": 0 messages$"))
    expect(page.locator("#chart-table tbody tr")).to_have_count(30)


# -- rooms ------------------------------------------------------------------------------------


def test_closing_a_room_from_the_table_closes_it(browsing, admin) -> None:
    room = make_room(make_user(), name="Lobby")
    page = browsing.page(admin)
    page.goto("/admin/rooms")
    row_of(page, "rooms-table", "Lobby").get_by_role("button", name="Close Lobby").click()
    expect(row_of(page, "rooms-table", "Lobby")).to_contain_text("Closed")
    assert stored(Room, room.id).is_active is False


def test_reopening_a_room_from_the_table_reopens_it(browsing, admin) -> None:
    room = make_room(admin, name="Lobby")
    rooms.set_room_active(admin, room.id, active=False)
    page = browsing.page(admin)
    page.goto("/admin/rooms")
    row_of(page, "rooms-table", "Lobby").get_by_role("button", name="Reopen Lobby").click()
    expect(row_of(page, "rooms-table", "Lobby")).to_contain_text("Open")
    assert stored(Room, room.id).is_active is True


def test_deleting_a_room_asks_first_then_deletes_it(browsing, admin) -> None:
    room_id = make_room(admin, name="Doomed").id
    make_room(admin, name="Kept")
    page = browsing.page(admin)
    page.goto("/admin/rooms")
    row_of(page, "rooms-table", "Doomed").get_by_role("button", name="Delete Doomed").click()
    dialog = page.locator("#delete-room-modal")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Doomed")
    dialog.get_by_role("button", name="Delete room").click()
    expect(row_of(page, "rooms-table", "Doomed")).to_have_count(0)
    expect(row_of(page, "rooms-table", "Kept")).to_have_count(1)
    assert stored(Room, room_id) is None


def test_members_modal_lists_the_rooms_members(browsing, admin) -> None:
    owner, member = make_user(name="Olga Owner"), make_user(name="Mia Member")
    make_room(owner, name="Lobby", members=(member,))
    page = browsing.page(admin)
    page.goto("/admin/rooms")
    row_of(page, "rooms-table", "Lobby").get_by_role("button", name="Members of Lobby").click()
    items = page.locator("#members-list li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("Olga Owner")
    expect(items.nth(0)).to_contain_text("Owner")
    expect(items.nth(1)).to_contain_text("Mia Member")
    expect(items.nth(1)).to_contain_text("Offline")


def test_room_search_and_status_filter_narrow_the_table(browsing, admin) -> None:
    make_room(admin, name="Lobby")
    make_room(admin, name="Dev talk")
    rooms.set_room_active(admin, make_room(admin, name="Old lobby").id, active=False)
    page = browsing.page(admin)
    page.goto("/admin/rooms")
    expect(page.locator("#rooms-table tbody tr")).to_have_count(3)
    page.get_by_label("Search by name").fill("LOBBY")
    expect(page.locator("#rooms-table tbody tr")).to_have_count(2)
    page.get_by_label("Status").select_option("closed")
    expect(page.locator("#rooms-table tbody tr")).to_have_count(1)
    expect(page.locator("#rooms-table tbody tr")).to_contain_text("Old lobby")


# -- feedback ---------------------------------------------------------------------------------


def submit(subject: str, message: str = "The details.") -> Feedback:
    return feedback.submit_feedback(None, subject, message, name="Visitor", email="visitor@example.com")


def test_new_feedback_is_counted_in_the_navbar_badge(browsing, admin) -> None:
    submit("First")
    submit("Second")
    page = browsing.page(admin)
    page.goto("/admin")
    expect(page.locator("#nav-feedback-count")).to_have_text("2")


def test_opening_new_feedback_marks_it_read_and_lowers_the_badge(browsing, admin) -> None:
    item = submit("Broken link", "The help link\nis broken.")
    submit("Other")
    page = browsing.page(admin)
    page.goto("/admin/feedback")
    expect(page.locator("#nav-feedback-count")).to_have_text("2")
    page.locator("#feedback-list").get_by_role("button", name=re.compile("Broken link")).click()
    expect(page.locator("#reader-message")).to_have_text("The help link\nis broken.")
    expect(page.locator("#reader-status")).to_have_text("Read")
    expect(page.locator("#nav-feedback-count")).to_have_text("1")
    assert stored(Feedback, item.id).status == "read"


def test_archiving_feedback_moves_it_to_archived(browsing, admin) -> None:
    item = submit("Old news")
    page = browsing.page(admin)
    page.goto("/admin/feedback")
    page.locator("#feedback-list").get_by_role("button", name=re.compile("Old news")).click()
    page.get_by_role("button", name="Archive").click()
    expect(page.locator("#feedback-list")).not_to_contain_text("Old news")
    assert stored(Feedback, item.id).status == "archived"
    page.locator("#feedback-filter").get_by_text("Archived").click()
    expect(page.locator("#feedback-list")).to_contain_text("Old news")


def test_archiving_before_the_read_mark_is_answered_still_archives(browsing, admin) -> None:
    """Opening a new item sends "read"; an Archive clicked before that answer must not be
    overtaken by it on the server (CI once stored "read" after "archived")."""
    item = submit("Racing")
    page = browsing.page(admin)
    held = []  # the "read" request, kept from the server until Archive was clicked

    def hold_read(route) -> None:
        if route.request.method == "PATCH" and '"read"' in (route.request.post_data or ""):
            held.append(route)
        else:
            route.continue_()

    page.route(f"**/feedback/{item.id}", hold_read)
    page.goto("/admin/feedback")
    page.locator("#feedback-list").get_by_role("button", name=re.compile("Racing")).click()
    for _ in range(500):  # the page sends it on opening; 10 s at most
        if held:
            break
        page.wait_for_timeout(20)
    assert held, "opening the new item sent no read mark"
    page.get_by_role("button", name="Archive").click()
    page.wait_for_timeout(300)  # an Archive sent at once would reach the server first
    held[0].continue_()
    expect(page.locator("#feedback-list")).not_to_contain_text("Racing")
    assert stored(Feedback, item.id).status == "archived"


def test_marking_feedback_new_again_raises_the_badge(browsing, admin) -> None:
    item = submit("Later")
    page = browsing.page(admin)
    page.goto("/admin/feedback")
    page.locator("#feedback-list").get_by_role("button", name=re.compile("Later")).click()
    expect(page.locator("#reader-status")).to_have_text("Read")  # the read mark was answered
    expect(page.locator("#nav-feedback-count")).to_be_hidden()
    page.get_by_role("button", name="Mark new").click()
    expect(page.locator("#reader-status")).to_have_text("New")  # only the answer shows this
    expect(page.locator("#nav-feedback-count")).to_have_text("1")
    assert stored(Feedback, item.id).status == "new"


# -- users ------------------------------------------------------------------------------------


def test_user_search_finds_a_user_by_name_or_email(browsing, admin) -> None:
    make_user(name="Grace Hopper", email="amazing@navy.mil")
    make_user(name="Alan Turing")
    page = browsing.page(admin)
    page.goto("/admin/users")
    expect(page.locator("#users-table tbody tr")).to_have_count(3)
    page.get_by_label("Search by name or email").fill("navy")
    expect(page.locator("#users-table tbody tr")).to_have_count(1)
    expect(page.locator("#users-table tbody tr")).to_contain_text("Grace Hopper")


def test_promoting_a_user_makes_them_admin(browsing, admin) -> None:
    grace = make_user(name="Grace Hopper")
    page = browsing.page(admin)
    page.goto("/admin/users")
    row_of(page, "users-table", "Grace Hopper").get_by_role("button", name="Promote Grace Hopper").click()
    expect(row_of(page, "users-table", "Grace Hopper")).to_contain_text("Admin")
    assert stored(User, grace.id).role == "admin"


def test_deactivating_a_user_deactivates_them(browsing, admin) -> None:
    grace = make_user(name="Grace Hopper")
    page = browsing.page(admin)
    page.goto("/admin/users")
    row_of(page, "users-table", "Grace Hopper").get_by_role("button", name="Deactivate Grace Hopper").click()
    expect(row_of(page, "users-table", "Grace Hopper")).to_contain_text("Deactivated")
    assert stored(User, grace.id).is_active is False


def test_demoting_the_last_admin_is_refused_with_a_toast(browsing, admin) -> None:
    page = browsing.page(admin)
    page.goto("/admin/users")
    row_of(page, "users-table", "Ada Admin").get_by_role("button", name="Demote Ada Admin").click()
    expect(page.locator("#toasts")).to_contain_text("Parley needs at least one active admin.")
    assert stored(User, admin.id).role == "admin"


def test_users_table_shows_the_rest_on_page_two(browsing, admin) -> None:
    for n in range(29):  # 30 accounts with the admin
        make_user(name=f"Person {n:02}")
    page = browsing.page(admin)
    page.goto("/admin/users")
    rows = page.locator("#users-table tbody tr")
    expect(rows).to_have_count(25)
    expect(page.locator("#users-pager [data-range]")).to_have_text(f"1{EN_DASH}25 of 30")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#users-pager [data-range]")).to_have_text(f"26{EN_DASH}30 of 30")
    expect(rows).to_have_count(5)
    expect(rows.last).to_contain_text("Ada Admin")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()


# -- members are kept out ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_a_member_gets_the_403_page(browsing, path: str) -> None:
    page = browsing.page(make_user())
    response = page.goto(path)
    assert response is not None
    assert response.status == 403
    expect(page.locator("#error-message")).to_be_visible()


def test_a_member_has_no_admin_button(browsing) -> None:
    page = browsing.page(make_user())
    page.goto("/")
    expect(page.locator("#user-menu")).to_be_visible()
    expect(page.locator("#nav-admin")).to_have_count(0)
