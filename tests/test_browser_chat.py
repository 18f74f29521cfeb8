"""The chat page in a real browser: two people chatting, history, room states, phones,
the composer, editing, direct messages, failed sends, unread counts and safe rendering.

Users and rooms are made with the factories (in-process, on the live server's database). What
the test process changes through the services emits no live event to the live server (no
Redis in between), which is how a page is made stale on purpose.
"""

import re

from playwright.sync_api import Locator, Page, expect

from app.extensions import db
from app.services import messaging, rooms
from tests.browser_support import PHONE
from tests.factories import PASSWORD, make_room, make_user

REGISTER_PASSWORD = "a long enough password 1"


def open_room(page: Page, room_id: int) -> None:
    """Open the chat on a room and wait until its messages are loaded."""
    page.goto(f"/?room={room_id}")
    expect(page.locator(f'#message-list[data-room-id="{room_id}"]')).to_be_attached()


def composer(page: Page):
    """The message box of the open room."""
    return page.locator("#composer-input")


def send(page: Page, text: str) -> None:
    """Type a message into the composer and press Enter."""
    box = composer(page)
    box.fill(text)
    box.press("Enter")


def messages(page: Page):
    """The message elements of the open room."""
    return page.locator("#message-list .msg")


def confirmed(page: Page):
    """The texts of the messages the server has confirmed (pending sends have no data-id)."""
    return page.locator("#message-list .msg[data-id] .msg-text")


def register(page: Page, name: str, email: str) -> None:
    """Sign up through the /register form; it lands on the chat."""
    page.goto("/register")
    page.locator("#register-name").fill(name)
    page.locator("#register-email").fill(email)
    page.locator("#register-password").fill(REGISTER_PASSWORD)
    page.locator('#register-form [type="submit"]').click()
    expect(page.locator("#chat-empty")).to_be_visible()


def open_browse(page: Page) -> Locator:
    """Open the Browse dialog and return it once it shows (the button is enabled once the
    chat's scripts have wired the dialog, and Playwright waits for that)."""
    page.locator(".chat-rooms-actions").get_by_role("button", name="Browse").click()
    dialog = page.locator("#browse-modal")
    expect(dialog).to_be_visible()
    return dialog


def join_from_browse(page: Page, room_name: str) -> None:
    """Join a public room through the Browse dialog; the room opens."""
    dialog = open_browse(page)
    dialog.locator("li", has_text=room_name).get_by_role("button", name="Join").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#room-title")).to_have_text(room_name)
    expect(page.locator("#message-list[data-room-id]")).to_be_attached()


def test_two_people_chat_with_typing_and_presence(browsing) -> None:
    owner = make_user(name="Olga Owner")
    make_room(owner, name="lobby")
    ada = browsing.page()
    register(ada, "Ada Lovelace", "ada@example.com")
    join_from_browse(ada, "lobby")
    bob = browsing.page()
    register(bob, "Bob Builder", "bob@example.com")
    join_from_browse(bob, "lobby")

    bob_in_ada = ada.locator("#member-list li", has_text="Bob Builder")
    expect(bob_in_ada).to_have_attribute("data-online", "true")
    send(ada, "Hello Bob")
    expect(messages(bob).filter(has_text="Hello Bob")).to_have_count(1)
    send(bob, "Hi Ada")
    expect(messages(ada).filter(has_text="Hi Ada")).to_have_count(1)

    composer(bob).press_sequentially("still typing")
    expect(ada.locator("#typing-indicator")).to_have_text("Bob Builder is typing…")

    context = bob.context
    bob.close()
    expect(bob_in_ada).to_have_attribute("data-online", "false")
    bob_again = context.new_page()
    browsing.errors.watch(bob_again)
    bob_again.goto("/")
    expect(bob_in_ada).to_have_attribute("data-online", "true")


def test_dialog_buttons_stay_disabled_until_the_chat_scripts_have_wired_them(browsing) -> None:
    page = browsing.page(make_user())
    # The chat's entry module, served empty: as if it had not run yet on a slow connection.
    page.route("**/js/chat/main.js", lambda route: route.fulfill(content_type="text/javascript", body=""))
    page.goto("/")
    expect(page.get_by_role("button", name="Feedback")).to_be_enabled()  # base.js has run
    for name in ("Browse", "New room"):
        expect(page.locator(".chat-rooms-actions").get_by_role("button", name=name)).to_be_disabled()


def test_the_composer_stays_disabled_until_a_room_is_open(browsing) -> None:
    user = make_user()
    make_room(user, name="general")
    page = browsing.page(user)
    # As if the chat's scripts had not run yet: nothing typed can be lost or posted natively.
    page.route("**/js/chat/main.js", lambda route: route.fulfill(content_type="text/javascript", body=""))
    page.goto("/")
    expect(composer(page)).to_be_disabled()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()


