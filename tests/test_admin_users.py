"""Account administration: GET /admin/users and PATCH /users/<id> {role?, is_active?}."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import User
from tests.conftest import assert_error, at_once
from tests.factories import PASSWORD, make_user


def stored(user: User) -> User:
    """The user as the database has it now."""
    db.session.expire_all()
    return db.session.get(User, user.id)


def issue_token(client, user: User) -> str:
    response = client.post("/auth/tokens", json={"email": user.email, "password": PASSWORD, "name": "script"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


# -- GET /admin/users -------------------------------------------------------------------------


def test_admin_user_list_needs_sign_in(client):
    assert_error(client.get("/admin/users"), 401, "unauthorized")


def test_admin_user_list_is_for_admins_only(member_session):
    assert_error(member_session.get("/admin/users"), 403, "admin_only")


def test_admin_user_list_shows_every_account_with_email_and_is_active(admin_session, admin):
    gone = make_user(name="Gone", email="gone@example.com", is_active=False)
    body = admin_session.get("/admin/users").get_json()
    users = {user["id"]: user for user in body["users"]}
    assert body["total"] == 2
    assert users[gone.id]["email"] == "gone@example.com"
    assert users[gone.id]["is_active"] is False
    assert users[admin.id]["is_active"] is True


def test_admin_user_list_is_newest_first(admin_session, admin):
    first, second = make_user(), make_user()
    ids = [user["id"] for user in admin_session.get("/admin/users").get_json()["users"]]
    assert ids == [second.id, first.id, admin.id]


def test_admin_user_list_pages_and_keeps_the_total(admin_session, admin):
    made = [make_user() for _ in range(4)]  # five accounts with the admin
    newest_first = [user.id for user in reversed(made)] + [admin.id]
    pages = [admin_session.get(f"/admin/users?per_page=2&page={page}").get_json() for page in (1, 2, 3, 4)]
    assert [[user["id"] for user in page["users"]] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
        [],
    ]
    assert {page["total"] for page in pages} == {5}


def test_admin_user_list_defaults_to_50_per_page(admin_session):
    for _ in range(50):
        make_user()
    body = admin_session.get("/admin/users").get_json()
    assert len(body["users"]) == 50
    assert body["total"] == 51


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=100001", "page"),
        ("page=x", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=-5", "per_page"),
        ("q=" + "x" * 255, "q"),
    ],
)
def test_admin_user_list_refuses_bad_paging(admin_session, query, field):
    error = assert_error(admin_session.get(f"/admin/users?{query}"), 422, "validation_failed")
    assert field in error["fields"]


@pytest.mark.parametrize("query", ["per_page=1", "per_page=100", "page=100000"])
def test_admin_user_list_accepts_paging_at_the_bounds(admin_session, query):
    assert admin_session.get(f"/admin/users?{query}").status_code == 200


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("GRACE", "Grace Hopper"),
        ("hopper", "Grace Hopper"),
        ("@NAVY.mil", "Grace Hopper"),
        ("ada.l", "Lovelace"),
    ],
)
def test_admin_user_list_searches_name_and_email(admin_session, query, expected):
    make_user(name="Grace Hopper", email="amazing@navy.mil")
    make_user(name="Lovelace", email="ada.l@example.com")
    body = admin_session.get(f"/admin/users?q={query}").get_json()
    assert [user["name"] for user in body["users"]] == [expected]
    assert body["total"] == 1


def test_admin_user_list_search_takes_wildcards_literally(admin_session):
    make_user(name="Percent 100%")
    make_user(name="Percent 1000")
    body = admin_session.get("/admin/users?q=0%25").get_json()
    assert [user["name"] for user in body["users"]] == ["Percent 100%"]


# -- PATCH /users/<id>: who may -------------------------------------------------------------


def test_changing_a_user_needs_sign_in(client, member):
    assert_error(client.patch(f"/users/{member.id}", json={"role": "admin"}), 401, "unauthorized")
    assert stored(member).role == "member"


def test_members_cannot_change_users(member_session):
    other = make_user()
    response = member_session.patch(f"/users/{other.id}", json={"is_active": False})
    assert_error(response, 403, "admin_only")
    assert stored(other).is_active is True


def test_members_cannot_promote_themselves(member_session, member):
    response = member_session.patch(f"/users/{member.id}", json={"role": "admin"})
    assert_error(response, 403, "admin_only")
    assert stored(member).role == "member"


def test_changing_a_user_with_the_cookie_needs_the_csrf_token(admin_session, member):
    response = admin_session.client.patch(f"/users/{member.id}", json={"role": "admin"})
    assert_error(response, 403, "csrf_failed")
    assert stored(member).role == "member"


def test_changing_an_unknown_user_is_404(admin_session, admin):
    assert_error(
        admin_session.patch(f"/users/{admin.id + 1000}", json={"role": "admin"}), 404, "user_not_found"
    )


# -- roles ------------------------------------------------------------------------------------


def test_admin_promotes_a_member(admin_session, member):
    response = admin_session.patch(f"/users/{member.id}", json={"role": "admin"})
    assert response.status_code == 200
    user = response.get_json()["user"]
    assert user["role"] == "admin"
    assert user["email"] == member.email
    assert user["is_active"] is True
    assert stored(member).role == "admin"


def test_a_promoted_member_can_use_admin_endpoints_in_their_session(admin_session, member_session, member):
    admin_session.patch(f"/users/{member.id}", json={"role": "admin"})
    assert member_session.get("/admin/users").status_code == 200


def test_admin_demotes_another_admin(admin_session, login):
    other = make_user(role="admin")
    other_session = login(other)
    response = admin_session.patch(f"/users/{other.id}", json={"role": "member"})
    assert response.status_code == 200
    assert response.get_json()["user"]["role"] == "member"
    assert stored(other).role == "member"
    assert_error(other_session.get("/admin/users"), 403, "admin_only")


def test_empty_patch_changes_nothing(admin_session, member):
    response = admin_session.patch(f"/users/{member.id}", json={})
    assert response.status_code == 200
    assert stored(member).role == "member"
    assert stored(member).is_active is True


# -- deactivation -----------------------------------------------------------------------------


def test_admin_deactivates_a_member(admin_session, member):
    response = admin_session.patch(f"/users/{member.id}", json={"is_active": False})
    assert response.status_code == 200
    assert response.get_json()["user"]["is_active"] is False
    assert stored(member).is_active is False


def test_deactivation_ends_the_users_cookie_session(admin_session, member_session, member):
    assert member_session.get("/auth/me").status_code == 200
    admin_session.patch(f"/users/{member.id}", json={"is_active": False})
    assert_error(member_session.get("/auth/me"), 401, "unauthorized")


def test_deactivation_stops_the_users_bearer_token(app, admin_session, member):
    client = app.test_client()
    token = issue_token(client, member)
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    admin_session.patch(f"/users/{member.id}", json={"is_active": False})
    response = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 403, "account_disabled")


def test_a_deactivated_user_cannot_log_in(app, admin_session, member):
    admin_session.patch(f"/users/{member.id}", json={"is_active": False})
    response = app.test_client().post("/auth/login", json={"email": member.email, "password": PASSWORD})
    assert_error(response, 403, "account_disabled")


def test_a_reactivated_user_can_log_in_again(app, admin_session, member):
    admin_session.patch(f"/users/{member.id}", json={"is_active": False})
    response = admin_session.patch(f"/users/{member.id}", json={"is_active": True})
    assert response.status_code == 200
    assert response.get_json()["user"]["is_active"] is True
    login = app.test_client().post("/auth/login", json={"email": member.email, "password": PASSWORD})
    assert login.status_code == 200


def test_reactivation_does_not_revive_the_old_cookie_session(admin_session, member_session, member):
    admin_session.patch(f"/users/{member.id}", json={"is_active": False})
    admin_session.patch(f"/users/{member.id}", json={"is_active": True})
    assert_error(member_session.get("/auth/me"), 401, "unauthorized")


def test_a_deactivated_admin_has_no_admin_powers(app, admin_session):
    other = make_user(role="admin")
    client = app.test_client()
    token = issue_token(client, other)
    admin_session.patch(f"/users/{other.id}", json={"is_active": False})
    response = client.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 403, "account_disabled")


# -- the last admin ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change", [{"role": "member"}, {"is_active": False}, {"role": "member", "is_active": False}]
)
def test_the_last_active_admin_cannot_demote_or_deactivate_themselves(admin_session, admin, change):
    assert_error(admin_session.patch(f"/users/{admin.id}", json=change), 409, "last_admin")
    assert stored(admin).role == "admin"
    assert stored(admin).is_active is True
    assert admin_session.get("/auth/me").status_code == 200


def test_a_deactivated_second_admin_does_not_count(admin_session, admin):
    make_user(role="admin", is_active=False)
    assert_error(admin_session.patch(f"/users/{admin.id}", json={"role": "member"}), 409, "last_admin")
    assert stored(admin).role == "admin"


def test_an_admin_can_demote_themselves_when_another_active_admin_exists(admin_session, admin):
    make_user(role="admin")
    response = admin_session.patch(f"/users/{admin.id}", json={"role": "member"})
    assert response.status_code == 200
    assert stored(admin).role == "member"


def test_an_admin_can_deactivate_themselves_when_another_active_admin_exists(admin_session, admin):
    make_user(role="admin")
    response = admin_session.patch(f"/users/{admin.id}", json={"is_active": False})
    assert response.status_code == 200
    assert stored(admin).is_active is False
    assert_error(admin_session.get("/auth/me"), 401, "unauthorized")


def test_the_last_admin_can_still_touch_others(admin_session, member):
    assert admin_session.patch(f"/users/{member.id}", json={"is_active": False}).status_code == 200


def test_the_last_admin_may_repeat_their_own_role_and_activity(admin_session, admin):
    response = admin_session.patch(f"/users/{admin.id}", json={"role": "admin", "is_active": True})
    assert response.status_code == 200
    assert admin_session.get("/auth/me").status_code == 200


# -- bad bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"surprise": True}, "surprise"),
        ({"email": "new@example.com"}, "email"),
        ({"role": "root"}, "role"),
        ({"role": "Admin"}, "role"),
        ({"role": None}, "role"),
        ({"is_active": None}, "is_active"),
        ({"is_active": "maybe"}, "is_active"),
        ({"is_active": 2}, "is_active"),
        ({"role": "admin", "is_active": "maybe"}, "is_active"),
    ],
)
def test_bad_bodies_are_422_and_change_nothing(admin_session, member, body, field):
    response = admin_session.patch(f"/users/{member.id}", json=body)
    error = assert_error(response, 422, "validation_failed")
    assert field in error["fields"]
    user = stored(member)
    assert (user.role, user.is_active, user.email) == ("member", True, member.email)


@pytest.mark.parametrize(
    ("value", "active_before"), [("yes", False), ("true", False), ("no", True), ("0", True)]
)
def test_is_active_must_be_a_json_boolean_not_a_string(admin_session, value, active_before):
    # Pydantic's lax mode reads "yes"/"no"/"true"/"0" as booleans; a typo'd client must not
    # (re)activate or deactivate an account by accident.
    user = make_user(is_active=active_before)
    response = admin_session.patch(f"/users/{user.id}", json={"is_active": value})
    error = assert_error(response, 422, "validation_failed")
    assert "is_active" in error["fields"]
    assert stored(user).is_active is active_before


def test_a_non_json_body_is_415(admin_session, member):
    response = admin_session.patch(f"/users/{member.id}", data="role=admin", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")
    assert stored(member).role == "member"


# -- concurrency ------------------------------------------------------------------------------


def test_two_admins_demoting_themselves_at_once_leave_one_admin(app):
    first, second = make_user(role="admin"), make_user(role="admin")
    results = at_once(
        app,
        [first, second],
        lambda session, _: session.patch(f"/users/{session.user.id}", json={"role": "member"}),
    )
    statuses = [status for status, _ in results]
    admins = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.role == "admin"))
    assert admins == 1
    assert sorted(statuses) == [200, 409]
