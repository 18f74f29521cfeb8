"""Personal API tokens: issued for credentials, stored as SHA-256, used as Bearer, revoked."""

import hashlib

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken
from tests.factories import PASSWORD, make_user


def issue_token(client, user, name: str = "script") -> dict:
    """Create a token for user over HTTP; returns the 201 body."""
    response = client.post("/auth/tokens", json={"email": user.email, "password": PASSWORD, "name": name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def deactivate(user) -> None:
    user.is_active = False
    db.session.commit()


def stored_token(token_id: int) -> ApiToken:
    """The token row as the database has it now."""
    db.session.expire_all()
    return db.session.get(ApiToken, token_id)


# Creating


def test_create_token_returns_secret_once_with_metadata(client, member):
    response = client.post("/auth/tokens", json={"email": member.email, "password": PASSWORD, "name": "ci"})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "id", "name", "created_at", "last_used_at"}
    assert body["token"].startswith("parley_")
    assert body["name"] == "ci"
    assert body["created_at"].endswith("Z")
    assert body["last_used_at"] is None


def test_create_token_stores_only_sha256_of_secret(client, member):
    body = issue_token(client, member)

    row = stored_token(body["id"])
    assert row.user_id == member.id
    assert row.token_hash != body["token"]
    assert row.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()


def test_create_token_gives_distinct_secrets(client, member):
    first, second = issue_token(client, member), issue_token(client, member)

    assert first["token"] != second["token"]
    assert first["id"] != second["id"]


def test_create_token_needs_no_csrf_header_with_session_cookie(member_session):
    response = member_session.client.post(
        "/auth/tokens", json={"email": member_session.user.email, "password": PASSWORD, "name": "ci"}
    )

    assert response.status_code == 201, response.get_json()


def test_create_token_answers_wrong_password_and_unknown_email_alike(client, member):
    wrong_password = client.post(
        "/auth/tokens", json={"email": member.email, "password": PASSWORD + "x", "name": "ci"}
    )
    unknown_email = client.post(
        "/auth/tokens", json={"email": "nobody@example.com", "password": PASSWORD, "name": "ci"}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.get_json() == unknown_email.get_json()
    assert wrong_password.get_json()["error"]["code"] == "invalid_credentials"
    assert db.session.scalar(select(ApiToken).limit(1)) is None


def test_create_token_refuses_deactivated_account(client):
    user = make_user(is_active=False)

    response = client.post("/auth/tokens", json={"email": user.email, "password": PASSWORD, "name": "ci"})

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "account_disabled"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 65}, "name"),
        ({"scope": "admin"}, "scope"),
        ({"email": None}, "email"),
        ({"password": None}, "password"),
    ],
    ids=[
        "missing-name",
        "empty-name",
        "blank-name",
        "long-name",
        "unknown-field",
        "missing-email",
        "missing-password",
    ],
)
def test_create_token_rejects_invalid_body(client, member, changes, field):
    body = {"email": member.email, "password": PASSWORD, "name": "ci", **changes}
    body = {key: value for key, value in body.items() if value is not None}

    response = client.post("/auth/tokens", json=body)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["fields"]


def test_create_token_accepts_name_of_64_characters(client, member):
    assert issue_token(client, member, name="n" * 64)["name"] == "n" * 64


