"""Security headers (app/headers.py): the Content-Security-Policy on every page, a policy that
allows nothing on every other response, the usual headers everywhere, and HSTS only in
production over HTTPS. Plus the proof that the page policy fits: no rendered page has inline
script, inline style or a javascript: URL (the browser tests then run every page under it).
"""

from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.headers import COMMON_HEADERS, OTHER_CSP, PAGE_CSP
from tests.conftest import Session
from tests.factories import make_room, make_user

# What a browser sends when it navigates to a page.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HTTPS = {"X-Forwarded-Proto": "https"}

ANYONE_PAGES = ["/login", "/register", "/forgot", "/reset/some-token", "/docs"]
ADMIN_PAGES = [
    "/",
    "/profile",
    "/invite/some-code",
    "/admin",
    "/admin/rooms",
    "/admin/feedback",
    "/admin/users",
]
API_READS = ["/health", "/version", "/openapi.json", "/auth/csrf", "/rooms", "/users", "/feedback"]


@pytest.fixture
def visitor(request: pytest.FixtureRequest):
    """visitor(path): a client that may open the page (anonymous, or an admin for the rest)."""

    def pick(path: str) -> FlaskClient | Session:
        return request.getfixturevalue("client" if path in ANYONE_PAGES else "admin_session")

    return pick


def page(client: FlaskClient | Session, path: str):
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 200, (path, response.status_code)
    assert response.mimetype == "text/html"
    return response


# -- the policies ------------------------------------------------------------------------------


def test_page_policy_allows_only_this_sites_files():
    assert PAGE_CSP == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def test_no_policy_allows_inline_code_or_eval():
    for policy in (PAGE_CSP, OTHER_CSP):
        assert "unsafe" not in policy
        assert "*" not in policy


@pytest.mark.parametrize("path", ANYONE_PAGES + ADMIN_PAGES)
def test_every_page_carries_the_page_policy(visitor, path: str):
    assert page(visitor(path), path).headers["Content-Security-Policy"] == PAGE_CSP


@pytest.mark.parametrize("path", ANYONE_PAGES + ADMIN_PAGES)
def test_every_page_carries_the_common_headers(visitor, path: str):
    headers = page(visitor(path), path).headers
    assert {name: headers.get(name) for name in COMMON_HEADERS} == COMMON_HEADERS


def test_the_error_page_carries_the_page_policy(member_session):
    response = member_session.get("/admin", headers=BROWSER)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == PAGE_CSP


def test_a_redirect_to_sign_in_carries_the_headers(client):
    response = client.get("/profile", headers=BROWSER)
    assert response.status_code == 302
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", API_READS)
def test_api_answers_carry_the_policy_that_allows_nothing(admin_session, path: str):
    response = admin_session.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert response.mimetype == "application/json"
    assert response.headers["Content-Security-Policy"] == OTHER_CSP


@pytest.mark.parametrize("path", API_READS)
def test_api_answers_carry_the_common_headers(admin_session, path: str):
    headers = admin_session.get(path).headers
    assert {name: headers.get(name) for name in COMMON_HEADERS} == COMMON_HEADERS


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/auth/me", 401),
        ("GET", "/no-such-path", 404),
        ("DELETE", "/health", 405),
        ("POST", "/rooms", 401),
    ],
)
def test_error_envelopes_carry_the_headers(client, method: str, path: str, status: int):
    response = client.open(path, method=method, json={})
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.headers["Content-Security-Policy"] == OTHER_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_static_files_carry_the_policy_that_allows_nothing(client):
    response = client.get("/static/img/avatar.svg")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == OTHER_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_a_view_that_sets_a_header_keeps_its_own_value(app: Flask, client):
    app.add_url_rule("/_framed", "framed", lambda: ("ok", 200, {"X-Frame-Options": "SAMEORIGIN"}))
    assert client.get("/_framed").headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]


# -- HSTS --------------------------------------------------------------------------------------


@pytest.fixture
def app_client(make_app, monkeypatch):
    """app_client(env, hops): a test client of an app in that PARLEY_ENV behind hops proxies."""
    monkeypatch.setenv("SECRET_KEY", "a real secret from the environment")  # production needs one

    def build(env: str, hops: int = 1) -> FlaskClient:
        return make_app(PARLEY_ENV=env, TRUSTED_PROXIES=hops).test_client()

    return build


def test_development_sends_no_hsts_even_over_https(app_client):
    assert "Strict-Transport-Security" not in app_client("development").get("/health", headers=HTTPS).headers


def test_production_sends_hsts_over_https(app_client):
    response = app_client("production").get("/health", headers=HTTPS)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_production_sends_no_hsts_over_plain_http(app_client):
    assert "Strict-Transport-Security" not in app_client("production").get("/health").headers


def test_production_believes_https_only_from_a_trusted_proxy(app_client):
    response = app_client("production", hops=0).get("/health", headers=HTTPS)
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_max_age_is_configurable(app_client, monkeypatch):
    monkeypatch.setenv("HSTS_MAX_AGE", "600")
    response = app_client("production").get("/health", headers=HTTPS)
    assert response.headers["Strict-Transport-Security"] == "max-age=600"


def test_hsts_max_age_0_turns_it_off_in_production(app_client, monkeypatch):
    monkeypatch.setenv("HSTS_MAX_AGE", "0")
    assert "Strict-Transport-Security" not in app_client("production").get("/health", headers=HTTPS).headers


# -- the pages fit the page policy -------------------------------------------------------------


class InlineCode(HTMLParser):
    """Collects what a strict policy would block: inline script and style, handlers, js: URLs."""

    URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "data", "poster"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        if tag in ("script", "style"):
            self._in = tag
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style=...>")
            if name in self.URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in and data.strip():
            self.found.append(f"code inside <{self._in}>: {data.strip()[:60]!r}")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<script src=''></script>",
        "<script src=/a.js>alert(1)</script>",
        "<style>p{}</style>",
        "<p style='color: red'>a</p>",
        "<img src=x onerror=alert(1)>",
        "<a href=' JavaScript:alert(1)'>z</a>",
    ],
)
def test_the_inline_code_finder_finds_inline_code(html: str):
    assert inline_code(html) != []


def test_the_inline_code_finder_passes_script_files_and_plain_markup():
    assert inline_code("<script type=module src=/a.js></script><a href=/x class=y>z</a>") == []


@pytest.mark.parametrize("path", ANYONE_PAGES + ADMIN_PAGES)
def test_page_has_no_inline_code(visitor, path: str):
    assert inline_code(page(visitor(path), path).get_data(as_text=True)) == []


def test_the_error_page_has_no_inline_code(member_session):
    assert inline_code(member_session.get("/admin", headers=BROWSER).get_data(as_text=True)) == []


def test_a_signed_in_page_keeps_a_hostile_user_name_inert(login):
    user = make_user(name='"><script>alert(1)</script>')
    make_room(user, name="<style>x</style>")
    assert inline_code(page(login(user), "/").get_data(as_text=True)) == []
