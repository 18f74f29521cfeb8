"""Real browsers for the UI tests: Debian's chromium driven by Playwright against a real server.

Playwright never downloads a browser here: it launches /usr/bin/chromium (installed by
`make test`'s set-up). The server is `python wsgi.py` on the test run's database, so tests
create users and rooms with the factories and then look at them in the browser.
"""

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright

from app.models import User
from tests.factories import PASSWORD
from tests.test_wsgi_server import ROOT, Server, server_env, stop, wait_until_healthy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Socket.IO reconnects after at most a few seconds; pages wait this long for anything live.
EXPECT_TIMEOUT_MS = 10_000


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless; a clear failure if it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian's chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@dataclass
class LiveServer:
    """`python wsgi.py` that can be stopped and started again on the same port and secret key,
    so pages and their session cookies survive a restart."""

    folder: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    server: Server | None = None

    def __post_init__(self) -> None:
        self.env = server_env(self.folder, BCRYPT_ROUNDS="4")
        self.env["DATABASE_URL"] = self.database_url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self) -> None:
        """Start the server and wait until /health answers."""
        log = self.folder / "server.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "wsgi.py"], cwd=ROOT, env=self.env, stdout=sink, stderr=subprocess.STDOUT
            )
        self.server = Server(self.url, process, log)
        wait_until_healthy(self.server)

    def stop(self) -> None:
        """Stop the server (its sockets close; pages start reconnecting)."""
        if self.server is not None:
            stop(self.server.process)
            self.server = None

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()


@contextmanager
def live_server_on(folder: Path, database_url: str) -> Iterator[LiveServer]:
    """A started LiveServer, always stopped afterwards."""
    live = LiveServer(folder, database_url)
    live.start()
    try:
        yield live
    finally:
        live.stop()


class PageErrors:
    """Uncaught exceptions and console errors of a page: a test fails if any appear."""

    # Failed requests the test caused on purpose (a refused socket after sign-out, a 4xx the
    # page shows to the user) are logged by chromium as console errors; they are not bugs.
    EXPECTED = re.compile(r"Failed to load resource|WebSocket connection to .* failed|socket\.io")
    # ...unless the Content-Security-Policy refused it: that is a page the policy breaks.
    POLICY = re.compile(r"Content Security Policy")

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        expected = self.EXPECTED.search(message.text) and not self.POLICY.search(message.text)
        if message.type == "error" and not expected:
            self.errors.append(f"console: {message.text}")


@dataclass
class Browsing:
    """Opens signed-in (or anonymous) pages, each in its own browser context."""

    browser: Browser
    server: LiveServer
    errors: PageErrors = field(default_factory=PageErrors)
    contexts: list[BrowserContext] = field(default_factory=list)

    def page(
        self, user: User | None = None, *, password: str = PASSWORD, viewport: dict | None = None
    ) -> Page:
        """A new page in a fresh context, signed in as user when given."""
        context = self.browser.new_context(
            base_url=self.server.url, viewport=viewport or DESKTOP, locale="en-GB", timezone_id="UTC"
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        self.contexts.append(context)
        if user is not None:
            answer = context.request.post("/auth/login", data={"email": user.email, "password": password})
            assert answer.ok, answer.text()
        page = context.new_page()
        self.errors.watch(page)
        return page

    def close(self) -> None:
        for context in self.contexts:
            with suppress(Exception):  # a context whose page crashed is already gone
                context.close()
