"""GET /admin/rooms: public and private rooms (never direct ones) for the admin table, newest first,
searchable by name, filtered by status, one page at a time; and the page of the same path."""

import pytest

from app.services import rooms
from tests.conftest import assert_error, recording_statements
from tests.factories import make_message, make_room, make_user
from tests.test_openapi import assert_conforms


def listed(session, query: str = "") -> dict:
    response = session.get(f"/admin/rooms?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def names(body: dict) -> list[str]:
    return [room["name"] for room in body["rooms"]]


# -- who may ----------------------------------------------------------------------------------


def test_room_table_needs_sign_in(client):
    assert_error(client.get("/admin/rooms"), 401, "unauthorized")


def test_room_table_is_for_admins_only(member_session):
    assert_error(member_session.get("/admin/rooms"), 403, "admin_only")


def test_room_table_is_described_as_an_admin_operation(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/admin/rooms"]["get"]
    assert operation["tags"] == ["admin"]
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    assert {parameter["name"] for parameter in operation["parameters"]} == {"q", "status", "page", "per_page"}


def test_room_table_answer_conforms_to_the_description(admin_session, admin, member, client):
    room = make_room(member, name="Talk", members=(admin,))
    make_room(admin, name="Secret", kind="private")
    make_message(member, room)
    document = client.get("/openapi.json").get_json()
    assert_conforms(document, "get", "/admin/rooms", admin_session.get("/admin/rooms"))


# -- what is listed ---------------------------------------------------------------------------


def test_room_table_lists_public_and_private_rooms_but_not_direct_ones(admin_session, admin, member):
    make_room(member, name="Public")
    make_room(member, name="Hidden", kind="private")  # the admin is not a member
    rooms.open_direct_room(admin, member.id)
    body = listed(admin_session)
    assert sorted(names(body)) == ["Hidden", "Public"]
    assert body["total"] == 2


def test_room_table_is_newest_first(admin_session, admin):
    for name in ("First", "Second", "Third"):
        make_room(admin, name=name)
    assert names(listed(admin_session)) == ["Third", "Second", "First"]


def test_room_table_shows_owners_members_and_last_message(admin_session, admin, owner, member):
    room = make_room(owner, name="Busy", members=(member,))
    make_message(member, room)
    last = make_message(owner, room)
    make_room(owner, name="Quiet")
    by_name = {room["name"]: room for room in listed(admin_session)["rooms"]}
    assert by_name["Busy"]["owners"] == [{"id": owner.id, "name": owner.name, "avatar_url": None}]
    assert by_name["Busy"]["member_count"] == 2
    assert by_name["Busy"]["last_message_at"] == last.created_at.isoformat().replace("+00:00", "Z")
    assert by_name["Quiet"]["last_message_at"] is None


def test_room_table_gives_admins_the_invite_code_of_private_rooms(admin_session, owner):
    room = make_room(owner, name="Invite only", kind="private")
    (listed_room,) = listed(admin_session)["rooms"]
    assert listed_room["invite_code"] == room.invite_code


def test_room_table_shows_a_room_whose_owner_left_with_its_new_owner(admin_session, owner, member):
    room = make_room(owner, name="Inherited", members=(member,))
    rooms.leave_room(owner, room.id)
    (listed_room,) = listed(admin_session)["rooms"]
    assert [person["id"] for person in listed_room["owners"]] == [member.id]
    assert listed_room["created_by"]["id"] == owner.id


# -- search and filters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"), [("lobby", ["Lobby"]), ("LOB", ["Lobby"]), ("v", ["Dev ops"])]
)
def test_room_table_searches_names_case_insensitively(admin_session, admin, query, expected):
    make_room(admin, name="Dev ops")
    make_room(admin, name="Lobby")
    make_room(admin, name="Random")
    assert sorted(names(listed(admin_session, f"q={query}"))) == sorted(expected)


def test_room_table_search_folds_unicode_case(admin_session, admin):
    make_room(admin, name="Straße")
    assert names(listed(admin_session, "q=STRASSE")) == ["Straße"]


def test_room_table_search_takes_wildcards_literally(admin_session, admin):
    make_room(admin, name="Up 100%")
    make_room(admin, name="Up 1000")
    assert names(listed(admin_session, "q=0%25")) == ["Up 100%"]


def test_room_table_search_total_counts_the_matches(admin_session, admin):
    for n in range(3):
        make_room(admin, name=f"Match {n}")
    make_room(admin, name="Other")
    body = listed(admin_session, "q=match&per_page=2")
    assert len(body["rooms"]) == 2
    assert body["total"] == 3


@pytest.mark.parametrize(
    ("status", "expected"), [("active", ["Open"]), ("closed", ["Shut"]), ("", ["Shut", "Open"])]
)
def test_room_table_filters_by_status(admin_session, admin, status, expected):
    make_room(admin, name="Open")
    shut = make_room(admin, name="Shut")
    rooms.set_room_active(admin, shut.id, active=False)
    assert names(listed(admin_session, f"status={status}" if status else "")) == expected


# -- pages ------------------------------------------------------------------------------------


def test_room_table_pages_and_keeps_the_total(admin_session, admin):
    made = [make_room(admin, name=f"Room {n}").id for n in range(5)]
    newest_first = made[::-1]
    pages = [listed(admin_session, f"per_page=2&page={page}") for page in (1, 2, 3, 4)]
    assert [[room["id"] for room in page["rooms"]] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
        [],
    ]
    assert {page["total"] for page in pages} == {5}


def test_room_table_defaults_to_50_per_page(admin_session, admin):
    for n in range(51):
        make_room(admin, name=f"Room {n}")
    body = listed(admin_session)
    assert len(body["rooms"]) == 50
    assert body["total"] == 51


def test_room_table_queries_do_not_grow_with_the_page(admin_session, admin, member):
    def count_statements() -> int:
        with recording_statements() as statements:
            listed(admin_session)
        return len(statements)

    make_room(admin, name="Alone", members=(member,))
    few = count_statements()
    for n in range(6):
        room = make_room(make_user(), name=f"More {n}", members=(member, admin))
        make_message(member, room)
    assert count_statements() == few


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=open", "status"),
        ("status=ACTIVE", "status"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("page=100001", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("q=" + "x" * 65, "q"),
    ],
)
def test_room_table_refuses_bad_query_values(admin_session, query, field):
    error = assert_error(admin_session.get(f"/admin/rooms?{query}"), 422, "validation_failed")
    assert field in error["fields"]


# -- the page of the same path ----------------------------------------------------------------


def test_a_browser_navigating_to_admin_rooms_gets_the_page(admin_session):
    response = admin_session.get(
        "/admin/rooms", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert 'id="rooms-table"' in response.get_data(as_text=True)


def test_a_member_navigating_to_admin_rooms_gets_the_403_page(member_session):
    response = member_session.get("/admin/rooms", headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert response.mimetype == "text/html"


def test_an_anonymous_visitor_of_admin_rooms_is_sent_to_sign_in(client):
    response = client.get("/admin/rooms", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=/admin/rooms")
