"""Browser sessions kept on the server (services/sessions): cookie flags, renewal at login, and
sessions ended for good by logout, logout everywhere, password change and deactivation, over
REST and Socket.IO, with the Flask test client and against a real `python wsgi.py` process."""

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import User, UserSession, utcnow
from app.realtime import namespace as chat_namespace
from app.services import accounts, api_tokens, sessions, users
from tests.conftest import (
    Session,
    assert_ack_error,
    assert_error,
    at_once,
    open_chat_socket,
    recording_statements,
    sign_in,
)
from tests.factories import PASSWORD, make_user
from tests.test_realtime_wire import NAMESPACE, WAIT, Peer, Refused
from tests.test_wsgi_server import Server, start_server

COOKIE = "parley_session"
NEW_PASSWORD = "a brand new passphrase"


def copy_of_cookie(app: Flask, client: FlaskClient) -> FlaskClient:
    """A fresh client holding the same session cookie: what someone who copied it would replay."""
    replay = app.test_client()
    replay.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return replay


def cookie_secret(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return session.get("session_key", "")


def session_rows(user: User) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(UserSession).where(UserSession.user_id == user.id)))


def change_password(session: Session):
    return session.put("/auth/profile", json={"password": NEW_PASSWORD, "current_password": PASSWORD})


def age_sessions(user: User, by: timedelta) -> None:
    """Pretend the user's sessions were last seen `by` ago."""
    seen = utcnow() - by
    db.session.execute(sa.update(UserSession).where(UserSession.user_id == user.id).values(last_seen_at=seen))
    db.session.commit()


# -- cookie flags --------------------------------------------------------------------------


def test_session_cookie_is_httponly_samesite_lax_and_not_secure_outside_production(client, member):
    cookie = client.post("/auth/login", json={"email": member.email, "password": PASSWORD}).headers[
        "Set-Cookie"
    ]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@pytest.fixture
def production_app(make_app, monkeypatch) -> Iterator[Flask]:
    monkeypatch.setenv("SECRET_KEY", "production-" + "x" * 32)  # production refuses to start without
    application = make_app(PARLEY_ENV="production")
    with application.app_context():
        yield application


def test_production_session_cookie_is_secure_httponly_and_samesite_lax(production_app):
    user = make_user()
    client = production_app.test_client()
    response = client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


# -- renewed at login (no session fixation) --------------------------------------------------


def test_a_cookie_from_before_login_does_not_become_signed_in(app, client, member):
    client.get("/auth/csrf")  # an anonymous cookie, as someone could plant in a victim's browser
    planted = copy_of_cookie(app, client)
    client.post("/auth/login", json={"email": member.email, "password": PASSWORD})
    assert_error(planted.get("/auth/me"), 401, "unauthorized")


def test_login_replaces_a_planted_session_secret(client, member):
    with client.session_transaction() as session:
        session["session_key"] = "planted-by-someone-else"
    client.post("/auth/login", json={"email": member.email, "password": PASSWORD})
    assert cookie_secret(client) not in ("", "planted-by-someone-else")
    assert db.session.get(UserSession, sessions.id_for_secret("planted-by-someone-else")) is None


