"""What room endpoints refuse: every endpoint over every role on public, private and direct rooms,
bad bodies and fields, out-of-range ids, missing CSRF tokens.

Each case names the exact status and error code. A refused request must change nothing stored and
publish no event.
"""

import pytest

from app.models import Room, User
from app.services import api_tokens, events, rooms
from tests.conftest import assert_error
from tests.factories import PASSWORD, make_room, make_user
from tests.test_rooms import app_on_module_app, count, module_app, snapshot  # noqa: F401

ROLES = ("anonymous", "outsider", "member", "owner", "admin")
DIRECT_ROLES = ("anonymous", "outsider", "member", "admin")  # a direct room has no owner

# method, path, body; "{id}" and "{code}" are filled in with the room's id and invite code.
ACTIONS = {
    "get": ("GET", "/rooms/{id}", None),
    "members": ("GET", "/rooms/{id}/members", None),
    "edit": ("PATCH", "/rooms/{id}", {"description": "changed"}),
    "join": ("POST", "/rooms/{id}/join", {}),
    "join_with_code": ("POST", "/rooms/{id}/join", {"invite_code": "{code}"}),
    "join_with_wrong_code": ("POST", "/rooms/{id}/join", {"invite_code": "not-the-code"}),
    "leave": ("POST", "/rooms/{id}/leave", None),
    "close": ("POST", "/rooms/{id}/close", None),
    "reopen": ("POST", "/rooms/{id}/reopen", None),
    "invite": ("POST", "/rooms/{id}/invite", None),
    "delete": ("DELETE", "/rooms/{id}", None),
    "preview_invite": ("GET", "/invites/{code}", None),
}

U = "401 unauthorized"
HIDDEN = "404 room_not_found"
NOT_OWNER = "403 not_room_owner"
NOT_MEMBER = "403 not_a_member"
BAD_CODE = "403 invalid_invite_code"
DIRECT = "409 direct_room"

# One row per action; the cells follow ROLES (DIRECT_ROLES for direct rooms).
MATRIX = {
    "public": {
        "get": (U, "200", "200", "200", "200"),
        "members": (U, "200", "200", "200", "200"),
        "edit": (U, NOT_OWNER, NOT_OWNER, "200", "200"),
        "join": (U, "200", "200", "200", "200"),
        "leave": (U, NOT_MEMBER, "200", "200", NOT_MEMBER),
        "close": (U, NOT_OWNER, NOT_OWNER, "200", "200"),
        "reopen": (U, NOT_OWNER, NOT_OWNER, "200", "200"),
        "invite": (U, NOT_OWNER, NOT_OWNER, "409 not_private", "409 not_private"),
        "delete": (U, NOT_OWNER, NOT_OWNER, "204", "204"),
    },
    "private": {
        "get": (U, HIDDEN, "200", "200", "200"),
        "members": (U, HIDDEN, "200", "200", "200"),
        "edit": (U, HIDDEN, NOT_OWNER, "200", "200"),
        "join": (U, HIDDEN, "200", "200", BAD_CODE),
        "join_with_code": (U, "200", "200", "200", "200"),
        "join_with_wrong_code": (U, HIDDEN, "200", "200", BAD_CODE),
        "preview_invite": (U, "200", "200", "200", "200"),
        "leave": (U, HIDDEN, "200", "200", NOT_MEMBER),
        "close": (U, HIDDEN, NOT_OWNER, "200", "200"),
        "reopen": (U, HIDDEN, NOT_OWNER, "200", "200"),
        "invite": (U, HIDDEN, NOT_OWNER, "200", "200"),
        "delete": (U, HIDDEN, NOT_OWNER, "204", "204"),
    },
    "direct": {
        "get": (U, HIDDEN, "200", "200"),
        "members": (U, HIDDEN, "200", "200"),
        "edit": (U, HIDDEN, DIRECT, DIRECT),
        "join": (U, HIDDEN, "200", DIRECT),  # joining is idempotent for a member
        "leave": (U, HIDDEN, DIRECT, NOT_MEMBER),
        "close": (U, HIDDEN, DIRECT, DIRECT),
        "reopen": (U, HIDDEN, DIRECT, DIRECT),
        "invite": (U, HIDDEN, NOT_OWNER, "409 not_private"),
        "delete": (U, HIDDEN, NOT_OWNER, "204"),
    },
}


