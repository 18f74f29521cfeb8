"""Hostile content is inert on every page that shows it, in a real browser.

Message content, room names and descriptions, user names and emails, token names and
feedback (subject, message, name, email) carry script payloads: <script>, <img onerror>,
<svg onload>, javascript: links, "> breaking out of an attribute, an <iframe srcdoc>, and
template syntax ({{7*7}}, ${7*7}). Each test shows them where a person would see them (the chat:
room list, header, messages, members, typing indicator, toasts, the Browse dialog, direct
messages; the invite page, the profile, the admin pages, the error page) and asserts three
things: the payload text is shown literally, no element a payload would create exists, and no
dialog opened. Every payload element carries an id starting with "xss", so an injection shows
up in the DOM even where the Content-Security-Policy would have stopped it from running. A page
also fails on any CSP violation report: a blocked injection, or a page the policy breaks.

Most data is seeded with the factories and services, which skip the API's validation (a
payload email the API would refuse still reaches the pages that way); what only a live server
can produce (typing, toasts, live messages) comes from a second signed-in page.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from app.models import Room, User
from app.services import api_tokens, feedback, rooms
from tests.browser_support import EXPECT_TIMEOUT_MS
from tests.factories import PASSWORD, make_message, make_room, make_user

PAYLOADS = [
    "<script id=xss1>alert(1)</script>",
    "<img src=x id=xss2 onerror=alert(2)>",
    "<svg id=xss3 onload=alert(3)>",
    '"><b id=xss4>bold</b>',
    "javascript:alert(5)",
    "<a id=xss6 href=javascript:alert(6)>click</a>",
    "<iframe id=xss7 srcdoc='<script>alert(7)</script>'>",
    "{{7*7}} ${7*7} <%= 7*7 %>",
]
DESCRIPTION = " ".join(PAYLOADS)  # 500 characters at most

# Anything a payload would have added: its marked elements, inline script, handlers, js: links.
INJECTED = """() => [...document.querySelectorAll(
  '[id^="xss"], script:not([src]), iframe, object, embed, [onerror], [onload], [onclick], '
  + 'a[href^="javascript:" i]'
)].map((node) => node.outerHTML.slice(0, 120))"""
# Installed before any page script: the CSP violations the page reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.effectiveDirective} ${event.blockedURI} ${where}`);
});
"""


def hostile_email(n: int) -> str:
    """A unique email made of a payload (the API would refuse it; pages must cope anyway)."""
    return f"{PAYLOADS[n % len(PAYLOADS)]}{n}@example.com".lower()


@dataclass
class Watched:
    """A page that records dialogs and CSP violations; assert_inert checks the DOM too."""

    page: Page
    dialogs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.add_init_script(RECORD_VIOLATIONS)
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_inert(self) -> None:
        """No injected element, no dialog, no CSP violation on the page as it is now."""
        assert self.page.evaluate(INJECTED) == []
        assert self.dialogs == []
        assert self.page.evaluate("() => window.__cspViolations") == []


@pytest.fixture
def watch(browsing) -> Callable[..., Watched]:
    """watch(user=None): a new watched page, signed in as user when given."""

    def open_page(user: User | None = None) -> Watched:
        return Watched(browsing.page(user, password=PASSWORD))

    return open_page


def texts(locator: Locator, count: int) -> list[str]:
    """The text of each element, once there are count of them."""
    expect(locator).to_have_count(count)
    return locator.all_text_contents()


def named(page: Page, selector: str, text: str) -> Locator:
    """The elements matching selector whose whole text is text (has_text would match a part)."""
    return page.locator(selector).filter(has_text=re.compile(f"^{re.escape(text)}$"))


def open_room(page: Page, room_id: int) -> None:
    """Open the chat on a room and wait until its messages are loaded."""
    page.goto(f"/?room={room_id}")
    expect(page.locator(f'#message-list[data-room-id="{room_id}"]')).to_be_attached()


def hostile_users() -> list[User]:
    """A user named after each payload, in PAYLOADS order."""
    return [make_user(name=payload, email=hostile_email(n)) for n, payload in enumerate(PAYLOADS)]


def described_room(owner: User, name: str, kind: str = "public") -> Room:
    """A room whose description is every payload."""
    return rooms.create_room(owner, name, description=DESCRIPTION, kind=kind).room