def test_dialog_buttons_are_enabled_once_the_chat_has_started(browsing) -> None:
    page = browsing.page(make_user())
    page.goto("/")
    for name in ("Browse", "New room"):
        expect(page.locator(".chat-rooms-actions").get_by_role("button", name=name)).to_be_enabled()


def test_scrolling_up_loads_older_history(browsing) -> None:
    owner = make_user()
    room = make_room(owner, name="archive")
    for n in range(120):
        messaging.send_message(owner, room.id, f"history {n:03d}")
    page = browsing.page(owner)
    open_room(page, room.id)
    expect(messages(page)).to_have_count(50)

    scroller = page.locator("#message-scroll")
    for shown in (100, 120):
        scroller.evaluate("box => { box.scrollTop = 0; }")
        expect(messages(page)).to_have_count(shown)
    expect(page.locator("#history-status")).to_have_text("This is the beginning of archive.")
    texts = page.locator("#message-list .msg-text").all_inner_texts()
    assert texts == [f"history {n:03d}" for n in range(120)]


def test_closed_room_shows_a_toast_and_disables_the_composer(browsing) -> None:
    owner, member = make_user(), make_user()
    room = make_room(owner, name="town-hall", members=(member,))
    member_page = browsing.page(member)
    open_room(member_page, room.id)
    owner_page = browsing.page(owner)
    open_room(owner_page, room.id)

    owner_page.get_by_role("button", name="Room settings").click()
    owner_page.get_by_role("button", name="Close room").click()
    expect(member_page.locator("#toasts")).to_contain_text("town-hall was closed")
    expect(composer(member_page)).to_be_disabled()
    expect(member_page.locator("#closed-notice")).to_be_visible()

    owner_page.locator("#closed-reopen").click()
    expect(composer(member_page)).to_be_enabled()
    expect(member_page.locator("#closed-notice")).to_be_hidden()


def test_phone_shows_rooms_and_members_as_off_canvas_panels(browsing) -> None:
    owner, member = make_user(name="Pat Phone"), make_user(name="Mo Member")
    room = make_room(owner, name="pocket", members=(member,))
    make_room(owner, name="second")
    page = browsing.page(owner, viewport=PHONE)
    open_room(page, room.id)
    rooms_panel, members_panel = page.locator("#rooms-panel"), page.locator("#members-panel")
    expect(rooms_panel).to_be_hidden()
    expect(members_panel).to_be_hidden()

    page.get_by_role("button", name="Rooms", exact=True).click()
    expect(rooms_panel).to_be_visible()
    rooms_panel.get_by_role("link", name="second").click()
    expect(rooms_panel).to_be_hidden()
    expect(page.locator("#room-title")).to_have_text("second")

    open_room(page, room.id)
    page.get_by_role("button", name="Members").click()
    expect(members_panel).to_be_visible()
    expect(members_panel.locator("#member-list")).to_contain_text("Mo Member")


