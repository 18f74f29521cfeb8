"""Bad input to every JSON endpoint and every integer query parameter: the right 4xx envelope, never a 500.

The routes come from the OpenAPI description, so a new JSON endpoint joins the sweep by itself.
Requests go as a signed-in admin with a Bearer token (no CSRF), to paths naming real objects.
"""

import copy
import re

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.openapi import openapi_document
from app.services import api_tokens, feedback
from tests.conftest import assert_error
from tests.factories import PASSWORD, make_message, make_room, make_user

_TEMPLATE_PARAMETER = re.compile(r"{([^{}]+)}")


def _document() -> dict:
    """The description, read at collection time from an app that never touches a database."""
    app = create_app(
        {
            "PARLEY_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SECRET_KEY": "collection",
            "MAIL_SERVER": None,
            "REDIS_URL": None,
        }
    )
    with app.app_context():
        return copy.deepcopy(openapi_document())


DOCUMENT = _document()
JSON_OPERATIONS = [
    pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if "application/json" in operation.get("requestBody", {}).get("content", {})
]


def _is_integer(schema: dict) -> bool:
    return schema.get("type") == "integer" or any(
        option.get("type") == "integer" for option in schema.get("anyOf", [])
    )


INTEGER_QUERY_PARAMETERS = [
    pytest.param(method.upper(), path, parameter["name"], id=f"{method.upper()} {path}?{parameter['name']}")
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "query" and _is_integer(parameter["schema"])
]
# The sweep must not be vacuous: these are in it whatever else is added.
assert {"POST /rooms", "PATCH /messages/{message_id}", "PATCH /users/{user_id}", "POST /feedback"} <= {
    p.id for p in JSON_OPERATIONS
}
assert {"GET /rooms/{room_id}/messages?limit", "GET /users?limit", "GET /feedback?page"} <= {
    p.id for p in INTEGER_QUERY_PARAMETERS
}


class Caller:
    """Sends requests to real objects' paths, as an admin signed in with a Bearer token."""

    def __init__(self, client, headers: dict, ids: dict) -> None:
        self.client, self.headers, self.ids = client, headers, ids

    def url(self, path: str) -> str:
        return _TEMPLATE_PARAMETER.sub(lambda match: str(self.ids[match.group(1)]), path)

    def send(self, method: str, path: str, **kwargs):
        return self.client.open(self.url(path), method=method, headers=self.headers, **kwargs)


@pytest.fixture
def caller(client, admin) -> Caller:
    member = make_user(name="Sam Sweep")
    room = make_room(admin, name="Sweep room", members=(member,))
    message = make_message(admin, room, "swept")
    item = feedback.submit_feedback(member, "Sweep", "Feedback to triage")
    _, secret = api_tokens.create_token(admin.email, PASSWORD, "sweep")
    ids = {"room_id": room.id, "message_id": message.id, "user_id": member.id, "feedback_id": item.id}
    return Caller(client, {"Authorization": f"Bearer {secret}"}, ids)


def snapshot() -> dict:
    """Every stored row (a token's last-use stamp aside), to show a refused request changed nothing."""
    db.session.expire_all()
    rows = {}
    for table in db.metadata.sorted_tables:
        columns = [column for column in table.columns if column.name != "last_used_at"]
        query = sa.select(*columns).order_by(*table.primary_key.columns)
        rows[table.name] = [tuple(row) for row in db.session.execute(query)]
    return rows


# -- every JSON body ----------------------------------------------------------------------
# Each test below tries several inputs of one kind in a loop, to keep the sweep fast.


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_malformed_json_is_400(caller, method, path):
    before = snapshot()
    for body in ['{"name": ', "{'name': 'single quotes'}", "{,}"]:
        response = caller.send(method, path, data=body, content_type="application/json")
        assert_error(response, 400, "malformed_json")
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_a_body_that_is_not_json_is_415(caller, method, path):
    before = snapshot()
    for content_type in ["text/plain", "application/x-www-form-urlencoded"]:
        response = caller.send(method, path, data="name=Renamed&content=hi", content_type=content_type)
        assert_error(response, 415, "unsupported_media_type")
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_json_that_is_not_an_object_is_400(caller, method, path):
    before = snapshot()
    for body in ["[]", '[{"name": "x"}]', "42", '"text"', "true"]:
        response = caller.send(method, path, data=body, content_type="application/json")
        assert_error(response, 400, "invalid_body")
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_an_unknown_field_is_422_naming_it(caller, method, path):
    before = snapshot()
    response = caller.send(method, path, json={"unexpected_field": 1})
    error = assert_error(response, 422, "validation_failed")
    assert error["fields"]["unexpected_field"] == "unknown field"
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_a_body_over_the_size_limit_is_413(app, caller, method, path):
    body = b'{"content": "' + b"x" * app.config["MAX_CONTENT_LENGTH"] + b'"}'
    before = snapshot()
    response = caller.send(method, path, data=body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
def test_a_form_body_with_the_session_cookie_is_415(login, admin, caller, method, path):
    """As with a token: the CSRF check reading the form must not turn the body into {}."""
    session = login(admin)
    before = snapshot()
    for content_type in ["application/x-www-form-urlencoded", "multipart/form-data"]:
        response = session.client.open(
            caller.url(path),
            method=method,
            headers=session.headers,
            data={"name": "Renamed", "content": "hi", "everywhere": "true"},
            content_type=content_type,
        )
        assert_error(response, 415, "unsupported_media_type")
    assert snapshot() == before


# -- every integer query parameter --------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "name"), INTEGER_QUERY_PARAMETERS)
def test_a_garbage_integer_query_parameter_is_422_naming_it(caller, method, path, name):
    for garbage in ["abc", "1.5", "1e3", "9" * 30, "-1", "0x10"]:
        response = caller.send(method, path, query_string={name: garbage})
        error = assert_error(response, 422, "validation_failed")
        assert name in error["fields"], garbage


@pytest.mark.parametrize(("method", "path", "name"), INTEGER_QUERY_PARAMETERS)
def test_a_valid_integer_query_parameter_is_accepted(caller, method, path, name):
    """The other side of the sweep above: the same URL with a sane value answers 200."""
    response = caller.send(method, path, query_string={name: "1"})
    assert response.status_code == 200, response.get_json()


def test_a_multipart_part_without_a_readable_name_is_400_with_the_session_cookie(member_session):
    """Found by tests/test_fuzz.py: a newline breaks the part's header, so the part has no
    name, and the CSRF check (which looks for its token among the names) answered 500."""
    body = b'--b\r\nContent-Disposition: form-data; name="a\nb"\r\n\r\nv\r\n--b--\r\n'
    response = member_session.post(
        "/auth/profile/upload", data=body, content_type="multipart/form-data; boundary=b"
    )
    assert_error(response, 400, "malformed_body")
