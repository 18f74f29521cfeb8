"""Registration, sign-in, sessions, CSRF and the profile."""

import pytest

from app.extensions import db
from app.models import User
from app.services.passwords import verify_password
from tests.conftest import sign_in
from tests.factories import PASSWORD, make_user

VALID = {"email": "New.Person@Example.com", "password": "correct horse battery", "name": "  New Person  "}


# -- register -----------------------------------------------------------------------------


def test_register_creates_a_signed_in_member(client):
    response = client.post("/auth/register", json=VALID)
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"]["email"] == "new.person@example.com"
    assert body["user"]["name"] == "New Person"
    assert body["user"]["role"] == "member"
    assert body["csrf_token"]
    assert client.get("/auth/me").get_json()["user"]["id"] == body["user"]["id"]


def test_register_stores_a_bcrypt_hash_not_the_password(client):
    client.post("/auth/register", json=VALID)
    user = db.session.scalar(db.select(User))
    assert user.password_hash.startswith("$2b$")
    assert VALID["password"] not in user.password_hash


def test_register_refuses_a_taken_email_case_insensitively(client):
    make_user(email="taken@example.com")
    response = client.post("/auth/register", json={**VALID, "email": "TAKEN@example.com"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "email_taken"
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 65}, "name"),
        ({"email": None}, "email"),
        ({"password": 123456789012}, "password"),
        ({"surprise": "field"}, "surprise"),
    ],
)
def test_register_rejects_invalid_fields_with_422(client, change, field):
    response = client.post("/auth/register", json={**VALID, **change})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["fields"]


def test_register_reports_every_missing_field(client):
    response = client.post("/auth/register", json={})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"email", "password", "name"}


def test_register_keeps_a_password_with_surrounding_spaces_exactly(client):
    password = "  spaced out password  "
    client.post("/auth/register", json={**VALID, "password": password})
    user = db.session.scalar(db.select(User))
    assert verify_password(password, user.password_hash)
    assert not verify_password(password.strip(), user.password_hash)


def test_register_keeps_emoji_in_names(client):
    response = client.post("/auth/register", json={**VALID, "name": "Zoë 🦊"})
    assert response.get_json()["user"]["name"] == "Zoë 🦊"
    db.session.expire_all()
    assert db.session.scalar(db.select(User.name)) == "Zoë 🦊"


# -- malformed bodies (shared by every JSON endpoint through one parser) -------------------