def _cells():
    for kind, rows in MATRIX.items():
        roles = DIRECT_ROLES if kind == "direct" else ROLES
        for action, cells in rows.items():
            assert len(cells) == len(roles), (kind, action)
            for role, cell in zip(roles, cells, strict=True):
                yield pytest.param(kind, action, role, cell, id=f"{kind}-{action}-{role}")


class Cast(dict):
    """The people around one room, each created when first needed: owner, member, outsider, admin."""

    NAMES = {"owner": "Olga Owner", "member": "Max Member", "outsider": "Otto Outsider", "admin": "Ada Admin"}

    def __missing__(self, role: str) -> User:
        self[role] = make_user(name=self.NAMES[role], role="admin" if role == "admin" else "member")
        return self[role]


@pytest.fixture
def cast(app) -> Cast:
    return Cast()


def _room(kind: str, cast: dict) -> Room:
    if kind == "direct":
        view, _ = rooms.open_direct_room(cast["owner"], cast["member"].id)
        return view.room
    return make_room(cast["owner"], kind=kind, members=(cast["member"],))


def _actor(role: str, app, login, cast: dict):
    return app.test_client() if role == "anonymous" else login(cast[role])


def _request(actor, action: str, room: Room):
    method, path, body = ACTIONS[action]
    code = room.invite_code or "no-such-code"
    url = path.format(id=room.id, code=code)
    if body is not None:
        body = {key: value.format(code=code) for key, value in body.items()}
    return getattr(actor, method.lower())(url, json=body)


@pytest.mark.parametrize(("kind", "action", "role", "cell"), list(_cells()))
def test_room_permissions(app, login, cast, kind, action, role, cell):
    room = _room(kind, cast)
    if action == "reopen" and kind != "direct":
        rooms.set_room_active(cast["owner"], room.id, active=False)
    actor = _actor(role, app, login, cast)
    before = snapshot(room.id)
    status, _, code = cell.partition(" ")

    with events.recording() as published:
        response = _request(actor, action, room)

    if code:
        assert_error(response, int(status), code)
        assert snapshot(room.id) == before
        assert published == []
    elif status == "204":
        assert response.status_code == 204
        assert response.get_data() == b""
    else:
        assert response.status_code == int(status), response.get_data(as_text=True)
        body = response.get_json()
        if action == "invite":
            assert body["invite_code"] not in (None, "", before[0][5])
        elif action == "get":
            assert body["room"]["id"] == room.id
            assert {entry["user"]["id"] for entry in body["members"]} >= {cast["member"].id}
        elif action == "members":
            assert {entry["user"]["id"] for entry in body["members"]} >= {cast["member"].id}
        else:
            assert body["room"]["id"] == room.id


@pytest.mark.parametrize(
    ("role", "method", "status", "code"),
    [
        ("anonymous", "get", 401, "unauthorized"),
        ("anonymous", "post", 401, "unauthorized"),
        ("member", "get", 200, None),
        ("member", "post", 201, None),
        ("admin", "get", 200, None),
        ("admin", "post", 201, None),
    ],
)
def test_room_collection_permissions(app, login, cast, role, method, status, code):
    actor = _actor(role, app, login, cast)
    with events.recording() as published:
        response = getattr(actor, method)("/rooms", json={"name": "Fresh"} if method == "post" else None)
    if code:
        assert_error(response, status, code)
        assert count(Room) == 0
        assert published == []
    else:
        assert response.status_code == status


def test_invite_preview_needs_sign_in_even_with_a_valid_code(client, cast):
    room = make_room(cast["owner"], kind="private")
    assert_error(client.get(f"/invites/{room.invite_code}"), 401, "unauthorized")


# -- CSRF and Bearer tokens -----------------------------------------------------------------