# -- the chat ----------------------------------------------------------------------------------


def test_room_names_are_inert_in_the_room_list_and_header(watch) -> None:
    viewer = make_user()
    first, *_ = [described_room(viewer, name) for name in PAYLOADS]
    chat = watch(viewer)
    open_room(chat.page, first.id)
    assert sorted(texts(chat.page.locator("#room-list .room-name"), len(PAYLOADS))) == sorted(PAYLOADS)
    expect(chat.page.locator("#room-title")).to_have_text(PAYLOADS[0])
    expect(chat.page.locator("#room-description")).to_have_text(DESCRIPTION)
    chat.assert_inert()


def test_messages_and_their_authors_are_inert(watch) -> None:
    viewer = make_user()
    authors = hostile_users()
    room = make_room(viewer, members=tuple(authors))
    for author, payload in zip(authors, PAYLOADS, strict=True):
        make_message(author, room, payload)
    chat = watch(viewer)
    open_room(chat.page, room.id)
    assert texts(chat.page.locator("#message-list .msg-text"), len(PAYLOADS)) == PAYLOADS
    assert texts(chat.page.locator("#message-list .msg-author"), len(PAYLOADS)) == PAYLOADS
    chat.assert_inert()


def test_member_names_are_inert(watch) -> None:
    viewer = make_user(name="Viewer")
    room = make_room(viewer, members=tuple(hostile_users()))
    chat = watch(viewer)
    open_room(chat.page, room.id)
    names = texts(chat.page.locator("#member-list .member-name"), len(PAYLOADS) + 1)
    assert sorted(names) == sorted([*PAYLOADS, "Viewer (you)"])
    chat.assert_inert()


def test_direct_message_names_are_inert(watch) -> None:
    viewer = make_user()
    direct = [rooms.open_direct_room(viewer, other.id)[0].room for other in hostile_users()]
    chat = watch(viewer)
    open_room(chat.page, direct[1].id)
    assert sorted(texts(chat.page.locator("#dm-list .room-name"), len(PAYLOADS))) == sorted(PAYLOADS)
    expect(chat.page.locator("#room-title")).to_have_text(PAYLOADS[1])
    chat.assert_inert()


def test_the_browse_dialog_is_inert(watch) -> None:
    owner, viewer = make_user(), make_user()
    for name in PAYLOADS:
        described_room(owner, name)
    home = make_room(viewer)
    chat = watch(viewer)
    open_room(chat.page, home.id)
    chat.page.locator(".chat-rooms-actions").get_by_role("button", name="Browse").click()
    items = chat.page.locator("#browse-list > li[data-name]")
    assert sorted(texts(items.locator(".fw-semibold"), len(PAYLOADS))) == sorted(PAYLOADS)
    expect(items.first.locator(".small")).to_have_text(f"{DESCRIPTION} · 1 member")
    chat.assert_inert()


def test_the_typing_indicator_is_inert(watch) -> None:
    viewer, typist = make_user(), make_user(name=PAYLOADS[1])
    room = make_room(viewer, members=(typist,))
    chat, other = watch(viewer), watch(typist)
    open_room(chat.page, room.id)
    open_room(other.page, room.id)
    other.page.locator("#composer-input").press_sequentially("hello")
    expect(chat.page.locator("#typing-indicator")).to_have_text(f"{PAYLOADS[1]} is typing…")
    chat.assert_inert()


def test_live_messages_are_inert_for_the_sender_and_the_room(watch) -> None:
    viewer, sender = make_user(), make_user(name=PAYLOADS[2])
    room = make_room(viewer, members=(sender,))
    chat, other = watch(viewer), watch(sender)
    open_room(chat.page, room.id)
    open_room(other.page, room.id)
    for payload in PAYLOADS:
        other.page.locator("#composer-input").fill(payload)
        other.page.locator("#composer-input").press("Enter")
    for page in (chat.page, other.page):
        shown = texts(page.locator("#message-list .msg[data-id] .msg-text"), len(PAYLOADS))
        assert sorted(shown) == sorted(PAYLOADS)
    chat.assert_inert()
    other.assert_inert()