def test_malformed_json_is_400(client):
    response = client.post("/auth/register", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_json_that_is_not_an_object_is_400(client):
    response = client.post("/auth/register", json=["a", "list"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_body"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_body_is_415(client, content_type):
    response = client.post("/auth/register", data="email=a@b.c", content_type=content_type)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


# -- login --------------------------------------------------------------------------------


def test_login_signs_in_and_returns_user_and_csrf(client, member):
    response = client.post("/auth/login", json={"email": member.email.upper(), "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["id"] == member.id
    assert body["user"]["email"] == member.email
    assert body["csrf_token"]


def test_wrong_password_and_unknown_email_get_the_identical_401(client, member):
    wrong = client.post("/auth/login", json={"email": member.email, "password": "wrong password!"})
    unknown = client.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"]["code"] == "invalid_credentials"


def test_deactivated_user_cannot_log_in(client):
    user = make_user(is_active=False)
    response = client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "account_disabled"


def test_deactivated_user_with_a_wrong_password_learns_nothing(client):
    user = make_user(is_active=False)
    response = client.post("/auth/login", json={"email": user.email, "password": "not the password"})
    assert response.status_code == 401


def test_login_needs_no_csrf_token(client, member):
    response = client.post("/auth/login", json={"email": member.email, "password": PASSWORD})
    assert response.status_code == 200


def test_login_with_missing_fields_is_422(client):
    response = client.post("/auth/login", json={"email": "a@example.com"})
    assert response.status_code == 422
    assert "password" in response.get_json()["error"]["fields"]


def test_login_renews_the_session(client, member):
    client.get("/auth/csrf")
    before = client.get_cookie("parley_session").value
    with client.session_transaction() as session:
        secret_before = session["csrf_token"]
    client.post("/auth/login", json={"email": member.email, "password": PASSWORD})
    after = client.get_cookie("parley_session").value
    assert before != after
    with client.session_transaction() as session:
        assert session["csrf_token"] != secret_before  # the pre-login CSRF secret is gone


def test_csrf_token_from_before_login_is_refused_after_it(client, member):
    stale = client.get("/auth/csrf").get_json()["csrf_token"]
    client.post("/auth/login", json={"email": member.email, "password": PASSWORD})
    response = client.put("/auth/profile", json={"name": "X"}, headers={"X-CSRFToken": stale})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "csrf_failed"


def test_remember_me_makes_the_cookie_persistent(client, member):
    client.post("/auth/login", json={"email": member.email, "password": PASSWORD, "remember": True})
    assert client.get_cookie("parley_session").expires is not None


def test_session_cookie_is_httponly_and_samesite_lax(client, member):
    response = client.post("/auth/login", json={"email": member.email, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_long_password_logs_in_with_itself_and_not_its_first_72_bytes(client):
    password = "é" * 40 + "tail"  # 84 bytes in UTF-8: more than bcrypt reads
    user = make_user(password=password)
    first_72_bytes = password.encode()[:72].decode()
    assert (
        client.post("/auth/login", json={"email": user.email, "password": first_72_bytes}).status_code == 401
    )
    assert client.post("/auth/login", json={"email": user.email, "password": password}).status_code == 200


def test_passwords_that_share_72_bytes_are_different(client):
    prefix = "a" * 72
    user = make_user(password=prefix + "one")
    assert (
        client.post("/auth/login", json={"email": user.email, "password": prefix + "two"}).status_code == 401
    )


# -- me, csrf, logout ---------------------------------------------------------------------


def test_me_needs_a_session(client):
    response = client.get("/auth/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_me_returns_the_user_with_email_and_a_csrf_token(member_session):
    body = member_session.get("/auth/me").get_json()
    assert body["user"]["email"] == member_session.user.email
    assert set(body["user"]) >= {"id", "name", "role", "avatar_url", "created_at", "online", "email"}
    assert body["user"]["created_at"].endswith("Z")
    assert body["csrf_token"]


def test_csrf_endpoint_works_for_anyone(client):
    response = client.get("/auth/csrf")
    assert response.status_code == 200
    assert response.get_json()["csrf_token"]


def test_logout_ends_the_session(member_session):
    assert member_session.post("/auth/logout").get_json() == {"ok": True}
    assert member_session.get("/auth/me").status_code == 401


def test_logout_without_csrf_token_is_refused(member_session):
    response = member_session.client.post("/auth/logout")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert member_session.get("/auth/me").status_code == 200


def test_logout_when_signed_out_is_401(client):
    assert client.post("/auth/logout").status_code == 401


def test_logout_everywhere_ends_other_sessions(login, member):
    laptop, phone = login(member), login(member)
    laptop.post("/auth/logout", json={"everywhere": True})
    assert phone.get("/auth/me").status_code == 401
    assert laptop.get("/auth/me").status_code == 401


def test_plain_logout_leaves_other_sessions_alone(login, member):
    laptop, phone = login(member), login(member)
    laptop.post("/auth/logout")
    assert phone.get("/auth/me").status_code == 200


def test_a_replayed_cookie_is_refused_after_logout_everywhere(app, login, member):
    session = login(member)
    old_cookie = session.client.get_cookie("parley_session").value
    session.post("/auth/logout", json={"everywhere": True})
    replay = app.test_client()
    replay.set_cookie("parley_session", old_cookie)
    assert replay.get("/auth/me").status_code == 401


def test_deactivation_ends_sessions(member_session):
    member_session.user.is_active = False
    db.session.commit()
    assert member_session.get("/auth/me").status_code == 401


# -- profile ------------------------------------------------------------------------------


def test_profile_changes_the_name(member_session):
    response = member_session.put("/auth/profile", json={"name": "  Renamed  "})
    assert response.status_code == 200
    assert response.get_json()["user"]["name"] == "Renamed"


def test_profile_needs_a_session(client):
    assert client.put("/auth/profile", json={"name": "X"}).status_code == 401


def test_profile_without_csrf_token_is_refused_and_changes_nothing(member_session):
    response = member_session.client.put("/auth/profile", json={"name": "Hacked"})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, member_session.user.id).name == "Mia Member"


def test_password_change_needs_the_current_password(member_session):
    response = member_session.put("/auth/profile", json={"password": "a brand new password"})
    assert response.status_code == 422
    assert "current_password" in response.get_json()["error"]["fields"]


def test_password_change_with_a_wrong_current_password_is_422(member_session):
    response = member_session.put(
        "/auth/profile", json={"password": "a brand new password", "current_password": "wrong wrong wrong"}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"current_password": "does not match"}


def test_password_change_keeps_this_session_and_ends_the_others(app, login, member):
    here, elsewhere = login(member), login(member)
    response = here.put(
        "/auth/profile", json={"password": "a brand new password", "current_password": PASSWORD}
    )
    assert response.status_code == 200
    assert here.get("/auth/me").status_code == 200
    assert elsewhere.get("/auth/me").status_code == 401
    assert sign_in(app.test_client(), member, "a brand new password").user.id == member.id


def test_new_password_must_be_long_enough(member_session):
    response = member_session.put("/auth/profile", json={"password": "short", "current_password": PASSWORD})
    assert response.status_code == 422
    assert "password" in response.get_json()["error"]["fields"]


def test_profile_refuses_changing_the_role(member_session):
    response = member_session.put("/auth/profile", json={"role": "admin"})
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, member_session.user.id).role == "member"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "n" * 65}, "name"),
        ({"name": 42}, "name"),
        ({"name": None}, "name"),
    ],
)
def test_profile_rejects_invalid_values_and_changes_nothing(member_session, body, field):
    response = member_session.put("/auth/profile", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    db.session.expire_all()
    assert db.session.get(User, member_session.user.id).name == "Mia Member"