UNSAFE = [
    ("patch", "/rooms/{id}", {"description": "changed"}),
    ("post", "/rooms/{id}/join", {}),
    ("post", "/rooms/{id}/leave", None),
    ("post", "/rooms/{id}/close", None),
    ("post", "/rooms/{id}/reopen", None),
    ("post", "/rooms/{id}/invite", None),
    ("delete", "/rooms/{id}", None),
    ("post", "/rooms", {"name": "Fresh"}),
]


@pytest.mark.parametrize(("method", "path", "body"), UNSAFE, ids=[f"{m} {p}" for m, p, _ in UNSAFE])
def test_cookie_requests_without_csrf_token_are_refused(login, cast, method, path, body):
    room = make_room(cast["owner"], kind="private", members=(cast["member"],))
    if path.endswith("reopen"):
        rooms.set_room_active(cast["owner"], room.id, active=False)
    actor = login(cast["owner"])
    before = snapshot(room.id)
    with events.recording() as published:
        response = getattr(actor.client, method)(path.format(id=room.id), json=body)
    assert_error(response, 403, "csrf_failed")
    assert snapshot(room.id) == before
    assert count(Room) == 1
    assert published == []


def test_bearer_token_requests_need_no_csrf_token(app, cast):
    _, secret = api_tokens.create_token(cast["owner"].email, PASSWORD, "script")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    created = client.post("/rooms", json={"name": "Scripted"}, headers=headers)
    assert created.status_code == 201
    closed = client.post(f"/rooms/{created.get_json()['room']['id']}/close", headers=headers)
    assert closed.status_code == 200
    assert closed.get_json()["room"]["is_active"] is False


# -- bad bodies -----------------------------------------------------------------------------

# endpoint -> (method, path, a valid body); join is tried by an outsider on a public room, so a
# body that slipped through would visibly add a member.
BODY_ENDPOINTS = {
    "create": ("post", "/rooms", {"name": "Fresh"}),
    "edit": ("patch", "/rooms/{id}", {"description": "changed"}),
    "join": ("post", "/rooms/{id}/join", {}),
}
BAD_BODIES = {
    "malformed_json": ({"data": "{not json", "content_type": "application/json"}, 400, "malformed_json"),
    "text_plain": ({"data": "name=Fresh", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    "form": (
        {"data": "name=Fresh", "content_type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
    ),
    "json_array": ({"json": [{"name": "Fresh"}]}, 400, "invalid_body"),
    "json_string": ({"json": "Fresh"}, 400, "invalid_body"),
}


@pytest.fixture
def target(cast) -> Room:
    """A public room of the owner's, with one member."""
    return make_room(cast["owner"], name="Target", members=(cast["member"],))


def _send_as(login, cast, endpoint: str, room: Room, **kwargs):
    method, path, _ = BODY_ENDPOINTS[endpoint]
    actor = login(cast["outsider" if endpoint == "join" else "owner"])
    with events.recording() as published:
        response = getattr(actor, method)(path.format(id=room.id), **kwargs)
    return response, published


@pytest.mark.parametrize("endpoint", list(BODY_ENDPOINTS))
@pytest.mark.parametrize("bad", list(BAD_BODIES))
def test_unreadable_bodies_are_refused(login, cast, target, endpoint, bad):
    kwargs, status, code = BAD_BODIES[bad]
    before = snapshot(target.id)
    response, published = _send_as(login, cast, endpoint, target, **kwargs)
    assert_error(response, status, code)
    assert snapshot(target.id) == before
    assert count(Room) == 1
    assert published == []


@pytest.mark.parametrize("endpoint", list(BODY_ENDPOINTS))
def test_unknown_fields_are_refused(login, cast, target, endpoint):
    body = {**BODY_ENDPOINTS[endpoint][2], "colour": "red"}
    before = snapshot(target.id)
    response, published = _send_as(login, cast, endpoint, target, json=body)
    assert assert_error(response, 422, "validation_failed")["fields"] == {"colour": "unknown field"}
    assert snapshot(target.id) == before
    assert count(Room) == 1
    assert published == []


INVALID_NAMES = {
    "empty": "",
    "whitespace": "   ",
    "65_chars": "n" * 65,
    "number": 42,
    "list": ["Fresh"],
    "object": {"name": "Fresh"},
    "bool": True,
    "reserved": "dm:1:2",
    "reserved_other_case": "DM:12:34",
    "reserved_padded": "  dm:1:2  ",
}


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param({"name": name}, "name", id=f"name-{key}") for key, name in INVALID_NAMES.items()]
    + [
        pytest.param({}, "name", id="name-missing"),
        pytest.param({"name": None}, "name", id="name-null"),
        pytest.param({"name": "Fresh", "description": "d" * 501}, "description", id="description-501"),
        pytest.param({"name": "Fresh", "description": 5}, "description", id="description-number"),
        pytest.param({"name": "Fresh", "kind": "direct"}, "kind", id="kind-direct"),
        pytest.param({"name": "Fresh", "kind": "secret"}, "kind", id="kind-secret"),
        pytest.param({"name": "Fresh", "kind": "PUBLIC"}, "kind", id="kind-upper"),
        pytest.param({"name": "Fresh", "kind": None}, "kind", id="kind-null"),
    ],
)
def test_create_refuses_invalid_fields(login, cast, body, field):
    with events.recording() as published:
        response = login(cast["member"]).post("/rooms", json=body)
    assert field in assert_error(response, 422, "validation_failed")["fields"]
    assert count(Room) == 0
    assert published == []


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param({"name": name}, "name", id=f"name-{key}") for key, name in INVALID_NAMES.items()]
    + [
        pytest.param({"name": None}, "name", id="name-null"),
        pytest.param({"description": None}, "description", id="description-null"),
        pytest.param({"description": "d" * 501}, "description", id="description-501"),
        pytest.param({"description": ["x"]}, "description", id="description-list"),
        pytest.param({"kind": "private"}, "kind", id="kind-not-editable"),
        pytest.param({"name": "Fine", "description": None}, "description", id="valid-name-null-description"),
    ],
)
def test_edit_refuses_invalid_fields(login, cast, target, body, field):
    before = snapshot(target.id)
    with events.recording() as published:
        response = login(cast["owner"]).patch(f"/rooms/{target.id}", json=body)
    assert field in assert_error(response, 422, "validation_failed")["fields"]
    assert snapshot(target.id) == before
    assert published == []