def test_a_toast_naming_a_room_is_inert(watch) -> None:
    owner, viewer = make_user(), make_user()
    room = make_room(owner, name=PAYLOADS[1], members=(viewer,))
    chat, owners = watch(viewer), watch(owner)
    open_room(chat.page, room.id)
    open_room(owners.page, room.id)
    owners.page.get_by_role("button", name="Room settings").click()
    owners.page.get_by_role("button", name="Close room").click()
    expect(chat.page.locator("#toasts .toast-body")).to_have_text(
        f"Room closed. {PAYLOADS[1]} was closed. Its history stays readable; new messages are off."
    )
    chat.assert_inert()


def test_the_navbar_shows_a_hostile_name_as_text(watch) -> None:
    viewer = make_user(name=PAYLOADS[3])
    chat = watch(viewer)
    chat.page.goto("/")
    expect(chat.page.locator("#chat-empty")).to_be_visible()
    expect(chat.page.locator("#nav-user-name")).to_have_text(PAYLOADS[3])
    chat.assert_inert()


# -- invite, profile, error page, links --------------------------------------------------------


def test_the_invite_page_is_inert(watch) -> None:
    owner, visitor = make_user(), make_user()
    room = described_room(owner, PAYLOADS[6], kind="private")
    invite = watch(visitor)
    invite.page.goto(f"/invite/{room.invite_code}")
    expect(invite.page.locator("#invite-room-name")).to_have_text(PAYLOADS[6])
    expect(invite.page.locator("#invite-room-description")).to_have_text(DESCRIPTION)
    invite.assert_inert()


def test_the_profile_is_inert(watch) -> None:
    user = make_user(name=PAYLOADS[5], email=hostile_email(5))
    for name in PAYLOADS:
        api_tokens.create_token(user.email, PASSWORD, name)
    profile = watch(user)
    profile.page.goto("/profile")
    expect(profile.page.locator("#profile-email")).to_have_text(user.email)
    expect(profile.page.locator("#profile-heading")).to_have_text(PAYLOADS[5])
    expect(profile.page.locator("#profile-name")).to_have_value(PAYLOADS[5])
    expect(profile.page.locator("#nav-user-name")).to_have_text(PAYLOADS[5])
    names = texts(profile.page.locator("#token-list .fw-semibold"), len(PAYLOADS))
    assert sorted(names) == sorted(PAYLOADS)
    profile.assert_inert()


def test_the_error_page_is_inert(watch) -> None:
    member = make_user(name=PAYLOADS[0])
    error = watch(member)
    error.page.goto("/admin")
    expect(error.page.locator("#error-message")).to_have_text("This page is for administrators.")
    expect(error.page.locator("#nav-user-name")).to_have_text(PAYLOADS[0])
    error.assert_inert()


@pytest.mark.parametrize(
    "path",
    [
        "/invite/" + quote(PAYLOADS[1], safe=""),
        "/reset/" + quote(PAYLOADS[2], safe=""),
        "/login?next=" + quote("/" + PAYLOADS[1], safe=""),
        "/register?next=" + quote("/" + PAYLOADS[3], safe=""),
    ],
)
def test_payloads_in_a_link_are_inert(watch, path: str) -> None:
    signed_in = path.startswith("/invite/")
    visitor = watch(make_user() if signed_in else None)
    visitor.page.goto(path)
    expect(visitor.page.locator("main form, #invite-invalid").first).to_be_visible()
    visitor.assert_inert()


# -- the admin pages ---------------------------------------------------------------------------


@pytest.fixture
def admin() -> User:
    return make_user(name=PAYLOADS[7], role="admin", email=hostile_email(len(PAYLOADS) + 7))


def test_the_admin_dashboard_is_inert(watch, admin) -> None:
    screen = watch(admin)
    screen.page.goto("/admin")
    expect(screen.page.locator('[data-stat="users"]')).to_have_text("1")
    expect(screen.page.locator("#nav-user-name")).to_have_text(PAYLOADS[7])
    screen.assert_inert()