def test_create_token_rejects_malformed_json(client):
    response = client.post("/auth/tokens", data='{"email": ', content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_create_token_rejects_text_body(client, member):
    response = client.post("/auth/tokens", data=f"{member.email} {PASSWORD}", content_type="text/plain")

    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


# Using


def test_bearer_token_authenticates_me(client, member):
    secret = issue_token(client, member)["token"]

    response = client.get("/auth/me", headers=bearer(secret))

    assert response.status_code == 200
    user = response.get_json()["user"]
    assert user["id"] == member.id
    assert user["email"] == member.email


@pytest.mark.parametrize(
    "header",
    ["Bearer parley_not-a-real-token", "Bearer ", "bearer parley_x"],
    ids=["unknown", "empty", "lower-case-scheme"],
)
def test_unknown_bearer_token_is_401(client, header):
    response = client.get("/auth/me", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"


def test_revoked_token_is_401(client, member_session):
    body = issue_token(member_session.client, member_session.user)
    assert member_session.delete(f"/auth/tokens/{body['id']}").status_code == 204

    response = client.get("/auth/me", headers=bearer(body["token"]))

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"


def test_token_of_user_deactivated_later_is_403(client, member):
    secret = issue_token(client, member)["token"]
    deactivate(member)

    response = client.get("/auth/me", headers=bearer(secret))

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "account_disabled"


def test_bearer_request_to_unsafe_endpoint_needs_no_csrf(client, member):
    secret = issue_token(client, member)["token"]

    response = client.put("/auth/profile", json={"name": "Renamed By Script"}, headers=bearer(secret))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["name"] == "Renamed By Script"


def test_bearer_token_wins_over_session_cookie_of_other_user(app, login, member):
    other = make_user(name="Olga Other")
    other_session = login(other)
    secret = issue_token(app.test_client(), member)["token"]

    response = other_session.client.get("/auth/me", headers=bearer(secret))

    assert response.status_code == 200
    assert response.get_json()["user"]["id"] == member.id


def test_bearer_write_acts_as_token_owner_not_cookie_user(app, login, member):
    other = make_user(name="Olga Other")
    other_session = login(other)
    secret = issue_token(app.test_client(), member)["token"]

    response = other_session.client.put("/auth/profile", json={"name": "Token Owner"}, headers=bearer(secret))

    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    assert (member.name, other.name) == ("Token Owner", "Olga Other")


def test_using_token_sets_last_used_at(client, member):
    body = issue_token(client, member)
    assert stored_token(body["id"]).last_used_at is None

    assert client.get("/auth/me", headers=bearer(body["token"])).status_code == 200

    assert stored_token(body["id"]).last_used_at is not None
    listed = client.get("/auth/tokens", headers=bearer(body["token"])).get_json()["tokens"]
    assert listed[0]["last_used_at"] is not None


# Listing


def test_list_tokens_shows_own_active_tokens_without_secrets(app, member_session):
    kept = issue_token(member_session.client, member_session.user, name="kept")
    revoked = issue_token(member_session.client, member_session.user, name="revoked")
    issue_token(app.test_client(), make_user(), name="someone else's")
    assert member_session.delete(f"/auth/tokens/{revoked['id']}").status_code == 204

    response = member_session.get("/auth/tokens")

    assert response.status_code == 200
    tokens = response.get_json()["tokens"]
    assert [token["id"] for token in tokens] == [kept["id"]]
    assert set(tokens[0]) == {"id", "name", "created_at", "last_used_at"}
    assert kept["token"] not in response.get_data(as_text=True)
    assert stored_token(kept["id"]).token_hash not in response.get_data(as_text=True)


def test_list_tokens_needs_sign_in(client):
    response = client.get("/auth/tokens")

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


# Revoking


def test_revoke_token_answers_204_with_empty_body(member_session):
    body = issue_token(member_session.client, member_session.user)

    response = member_session.delete(f"/auth/tokens/{body['id']}")

    assert response.status_code == 204
    assert response.get_data() == b""
    assert stored_token(body["id"]).revoked_at is not None


def test_revoke_token_works_with_bearer_and_no_csrf(client, member):
    body = issue_token(client, member)

    response = client.delete(f"/auth/tokens/{body['id']}", headers=bearer(body["token"]))

    assert response.status_code == 204
    assert client.get("/auth/me", headers=bearer(body["token"])).status_code == 401


def test_revoke_other_users_token_is_404_and_leaves_it_working(app, member_session):
    owner = make_user()
    body = issue_token(app.test_client(), owner)

    response = member_session.delete(f"/auth/tokens/{body['id']}")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "token_not_found"
    me = app.test_client().get("/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.get_json()["user"]["id"] == owner.id


def test_revoke_already_revoked_token_is_404(member_session):
    body = issue_token(member_session.client, member_session.user)
    assert member_session.delete(f"/auth/tokens/{body['id']}").status_code == 204

    response = member_session.delete(f"/auth/tokens/{body['id']}")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "token_not_found"


@pytest.mark.parametrize("token_id", ["abc", "1.5", "-1", "0", "999999", str(2**63), str(10**30)])
def test_revoke_token_with_bad_id_is_404_envelope(member_session, token_id):
    response = member_session.delete(f"/auth/tokens/{token_id}")

    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error"]["code"] in ("not_found", "token_not_found")


def test_revoke_token_needs_sign_in(client, member):
    body = issue_token(client, member)

    response = client.delete(f"/auth/tokens/{body['id']}")

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert stored_token(body["id"]).revoked_at is None


def test_revoke_token_with_cookie_needs_csrf_header(member_session):
    body = issue_token(member_session.client, member_session.user)

    response = member_session.client.delete(f"/auth/tokens/{body['id']}")

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert stored_token(body["id"]).revoked_at is None