@pytest.mark.parametrize("invite_code", ["c" * 65, "", 12345, ["code"]])
def test_join_refuses_invalid_invite_codes(login, cast, invite_code):
    room = make_room(cast["owner"], kind="private")
    before = snapshot(room.id)
    with events.recording() as published:
        response = login(cast["outsider"]).post(f"/rooms/{room.id}/join", json={"invite_code": invite_code})
    assert "invite_code" in assert_error(response, 422, "validation_failed")["fields"]
    assert snapshot(room.id) == before
    assert published == []


# -- ids in paths ---------------------------------------------------------------------------

ROOM_URLS = [
    ("get", "/rooms/{id}"),
    ("patch", "/rooms/{id}"),
    ("delete", "/rooms/{id}"),
    ("get", "/rooms/{id}/members"),
    ("post", "/rooms/{id}/join"),
    ("post", "/rooms/{id}/leave"),
    ("post", "/rooms/{id}/close"),
    ("post", "/rooms/{id}/reopen"),
    ("post", "/rooms/{id}/invite"),
]


@pytest.mark.parametrize(("method", "path"), ROOM_URLS, ids=[f"{m} {p}" for m, p in ROOM_URLS])
@pytest.mark.parametrize(
    ("room_id", "code"),
    [
        ("99999999999999999999", "room_not_found"),
        (str(2**63), "room_not_found"),
        ("0", "room_not_found"),
        (str(2**63 - 1), "room_not_found"),
    ],
)
def test_ids_that_name_no_room_are_404(login, cast, target, method, path, room_id, code):
    before = snapshot(target.id)
    body = {"description": "changed"} if method == "patch" else None
    with events.recording() as published:
        response = getattr(login(cast["admin"]), method)(path.format(id=room_id), json=body)
    assert_error(response, 404, code)
    assert snapshot(target.id) == before
    assert published == []