def test_the_admin_rooms_page_and_its_members_dialog_are_inert(watch, admin) -> None:
    owners = hostile_users()
    for owner, name in zip(owners, PAYLOADS, strict=True):
        described_room(owner, name)
    rooms.join_room(owners[0], rooms.create_room(owners[1], "Lobby").room.id)
    screen = watch(admin)
    screen.page.goto("/admin/rooms")
    names = texts(screen.page.locator("#rooms-table tbody .admin-name .fw-semibold"), len(PAYLOADS) + 1)
    assert sorted(names) == sorted([*PAYLOADS, "Lobby"])
    row = screen.page.locator("#rooms-table tbody tr").filter(
        has=named(screen.page, ".admin-name .fw-semibold", PAYLOADS[2])
    )
    expect(row.locator(".admin-name .small")).to_have_text(DESCRIPTION)
    expect(row.locator("td").nth(2)).to_have_text(PAYLOADS[2])
    screen.page.locator("#rooms-table tbody tr").filter(has_text="Lobby").get_by_role(
        "button", name="Members"
    ).click()
    expect(screen.page.locator("#members-title")).to_have_text("Members of Lobby")
    members = texts(screen.page.locator("#members-list li .flex-grow-1"), 2)
    assert sorted(members) == sorted([PAYLOADS[0], PAYLOADS[1]])
    screen.assert_inert()


def test_the_admin_users_page_is_inert(watch, admin) -> None:
    users = hostile_users()
    screen = watch(admin)
    screen.page.goto("/admin/users")
    rows = screen.page.locator("#users-table tbody tr")
    expect(rows).to_have_count(len(users) + 1)
    for user in users:
        expect(rows.filter(has_text=user.email)).to_contain_text(user.name)
    screen.assert_inert()


def test_the_admin_feedback_page_is_inert(watch, admin) -> None:
    for n, payload in enumerate(PAYLOADS):
        feedback.submit_feedback(None, payload, DESCRIPTION, name=PAYLOADS[-1 - n], email=hostile_email(n))
    screen = watch(admin)
    screen.page.goto("/admin/feedback")
    subjects = texts(screen.page.locator("#feedback-list .feedback-subject"), len(PAYLOADS))
    assert sorted(subjects) == sorted(PAYLOADS)
    screen.page.locator("#feedback-list > button").filter(
        has=named(screen.page, ".feedback-subject", PAYLOADS[1])
    ).click()
    expect(screen.page.locator("#reader-subject")).to_have_text(PAYLOADS[1])
    expect(screen.page.locator("#reader-message")).to_have_text(DESCRIPTION)
    expect(screen.page.locator("#reader-from")).to_have_text(PAYLOADS[-2])
    expect(screen.page.locator("#reader-email")).to_have_text(hostile_email(1))
    screen.assert_inert()


# -- the checks themselves, and the policy in the browser ------------------------------------------


@pytest.fixture
def unwatched(chromium, live_server) -> Iterator[Page]:
    """A page outside `browsing`, whose console errors (the CSP's refusals) are expected here."""
    context = chromium.new_context(base_url=live_server.url)
    try:
        yield context.new_page()
    finally:
        context.close()


def inject(page: Page, html: str) -> None:
    page.evaluate("(html) => document.body.insertAdjacentHTML('beforeend', html)", html)


def test_the_checks_find_an_injected_element(unwatched: Page) -> None:
    watched = Watched(unwatched)
    watched.page.goto("/login")
    inject(watched.page, "<b id=xss0>injected</b>")
    with pytest.raises(AssertionError):
        watched.assert_inert()


def test_the_policy_stops_an_injected_handler_and_reports_it(unwatched: Page) -> None:
    watched = Watched(unwatched)
    watched.page.goto("/login")
    inject(watched.page, "<img src=/no-such-image onerror='window.__ran = true'>")
    watched.page.wait_for_function("() => window.__cspViolations.length > 0")
    assert watched.page.evaluate("() => window.__cspViolations")[0].startswith("script-src-attr inline")
    assert watched.page.evaluate("() => window.__ran") is None


def test_the_chat_talks_over_a_websocket_under_the_policy(watch) -> None:
    viewer = make_user()
    room = make_room(viewer)
    chat = watch(viewer)
    received: list[str | bytes] = []
    chat.page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: received.append(frame)))
    open_room(chat.page, room.id)
    for _ in range(EXPECT_TIMEOUT_MS // 100):  # the upgrade follows the first polling requests
        if received:
            break
        chat.page.wait_for_timeout(100)
    assert received, "no WebSocket frame arrived"
    chat.assert_inert()