def test_enter_sends_and_shift_enter_adds_a_line(browsing) -> None:
    owner = make_user()
    room = make_room(owner)
    page = browsing.page(owner)
    open_room(page, room.id)
    box = composer(page)
    box.press_sequentially("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("first line\nsecond line")
    box.press("Enter")
    expect(confirmed(page)).to_have_text(["first line\nsecond line"])
    expect(box).to_have_value("")


def test_editing_and_deleting_reach_the_other_member(browsing) -> None:
    author, reader = make_user(), make_user()
    room = make_room(author, members=(reader,))
    author_page, reader_page = browsing.page(author), browsing.page(reader)
    open_room(author_page, room.id)
    open_room(reader_page, room.id)
    send(author_page, "draft text")
    sent = messages(author_page).filter(has_text="draft text")
    expect(sent).to_have_attribute("data-id", re.compile(r"^\d+$"))  # confirmed by the server
    own = author_page.locator(f'.msg[data-id="{sent.get_attribute("data-id")}"]')

    own.hover()
    own.get_by_role("button", name="Edit message").click()
    editor = own.get_by_label("Edit message")
    editor.fill("final text")
    editor.press("Enter")
    seen = messages(reader_page).first
    expect(seen.locator(".msg-text")).to_have_text("final text")
    expect(seen).to_contain_text("(edited)")

    own.get_by_role("button", name="Delete message").press("Enter")
    author_page.locator("#confirm-ok").click()
    expect(seen.locator(".msg-text")).to_have_text("message deleted")
    expect(own.locator(".msg-text")).to_have_text("message deleted")


def test_clicking_a_member_opens_a_direct_message(browsing) -> None:
    ada, bob = make_user(name="Ada Direct"), make_user(name="Bob Direct")
    room = make_room(ada, members=(bob,))
    ada_page, bob_page = browsing.page(ada), browsing.page(bob)
    open_room(ada_page, room.id)
    open_room(bob_page, room.id)

    ada_page.locator("#member-list").get_by_role("button", name=re.compile("Bob Direct")).click()
    expect(ada_page.locator("#room-title")).to_have_text("Bob Direct")
    expect(ada_page.locator("#dm-list")).to_contain_text("Bob Direct")
    send(ada_page, "just between us")
    dm_link = bob_page.locator("#dm-list").get_by_role("link", name=re.compile("Ada Direct"))
    expect(dm_link.locator(".unread-badge")).to_have_text("1 unread")
    dm_link.click()
    expect(messages(bob_page).filter(has_text="just between us")).to_have_count(1)


def test_a_refused_send_is_marked_failed_and_retried_once(browsing) -> None:
    owner = make_user()
    room = make_room(owner)
    page = browsing.page(owner)
    open_room(page, room.id)
    rooms.set_room_active(owner, room.id, False)  # the page does not hear of it: it is stale
    send(page, "are you there?")
    failed = page.locator("#message-list .msg-failed")
    expect(failed).to_contain_text("Not sent")

    rooms.set_room_active(owner, room.id, True)
    failed.get_by_role("button", name="Retry").click()
    expect(confirmed(page)).to_have_text(["are you there?"])
    expect(page.locator("#message-list .msg-pending")).to_have_count(0)
    db.session.rollback()  # a fresh snapshot (MariaDB's repeatable read) that sees the live server's write
    stored, _ = messaging.list_messages(owner, room.id)
    assert [message.content for message in stored] == ["are you there?"]


def test_hidden_tab_counts_unread_in_title_and_badge(browsing) -> None:
    writer, reader = make_user(), make_user()
    busy_room = make_room(writer, name="busy", members=(reader,))
    quiet_room = make_room(reader, name="quiet")
    writer_page, reader_page = browsing.page(writer), browsing.page(reader)
    open_room(writer_page, busy_room.id)
    open_room(reader_page, quiet_room.id)
    reader_page.evaluate(
        """() => {
          Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
          document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    send(writer_page, "anyone?")
    busy_link = reader_page.locator("#room-list").get_by_role("link", name=re.compile("busy"))
    expect(busy_link.locator(".unread-badge")).to_have_text("1 unread")
    expect(reader_page).to_have_title(re.compile(r"^\(1\) "))
    expect(reader_page.locator("#favicon")).to_have_attribute("href", re.compile("favicon-unread.svg$"))

    reader_page.evaluate(
        """() => {
          Object.defineProperty(document, "visibilityState", { value: "visible", configurable: true });
          document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    expect(reader_page).to_have_title("#quiet · Parley")
    expect(reader_page.locator("#favicon")).to_have_attribute("href", re.compile("favicon.svg$"))


def test_message_markup_shows_as_text_with_clickable_links(browsing) -> None:
    owner = make_user()
    room = make_room(owner)
    page = browsing.page(owner, password=PASSWORD)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_room(page, room.id)
    text = "<img src=x onerror=alert(1)> see https://example.com/docs"
    send(page, text)
    shown = confirmed(page)
    expect(shown).to_have_text(text)
    expect(shown.get_by_role("link", name="https://example.com/docs")).to_have_attribute(
        "href", "https://example.com/docs"
    )
    expect(shown.locator("img")).to_have_count(0)
    assert dialogs == []


def test_deleted_room_leaves_the_list_and_another_room_opens(browsing) -> None:
    owner, member = make_user(), make_user()
    doomed = make_room(owner, name="doomed", members=(member,))
    make_room(owner, name="survivor", members=(member,))
    member_page, owner_page = browsing.page(member), browsing.page(owner)
    open_room(member_page, doomed.id)
    open_room(owner_page, doomed.id)

    owner_page.get_by_role("button", name="Room settings").click()
    owner_page.get_by_role("button", name="Delete room").click()
    owner_page.locator("#confirm-ok").click()
    expect(member_page.locator("#toasts")).to_contain_text("doomed was deleted")
    expect(member_page.locator("#room-title")).to_have_text("survivor")
    expect(member_page.locator("#room-list")).not_to_contain_text("doomed")
    expect(owner_page.locator("#room-title")).to_have_text("survivor")


def test_signing_out_everywhere_sends_the_chat_to_sign_in(browsing) -> None:
    user = make_user()
    room = make_room(user)
    chat_page, other_page = browsing.page(user), browsing.page(user)
    open_room(chat_page, room.id)
    other_page.goto("/")
    other_page.get_by_role("button", name=re.compile(user.name)).click()
    other_page.get_by_role("button", name="Sign out everywhere").click()
    expect(chat_page).to_have_url(re.compile(r"/login\?next="))


def test_owner_of_a_private_room_sees_its_invite_link(browsing) -> None:
    owner = make_user()
    room = make_room(owner, name="hideout", kind="private")
    page = browsing.page(owner)
    open_room(page, room.id)
    page.get_by_role("button", name="Room settings").click()
    page.get_by_role("button", name="Invite link").click()
    expect(page.get_by_label("Invite link", exact=True)).to_have_value(
        f"{browsing.server.url}/invite/{room.invite_code}"
    )
