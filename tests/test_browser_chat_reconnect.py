"""The chat page survives a server restart: it shows "Reconnecting…", reconnects by itself and
catches up on the messages sent meanwhile, each shown once.

A private `python wsgi.py` (stopped and started by the test) on the run's database; the
messages written while it is down go in through the services of the test process.
"""

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from tests.browser_support import Browsing, LiveServer, live_server_on
from tests.factories import make_message, make_room, make_user


@pytest.fixture(scope="module")
def restartable_server(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, _schema: None
) -> Iterator[LiveServer]:
    """A server of this module alone, so stopping it disturbs no other test."""
    with live_server_on(tmp_path_factory.mktemp("chat-restart"), database_url) as server:
        yield server


@pytest.fixture
def restart_browsing(app: Flask, chromium: Browser, restartable_server: LiveServer) -> Iterator[Browsing]:
    """Pages on the restartable server; the test fails if a page throws or logs an error."""
    session = Browsing(chromium, restartable_server)
    yield session
    session.close()
    if restartable_server.server is None:  # a failed test may leave it stopped
        restartable_server.start()
    assert session.errors.errors == [], "\n".join(session.errors.errors)


def test_page_reconnects_after_a_restart_and_catches_up(restart_browsing: Browsing) -> None:
    owner, member = make_user(), make_user()
    room = make_room(owner, name="resilient", members=(member,))
    page = restart_browsing.page(member)
    page.goto(f"/?room={room.id}")
    expect(page.locator(f'#message-list[data-room-id="{room.id}"]')).to_be_attached()
    page.locator("#composer-input").fill("before the restart")
    page.locator("#composer-input").press("Enter")
    expect(page.locator("#message-list .msg[data-id]")).to_have_count(1)
    banner = page.get_by_role("status").filter(has_text="Reconnecting…")

    restart_browsing.server.stop()
    expect(banner).to_be_visible()
    make_message(owner, room, "sent while you were away")
    make_message(owner, room, "and another one")
    restart_browsing.server.start()

    expect(banner).to_be_hidden(timeout=20_000)
    texts = page.locator("#message-list .msg-text")
    expect(texts).to_have_text(["before the restart", "sent while you were away", "and another one"])
