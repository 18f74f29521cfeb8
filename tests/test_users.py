"""The user directory: GET /users (search) and GET /users/<id>."""

import pytest

from tests.conftest import assert_error
from tests.factories import make_user


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [user["name"] for user in response.get_json()["users"]]


# -- who may ask --------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/users", "/users?q=mia", "/users/1"])
def test_directory_needs_sign_in(client, member, url):
    assert_error(client.get(url), 401, "unauthorized")


# -- GET /users: search ---------------------------------------------------------------------


def test_directory_matches_part_of_a_name_case_insensitively(member_session):
    for name in ("Alice Smith", "Bob Jones", "MALICE Aforethought", "alicia keys"):
        make_user(name=name)
    found = names(member_session.get("/users?q=aLi"))
    assert sorted(found) == ["Alice Smith", "MALICE Aforethought", "alicia keys"]


def test_directory_trims_the_query(member_session):
    make_user(name="Alice Smith")
    make_user(name="Bob Jones")
    assert names(member_session.get("/users?q=%20%20smith%20")) == ["Alice Smith"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("élodie", "Élodie Durand"), ("ZOË", "Zoë Quinn"), ("ÇA", "François Ça")],
    ids=["lower-query-upper-name", "upper-query-lower-name", "both-upper"],
)
def test_directory_matches_accented_names_case_insensitively(member_session, query, expected):
    for name in ("Élodie Durand", "Zoë Quinn", "François Ça", "Plain Name"):
        make_user(name=name)
    assert names(member_session.get(f"/users?q={query}")) == [expected]


def test_directory_without_q_lists_every_active_user_by_name(member_session):
    make_user(name="Zed")
    make_user(name="Anna")
    assert names(member_session.get("/users")) == ["Anna", "Mia Member", "Zed"]


def test_directory_orders_names_case_insensitively(member_session):
    make_user(name="bob lower")
    make_user(name="Carl Upper")
    make_user(name="alice lower")
    assert names(member_session.get("/users?q=e")) == ["alice lower", "bob lower", "Carl Upper", "Mia Member"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("%25", ["100% sure"]), ("_", ["snake_case"]), ("%5C", ["back\\slash"]), ("0%25", ["100% sure"])],
    ids=["percent", "underscore", "backslash", "digit-percent"],
)
def test_directory_takes_like_wildcards_literally(member_session, query, expected):
    for name in ("100% sure", "snake_case", "back\\slash", "snakeXcase", "100 sure"):
        make_user(name=name)
    assert names(member_session.get(f"/users?q={query}")) == expected


def test_directory_leaves_out_deactivated_users(member_session):
    make_user(name="Gone Person", is_active=False)
    make_user(name="Here Person")
    assert names(member_session.get("/users?q=person")) == ["Here Person"]


def test_directory_limit_caps_the_answer(member_session):
    for n in range(5):
        make_user(name=f"Limit {n}")
    assert names(member_session.get("/users?q=limit&limit=3")) == ["Limit 0", "Limit 1", "Limit 2"]


def test_directory_default_limit_is_20(member_session):
    for n in range(22):
        make_user(name=f"Many {n:02d}")
    assert len(names(member_session.get("/users?q=many"))) == 20


@pytest.mark.parametrize("limit", ["1", "100"])
def test_directory_accepts_limits_at_the_bounds(member_session, limit):
    make_user(name="Bound Person")
    assert member_session.get(f"/users?limit={limit}").status_code == 200


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
def test_directory_refuses_limits_out_of_bounds(member_session, limit):
    error = assert_error(member_session.get(f"/users?limit={limit}"), 422, "validation_failed")
    assert "limit" in error["fields"]


def test_directory_refuses_an_overlong_query(member_session):
    error = assert_error(member_session.get("/users?q=" + "x" * 65), 422, "validation_failed")
    assert "q" in error["fields"]


def test_directory_shows_members_no_email_or_is_active(member_session):
    other = make_user(name="Other Person")
    users = member_session.get("/users").get_json()["users"]
    assert {user["id"] for user in users} == {member_session.user.id, other.id}
    for user in users:  # not even the caller's own entry
        assert "email" not in user
        assert "is_active" not in user
        assert set(user) == {"id", "name", "role", "avatar_url", "created_at", "online"}


def test_directory_shows_admins_email_and_is_active(admin_session):
    other = make_user(name="Other Person", email="other.person@example.com")
    users = {user["id"]: user for user in admin_session.get("/users").get_json()["users"]}
    assert users[other.id]["email"] == "other.person@example.com"
    assert users[other.id]["is_active"] is True


# -- GET /users/<id> ----------------------------------------------------------------------


def test_own_user_includes_email(member_session):
    user = member_session.get(f"/users/{member_session.user.id}").get_json()["user"]
    assert user["id"] == member_session.user.id
    assert user["email"] == member_session.user.email
    assert "is_active" not in user


def test_other_user_has_no_email_for_members(member_session):
    other = make_user(name="Other Person")
    response = member_session.get(f"/users/{other.id}")
    assert response.status_code == 200
    user = response.get_json()["user"]
    assert user["id"] == other.id
    assert user["name"] == "Other Person"
    assert user["role"] == "member"
    assert "email" not in user
    assert "is_active" not in user


def test_admin_sees_email_and_is_active_of_others(admin_session):
    other = make_user(name="Other Person", email="other.person@example.com", is_active=False)
    user = admin_session.get(f"/users/{other.id}").get_json()["user"]
    assert user["email"] == "other.person@example.com"
    assert user["is_active"] is False


def test_unknown_user_is_404(member_session):
    missing = member_session.user.id + 1000
    assert_error(member_session.get(f"/users/{missing}"), 404, "user_not_found")


@pytest.mark.parametrize("user_id", ["0", str(2**63), str(2**64 + 1), "-1"])
def test_out_of_range_user_ids_are_404_not_500(member_session, user_id):
    response = member_session.get(f"/users/{user_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] in {"not_found", "user_not_found"}