def test_signing_in_again_ends_the_browsers_previous_session(app, login, member, owner):
    first = login(member)
    copied = copy_of_cookie(app, first.client)
    first.client.post("/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert_error(copied.get("/auth/me"), 401, "unauthorized")
    assert session_rows(member) == []


def test_the_database_keeps_only_a_hash_of_the_cookies_secret(member_session):
    secret = cookie_secret(member_session.client)
    (row,) = session_rows(member_session.user)
    assert row.id == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (row.id, row.user_agent, row.ip)


def test_login_records_the_browser_and_address(client, member):
    headers = {"User-Agent": "Firefox/140 " + "x" * 300}
    client.post("/auth/login", json={"email": member.email, "password": PASSWORD}, headers=headers)
    (row,) = session_rows(member)
    assert row.user_agent == headers["User-Agent"][:255]
    assert row.ip == "127.0.0.1"


def test_register_opens_a_server_side_session(client):
    body = {"email": "new@example.com", "password": PASSWORD, "name": "New"}
    user_id = client.post("/auth/register", json=body).get_json()["user"]["id"]
    assert len(session_rows(db.session.get(User, user_id))) == 1


# -- logout ------------------------------------------------------------------------------------


def test_a_replayed_cookie_gets_401_after_logout(app, member_session):
    copied = copy_of_cookie(app, member_session.client)
    assert member_session.post("/auth/logout").status_code == 200
    assert_error(copied.get("/auth/me"), 401, "unauthorized")


def test_a_replayed_cookie_cannot_act_after_logout(app, member_session):
    copied = copy_of_cookie(app, member_session.client)
    member_session.post("/auth/logout")
    response = copied.post("/rooms", json={"name": "Sneaky"}, headers=member_session.headers)
    assert_error(response, 401, "unauthorized")


def test_a_replayed_cookie_is_refused_a_socket_after_logout(app, member_session):
    copied = copy_of_cookie(app, member_session.client)
    member_session.post("/auth/logout")
    raw = open_chat_socket(app, flask_client=copied)
    assert not raw.is_connected(NAMESPACE)


def test_logout_deletes_only_its_own_session(login, member):
    laptop, phone = login(member), login(member)
    laptop.post("/auth/logout")
    assert [row.id for row in session_rows(member)] == [sessions.id_for_secret(cookie_secret(phone.client))]


def test_logout_everywhere_deletes_every_session_of_the_user(login, member, owner):
    laptop, _phone, _other = login(member), login(member), login(owner)
    laptop.post("/auth/logout", json={"everywhere": True})
    assert session_rows(member) == []
    assert len(session_rows(owner)) == 1


def test_a_replayed_cookie_of_another_device_gets_401_after_logout_everywhere(app, login, member):
    laptop, phone = login(member), login(member)
    copied = copy_of_cookie(app, phone.client)
    laptop.post("/auth/logout", json={"everywhere": True})
    assert_error(copied.get("/auth/me"), 401, "unauthorized")


def test_logout_with_a_token_leaves_the_browser_sessions_alone(client, member_session, member):
    _, secret = api_tokens.create_token(member.email, PASSWORD, "script")
    assert client.post("/auth/logout", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert member_session.get("/auth/me").status_code == 200


def test_a_session_ended_while_its_socket_is_open_is_refused_at_the_next_event(
    chat, member_session, room, monkeypatch
):
    monkeypatch.setattr(chat_namespace, "IDENTITY_RECHECK_SECONDS", 0)
    client = chat(member_session)
    # Another process deleted the row and its push to this socket was lost.
    db.session.execute(sa.delete(UserSession))
    db.session.commit()
    assert_ack_error(client.call("join_room", {"room_id": room.id}), "session_ended")
    client.wait_closed()


# -- password change and reset ---------------------------------------------------------------------


def test_password_change_keeps_the_current_browser_signed_in(member_session):
    assert change_password(member_session).status_code == 200
    assert member_session.get("/auth/me").status_code == 200


def test_password_change_keeps_the_current_csrf_token_working(member_session):
    change_password(member_session)
    assert member_session.put("/auth/profile", json={"name": "Still Me"}).status_code == 200


def test_password_change_ends_the_other_sessions(login, member):
    laptop, phone = login(member), login(member)
    change_password(laptop)
    assert_error(phone.get("/auth/me"), 401, "unauthorized")


def test_password_change_ends_a_copy_of_the_current_cookie(app, member_session):
    copied = copy_of_cookie(app, member_session.client)
    change_password(member_session)
    assert_error(copied.get("/auth/me"), 401, "unauthorized")


def test_password_change_leaves_one_session_the_current_browsers(login, member):
    laptop, _phone = login(member), login(member)
    change_password(laptop)
    assert [row.id for row in session_rows(member)] == [sessions.id_for_secret(cookie_secret(laptop.client))]


def test_password_change_with_a_token_ends_every_browser_session(client, member_session, member):
    _, secret = api_tokens.create_token(member.email, PASSWORD, "script")
    body = {"password": NEW_PASSWORD, "current_password": PASSWORD}
    response = client.put("/auth/profile", json=body, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert_error(member_session.get("/auth/me"), 401, "unauthorized")


def test_a_refused_password_change_ends_nothing(login, member):
    laptop, phone = login(member), login(member)
    response = laptop.put("/auth/profile", json={"password": NEW_PASSWORD, "current_password": "wrong one!"})
    assert response.status_code == 422
    assert phone.get("/auth/me").status_code == 200


def test_the_current_browser_opens_a_socket_after_a_password_change(app, member_session):
    change_password(member_session)
    raw = open_chat_socket(app, flask_client=member_session.client)
    assert raw.is_connected(NAMESPACE)
    raw.disconnect(NAMESPACE)


def test_password_reset_ends_every_session(member_session, member):
    accounts.reset_password(_reset_token(member), NEW_PASSWORD)
    assert session_rows(member) == []
    assert_error(member_session.get("/auth/me"), 401, "unauthorized")


def _reset_token(user: User) -> str:
    # What the mailed link carries (tests/test_password_reset.py checks the mail itself).
    return accounts._reset_serializer().dumps({"uid": user.id, "fp": accounts._reset_fingerprint(user)})


# -- deactivation -----------------------------------------------------------------------------------


def test_deactivation_deletes_every_session_of_the_user(admin_session, member_session, member):
    assert admin_session.patch(f"/users/{member.id}", json={"is_active": False}).status_code == 200
    assert session_rows(member) == []


def test_a_cookie_from_before_deactivation_stays_ended_after_reactivation(
    admin_session, member_session, member
):
    admin_session.patch(f"/users/{member.id}", json={"is_active": False})
    admin_session.patch(f"/users/{member.id}", json={"is_active": True})
    assert_error(member_session.get("/auth/me"), 401, "unauthorized")


def test_a_refused_deactivation_ends_nothing(admin, admin_session):
    # The last active admin cannot be deactivated: the transaction, session rows included, rolls back.
    assert_error(admin_session.patch(f"/users/{admin.id}", json={"is_active": False}), 409, "last_admin")
    assert admin_session.get("/auth/me").status_code == 200


# -- expiry, last seen, clean-up ---------------------------------------------------------------------


def test_a_session_unseen_for_the_session_lifetime_no_longer_signs_in(app, member_session, member):
    age_sessions(member, app.config["PERMANENT_SESSION_LIFETIME"] + timedelta(seconds=1))
    assert_error(member_session.get("/auth/me"), 401, "unauthorized")


def test_session_lifetime_days_sets_how_long_an_unused_session_lives(make_app, monkeypatch):
    monkeypatch.setenv("SESSION_LIFETIME_DAYS", "7")
    application = make_app()
    with application.app_context():
        user = make_user()
        session = sign_in(application.test_client(), user)
        age_sessions(user, timedelta(days=7, seconds=1))
        assert_error(session.get("/auth/me"), 401, "unauthorized")


def test_a_request_after_the_touch_interval_records_that_the_session_was_seen(member_session, member):
    age_sessions(member, sessions.TOUCH_INTERVAL * 2)
    before = utcnow()
    member_session.get("/auth/me")
    (row,) = session_rows(member)
    assert row.last_seen_at >= before


def test_requests_within_the_touch_interval_write_nothing(member_session):
    with recording_statements() as statements:
        assert member_session.get("/auth/me").status_code == 200
    assert not [sql for sql in statements if sql.lstrip().upper().startswith("UPDATE")], statements


def test_a_cookie_request_checks_the_session_and_the_user_in_one_query(member_session):
    with recording_statements() as statements:
        member_session.get("/auth/me")
    checks = [sql for sql in statements if "user_sessions" in sql]
    assert len(checks) == 1, statements
    assert "JOIN user_sessions" in checks[0]


def test_signing_in_deletes_the_users_expired_sessions(app, login, member):
    login(member)
    age_sessions(member, app.config["PERMANENT_SESSION_LIFETIME"] + timedelta(minutes=1))
    fresh = login(member)
    assert [row.id for row in session_rows(member)] == [sessions.id_for_secret(cookie_secret(fresh.client))]


def test_purge_expired_deletes_only_expired_sessions(app, login, member, owner):
    login(member)
    kept = login(owner)
    age_sessions(member, app.config["PERMANENT_SESSION_LIFETIME"] + timedelta(minutes=1))
    assert sessions.purge_expired() == 1
    assert session_rows(member) == []
    assert [row.id for row in session_rows(owner)] == [sessions.id_for_secret(cookie_secret(kept.client))]


def test_purge_sessions_command_deletes_the_expired_and_says_how_many(app, runner, login, member, owner):
    login(member)
    login(owner)
    age_sessions(member, app.config["PERMANENT_SESSION_LIFETIME"] + timedelta(minutes=1))
    result = runner.invoke(args=["purge-sessions"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Deleted 1 expired sessions."
    assert session_rows(member) == []
    assert len(session_rows(owner)) == 1


def test_deleting_a_user_deletes_their_sessions(member_session, member):
    user_id = member.id
    db.session.execute(sa.delete(User).where(User.id == user_id))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0


def test_deactivating_through_the_service_ends_sessions(member_session, member, admin):
    users.update_user(member.id, is_active=False)
    assert_error(member_session.get("/auth/me"), 401, "unauthorized")


def test_sign_ins_at_the_same_moment_all_succeed(app):
    people = [make_user() for _ in range(6)]

    def not_signed_in(client: FlaskClient, user: User) -> Session:
        return Session(client, user, csrf_token="")

    def log_in(session: Session, _n: int):
        return session.client.post("/auth/login", json={"email": session.user.email, "password": PASSWORD})

    results = at_once(app, people, log_in, start=not_signed_in)
    assert [status for status, _ in results] == [200] * len(people), results


# -- a real server process ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python wsgi.py` on a fresh SQLite file that `flask db upgrade` made (revision 0003 included)."""
    with start_server(Path(tmp_path_factory.mktemp("sessions"))) as running:
        yield running


def _register(server: Server, email: str) -> tuple[requests.Session, str]:
    """A browser that signed up: its cookie jar and CSRF token."""
    browser = requests.Session()
    body = {"email": email, "password": PASSWORD, "name": "Wire"}
    response = browser.post(f"{server.url}/auth/register", json=body, timeout=WAIT)
    assert response.status_code == 201, response.text
    return browser, response.json()["csrf_token"]


def _cookie_header(browser: requests.Session) -> str:
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def test_a_replayed_cookie_gets_401_after_logout_on_a_real_server(server):
    browser, csrf_token = _register(server, "replay-rest@example.com")
    copied = _cookie_header(browser)
    response = browser.post(f"{server.url}/auth/logout", headers={"X-CSRFToken": csrf_token}, timeout=WAIT)
    assert response.status_code == 200
    replay = requests.get(f"{server.url}/auth/me", headers={"Cookie": copied}, timeout=WAIT)
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "unauthorized"


def test_logout_closes_the_sessions_socket_and_refuses_its_replay_on_a_real_server(server):
    browser, csrf_token = _register(server, "replay-socket@example.com")
    copied = _cookie_header(browser)
    socket = Peer(server, "browser", [server]).connect([NAMESPACE], headers={"Cookie": copied})
    try:
        socket.wait_for("online_users")
        browser.post(f"{server.url}/auth/logout", headers={"X-CSRFToken": csrf_token}, timeout=WAIT)
        socket.wait_disconnected()
        assert socket.of("session_ended") == [{"reason": "signed_out"}]
    finally:
        socket.close()
    replay = Peer(server, "replay", [server])
    with pytest.raises(Refused) as refused:
        replay.connect([NAMESPACE], headers={"Cookie": copied})
    assert refused.value.code == "unauthorized"
