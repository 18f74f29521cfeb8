"""The HTML pages' guards: who may see what, and where sign-in leads (their fit with the CSP is
tests/test_security_headers.py's)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

# What a browser sends when it navigates to a page.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

SIGNED_IN_PAGES = ["/", "/profile", "/invite/x", "/admin", "/admin/rooms", "/admin/feedback", "/admin/users"]
ADMIN_PAGES = ["/admin", "/admin/rooms", "/admin/feedback", "/admin/users"]
GUEST_PAGES = ["/login", "/register"]
ANYONE_PAGES = ["/login", "/register", "/forgot", "/reset/some-token"]
ALL_PAGES = [*ANYONE_PAGES, *SIGNED_IN_PAGES]
EVIL_NEXT = ["//evil.example", "/\\evil.example", "https://evil.example/x", "javascript:alert(1)"]

DATA_NEXT = re.compile(r'data-next="([^"]*)"')


def redirect_target(response) -> tuple[str, dict[str, list[str]]]:
    """(path, query) of a redirect's Location."""
    assert response.status_code == 302, response.status_code
    location = urlsplit(response.headers["Location"])
    return location.path, parse_qs(location.query)


def page_html(client, path: str) -> str:
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 200, (path, response.status_code)
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


# Signed-out visitors


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_anonymous_visitor_is_sent_to_sign_in_and_back(client, path: str) -> None:
    target, query = redirect_target(client.get(path, headers=BROWSER))
    assert target == "/login"
    assert query == {"next": [path]}


def test_sign_in_redirect_keeps_the_query_string(client) -> None:
    _, query = redirect_target(client.get("/?room=7", headers=BROWSER))
    assert query == {"next": ["/?room=7"]}


@pytest.mark.parametrize("path", ANYONE_PAGES)
def test_signed_out_pages_open_for_anonymous_visitors(client, path: str) -> None:
    assert "<form" in page_html(client, path)


def test_login_page_carries_a_safe_next_for_after_sign_in(client) -> None:
    html = page_html(client, "/login?next=/invite/abc")
    assert DATA_NEXT.findall(html) == ["/invite/abc"]


def test_login_page_keeps_next_on_its_register_link(client) -> None:
    html = page_html(client, "/login?next=/invite/abc")
    assert 'href="/register?next=/invite/abc"' in html


def test_register_page_carries_a_safe_next_for_after_sign_up(client) -> None:
    html = page_html(client, "/register?next=/profile")
    assert DATA_NEXT.findall(html) == ["/profile"]


@pytest.mark.parametrize("path", GUEST_PAGES)
@pytest.mark.parametrize("evil", EVIL_NEXT)
def test_sign_in_pages_ignore_a_next_that_leaves_the_site(client, path: str, evil: str) -> None:
    html = page_html(client, path + "?next=" + evil)
    assert DATA_NEXT.findall(html) == ["/"]


# Signed-in visitors


@pytest.mark.parametrize("path", GUEST_PAGES)
def test_signed_in_visitor_of_a_sign_in_page_goes_to_the_chat(member_session, path: str) -> None:
    assert redirect_target(member_session.get(path, headers=BROWSER)) == ("/", {})


@pytest.mark.parametrize("path", GUEST_PAGES)
def test_signed_in_visitor_of_a_sign_in_page_follows_a_safe_next(member_session, path: str) -> None:
    response = member_session.get(path + "?next=/profile", headers=BROWSER)
    assert redirect_target(response) == ("/profile", {})


@pytest.mark.parametrize("path", GUEST_PAGES)
@pytest.mark.parametrize("evil", EVIL_NEXT)
def test_signed_in_visitor_is_never_sent_off_site(member_session, path: str, evil: str) -> None:
    response = member_session.get(path + "?next=" + evil, headers=BROWSER)
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_are_a_403_html_page_for_members(member_session, path: str) -> None:
    response = member_session.get(path, headers=BROWSER)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "administrators" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_open_for_admins(admin_session, path: str) -> None:
    assert "<main" in page_html(admin_session, path)


@pytest.mark.parametrize("accept", ["application/json", "*/*"])
def test_admin_users_still_answers_the_json_api(admin_session, admin, accept: str) -> None:
    response = admin_session.get("/admin/users", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert admin.id in [user["id"] for user in response.get_json()["users"]]
