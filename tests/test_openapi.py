"""The OpenAPI description: complete, valid 3.1, and true to what the endpoints enforce and answer."""

import copy
import re
from collections import Counter

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator

from app.models import User
from app.services import api_tokens, messaging
from tests.factories import PASSWORD, make_message, make_room, make_user

METHODS = ("get", "post", "put", "patch", "delete")
# Flask's `<int:room_id>` / `<code>` become OpenAPI's `{room_id}` / `{code}`.
_FLASK_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_TEMPLATE_PARAMETER = re.compile(r"{([^{}]+)}")
# What the admin-only endpoints are (DESIGN §4); the probe below must find exactly these.
ADMIN_OPERATIONS = {
    "update_user",
    "admin_list_users",
    "list_feedback",
    "triage_feedback",
    "admin_stats",
    "admin_list_rooms",
}
# A path id that matches nothing, and a string path value that matches nothing.
MISSING_ID, MISSING_TEXT = 987654321, "no-such-thing"


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def operations(document: dict):
    """(path, method, operation) for every operation the description lists."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def openapi_path(rule: str) -> str:
    return _FLASK_PARAMETER.sub(r"{\1}", rule)


def fill_path(path: str, values: dict | None = None) -> str:
    """The path with each {parameter} replaced by values[name], else by something that matches nothing."""
    values = values or {}

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in values:
            return str(values[name])
        return str(MISSING_ID) if name.endswith("_id") else MISSING_TEXT

    return _TEMPLATE_PARAMETER.sub(value, path)


def component(document: dict, reference: dict) -> dict:
    return document["components"]["schemas"][reference["$ref"].rsplit("/", 1)[-1]]


def body_schema(document: dict, path: str, method: str) -> dict:
    return component(
        document, document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    )


def bearer_headers(user: User) -> dict:
    _, secret = api_tokens.create_token(user.email, PASSWORD, "openapi tests")
    return {"Authorization": f"Bearer {secret}"}


# -- completeness -------------------------------------------------------------------------


def test_every_route_is_described(app, document):
    missing = []
    for rule in app.url_map.iter_rules():
        # Socket.IO's middleware answers its path; the rule is there for Flask-SocketIO's contexts.
        if rule.endpoint in ("static", "socketio"):
            continue
        if rule.endpoint.startswith("pages."):  # HTML pages for browsers, not part of the API
            continue
        path = openapi_path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {path} ({rule.endpoint})")
    assert missing == []


def test_every_described_operation_exists(app, document):
    routes = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods
    }
    invented = [
        f"{method.upper()} {path}" for path, method, _ in operations(document) if (path, method) not in routes
    ]
    assert invented == []


def test_operation_ids_are_unique(document):
    counts = Counter(operation["operationId"] for _, _, operation in operations(document))
    assert [name for name, count in counts.items() if count > 1] == []


def test_every_operation_has_a_summary_from_its_docstring(document):
    # spectree falls back to "name <METHOD>" when the view has no docstring.
    lacking = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(document)
        if not operation.get("summary", "").strip() or operation["summary"].endswith(f"<{method.upper()}>")
    ]
    assert lacking == []


def test_every_path_parameter_is_declared(document):
    problems = []
    for path, method, operation in operations(document):
        declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
        named = set(_TEMPLATE_PARAMETER.findall(path))
        if set(declared) != named:
            problems.append(
                f"{method.upper()} {path}: declares {sorted(declared)}, path names {sorted(named)}"
            )
        problems += [
            f"{method.upper()} {path}: {name} is not required"
            for name, parameter in declared.items()
            if parameter.get("required") is not True
        ]
    assert problems == []


def test_json_body_operations_declare_400_415_and_422(document):
    problems = [
        f"{method.upper()} {path} lacks {sorted({'400', '415', '422'} - set(operation['responses']))}"
        for path, method, operation in operations(document)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
        and not {"400", "415", "422"} <= set(operation["responses"])
    ]
    assert problems == []


# -- access, as declared and as enforced ----------------------------------------------------


def test_signed_in_operations_declare_security_and_401(client, document):
    """An anonymous call tells which operations need sign-in; the description says so for exactly those."""
    problems = []
    for path, method, operation in operations(document):
        response = client.open(fill_path(path), method=method.upper())
        assert response.status_code != 500, f"{method.upper()} {path}"
        needs_sign_in = response.status_code == 401
        if needs_sign_in:
            assert response.get_json()["error"]["code"] == "unauthorized"
        declares = bool(operation.get("security")) and "401" in operation["responses"]
        if needs_sign_in != declares:
            problems.append(
                f"{method.upper()} {path}: answers {response.status_code} anonymously, declares {declares}"
            )
    assert problems == []


def test_an_unknown_bearer_token_is_refused_everywhere_as_described(client, document):
    """Found by tests/test_fuzz.py: a token is checked wherever it is sent, also on the routes
    open to anyone, whose description did not list the 401 (nor a deactivated account's 403)."""
    problems = []
    for path, method, operation in operations(document):
        headers = {"Authorization": "Bearer parley_no-such-token"}
        response = client.open(fill_path(path), method=method.upper(), headers=headers)
        if response.status_code != 401 or not {"401", "403"} <= set(operation["responses"]):
            declared = sorted(operation["responses"])
            problems.append(f"{method.upper()} {path}: answers {response.status_code}, declares {declared}")
    assert problems == []


def test_signed_in_operations_accept_the_session_and_the_bearer_scheme(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer"}
    assert schemes["session"] == {"type": "apiKey", "in": "cookie", "name": "parley_session"}
    for _, _, operation in operations(document):
        assert operation.get("security") in ([], None, [{"session": []}, {"bearer": []}])


def test_admin_operations_declare_403(client, member, document):
    """A member's call tells which operations are admin-only; each must declare 403."""
    headers = bearer_headers(member)
    admin_only, undeclared = set(), []
    for path, method, operation in operations(document):
        response = client.open(fill_path(path), method=method.upper(), headers=headers)
        assert response.status_code != 500, f"{method.upper()} {path}"
        if response.status_code == 403 and response.get_json()["error"]["code"] == "admin_only":
            admin_only.add(operation["operationId"])
            if "403" not in operation["responses"]:
                undeclared.append(f"{method.upper()} {path}")
    assert admin_only == ADMIN_OPERATIONS
    assert undeclared == []


# -- the description is the validation -----------------------------------------------------

# (path, request schema, field, documented maxLength)
BODY_LIMITS = [
    ("/rooms", "RoomCreateIn", "name", 64),
    ("/rooms/{room_id}/messages", "MessageIn", "content", 4000),
    ("/auth/register", "RegisterIn", "name", 64),
    ("/auth/register", "RegisterIn", "password", 128),
]


@pytest.fixture
def body_for(app, member):
    """body_for(path)(field, value) -> (url, a valid body with field=value) as the member sends it."""
    room = make_room(member, name="Limits")
    counter = iter(range(1, 1000))

    def make(path: str):
        def build(field: str, value: str) -> tuple[str, dict]:
            n = next(counter)
            defaults = {
                "/rooms": {"name": f"Room {n}"},
                "/rooms/{room_id}/messages": {"content": "hello"},
                "/auth/register": {"email": f"limit{n}@example.com", "password": PASSWORD, "name": "Lim"},
            }[path]
            return fill_path(path, {"room_id": room.id}), {**defaults, field: value}

        return build

    return make


@pytest.mark.parametrize(("path", "schema", "field", "limit"), BODY_LIMITS)
def test_documented_max_length_is_the_one_enforced(
    login, member, document, body_for, path, schema, field, limit
):
    requested = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert requested == {"$ref": f"#/components/schemas/{schema}"}
    assert body_schema(document, path, "post")["properties"][field]["maxLength"] == limit
    session = login(member)
    build = body_for(path)

    url, over = build(field, "x" * (limit + 1))
    refused = session.post(url, json=over)
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json()["error"]["code"] == "validation_failed"
    assert field in refused.get_json()["error"]["fields"]

    url, at = build(field, "x" * limit)
    accepted = session.post(url, json=at)
    assert accepted.status_code == 201, accepted.get_json()


def test_the_description_says_length_limits_count_the_trimmed_text(document):
    """Found by tests/test_fuzz.py: a name or message over its maxLength only by surrounding
    whitespace is accepted, as DESIGN §4 counts after trimming (test_messages checks it); the
    description did not say so, so the request looked like invalid data let through."""
    description = document["info"]["description"]
    assert "trimmed of surrounding whitespace" in description
    assert "maxLength count the characters that are left" in description


def test_documented_min_length_of_passwords_is_the_one_enforced(client, document):
    minimum = body_schema(document, "/auth/register", "post")["properties"]["password"]["minLength"]
    assert minimum == 12
    base = {"name": "Min", "password": "p" * (minimum - 1)}
    refused = client.post("/auth/register", json={**base, "email": "short@example.com"})
    assert refused.status_code == 422
    assert "password" in refused.get_json()["error"]["fields"]
    accepted = client.post(
        "/auth/register", json={**base, "email": "ok@example.com", "password": "p" * minimum}
    )
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    ("path", "required"),
    [
        ("/rooms", {"name"}),
        ("/rooms/{room_id}/messages", {"content"}),
        ("/auth/register", {"email", "password", "name"}),
    ],
)
def test_documented_required_fields_are_the_ones_enforced(login, member, document, path, required):
    assert set(body_schema(document, path, "post")["required"]) == required
    room = make_room(member)
    response = login(member).post(fill_path(path, {"room_id": room.id}), json={})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == required


def test_a_json_body_is_described_as_required_only_when_it_has_required_fields(document):
    """Found by tests/test_fuzz.py: an empty body counts as {}, so POST /auth/logout, PATCH
    /rooms/<id> and the like take a request without one, and must not be described otherwise."""
    problems = []
    for path, method, operation in operations(document):
        if "application/json" not in operation.get("requestBody", {}).get("content", {}):
            continue
        has_required_fields = bool(body_schema(document, path, method).get("required"))
        if operation["requestBody"].get("required", False) != has_required_fields:
            problems.append(f"{method.upper()} {path}")
    assert problems == []


@pytest.mark.parametrize(("method", "path"), [("post", "/auth/logout"), ("patch", "/rooms/{room_id}")])
def test_a_body_described_as_optional_may_be_left_out(login, member, document, method, path):
    assert document["paths"][path][method]["requestBody"]["required"] is False
    room = make_room(member)
    response = getattr(login(member), method)(fill_path(path, {"room_id": room.id}))
    assert response.status_code == 200, response.get_json()


def test_history_query_is_described_as_enforced(document):
    parameters = {
        p["name"]: p
        for p in document["paths"]["/rooms/{room_id}/messages"]["get"]["parameters"]
        if p["in"] == "query"
    }
    assert set(parameters) == {"before", "after", "limit"}
    assert not any(p.get("required") for p in parameters.values())
    limit = parameters["limit"]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == ("integer", 1, 100, 50)


@pytest.mark.parametrize(("limit", "status"), [(0, 422), (1, 200), (100, 200), (101, 422)])
def test_history_limit_bounds_are_the_documented_ones(login, member, limit, status):
    room = make_room(member)
    make_message(member, room)
    response = login(member).get(f"/rooms/{room.id}/messages?limit={limit}")
    assert response.status_code == status
    if status == 422:
        assert response.get_json()["error"]["code"] == "validation_failed"
        assert set(response.get_json()["error"]["fields"]) == {"limit"}


def test_path_ids_outside_the_described_bounds_are_404(client, member, document):
    parameter = document["paths"]["/users/{user_id}"]["get"]["parameters"][0]
    assert parameter["schema"] == {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    headers = bearer_headers(member)
    for user_id in (0, 2**63):
        response = client.get(f"/users/{user_id}", headers=headers)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "user_not_found"
    assert client.get(f"/users/{member.id}", headers=headers).status_code == 200


# -- a valid document, and its page ---------------------------------------------------------


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    errors = [
        f"{'/'.join(map(str, error.path))}: {error.message}"
        for error in OpenAPIV31SpecValidator(document).iter_errors()
    ]
    assert errors == []


def test_docs_page_is_html_listing_every_path_without_script(client, document):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert [path for path in document["paths"] if f"<code>{path}</code>" not in page] == []
    assert "<script" not in page.lower()


# -- real answers match the described responses ---------------------------------------------


def _closed(schema: object) -> object:
    """A copy where every object schema that lists properties refuses any other key."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in closed and "additionalProperties" not in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def conformance_errors(document: dict, method: str, path: str, status: int, body: object) -> list[str]:
    """Where body differs from the schema documented for that status (undocumented keys included)."""
    responses = document["paths"][path][method]["responses"]
    if str(status) not in responses:
        return [f"{status} is not a documented answer"]
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    root = {**copy.deepcopy(schema), "components": _closed(document["components"])}
    validator = Draft202012Validator(root, format_checker=FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


def assert_conforms(document: dict, method: str, path: str, response) -> None:
    """The response's JSON body matches what the description promises for its status."""
    errors = conformance_errors(document, method, path, response.status_code, response.get_json())
    assert errors == [], f"{method.upper()} {path} {response.status_code}"


def test_room_list_conforms(login, member, admin, document):
    make_room(member, name="Public")
    make_room(member, name="Secret", kind="private")
    make_room(admin, name="Shared", members=(member,))
    session = login(member)
    session.post(f"/users/{admin.id}/dm")
    response = session.get("/rooms")
    assert response.status_code == 200
    assert len(response.get_json()["rooms"]) == 4
    assert_conforms(document, "get", "/rooms", response)


@pytest.mark.parametrize("kind", ["public", "private"])
def test_room_creation_conforms(member_session, document, kind):
    response = member_session.post("/rooms", json={"name": f"New {kind}", "kind": kind})
    assert response.status_code == 201
    assert_conforms(document, "post", "/rooms", response)


def test_room_name_clash_conforms(member_session, member, document):
    make_room(member, name="Taken")
    response = member_session.post("/rooms", json={"name": "TAKEN"})
    assert response.status_code == 409
    assert_conforms(document, "post", "/rooms", response)


def test_sent_and_repeated_message_conform(member_session, member, document):
    room = make_room(member)
    first = member_session.post(f"/rooms/{room.id}/messages", json={"content": "hi", "client_id": "c-1"})
    repeat = member_session.post(f"/rooms/{room.id}/messages", json={"content": "hi", "client_id": "c-1"})
    assert (first.status_code, repeat.status_code) == (201, 200)
    assert_conforms(document, "post", "/rooms/{room_id}/messages", first)
    assert_conforms(document, "post", "/rooms/{room_id}/messages", repeat)


def test_history_conforms(member_session, member, document):
    room = make_room(member)
    kept = make_message(member, room, "stays")
    gone = make_message(member, room, "goes")
    messaging.edit_message(member, kept.id, "edited")
    messaging.delete_message(member, gone.id)
    response = member_session.get(f"/rooms/{room.id}/messages?limit=1")
    assert response.status_code == 200
    assert response.get_json()["has_more"] is True
    assert_conforms(document, "get", "/rooms/{room_id}/messages", response)
    everything = member_session.get(f"/rooms/{room.id}/messages")
    assert [m["deleted"] for m in everything.get_json()["messages"]] == [False, True]
    assert_conforms(document, "get", "/rooms/{room_id}/messages", everything)


def test_history_refusal_conforms(member_session, member, document):
    room = make_room(member)
    response = member_session.get(f"/rooms/{room.id}/messages?before=1&after=2")
    assert response.status_code == 422
    assert_conforms(document, "get", "/rooms/{room_id}/messages", response)


@pytest.mark.parametrize("viewer", ["self", "other", "admin"])
def test_user_detail_conforms(login, member, admin, document, viewer):
    other = make_user(name="Olly Other")
    target = {"self": member, "other": other, "admin": member}[viewer]
    session = login(admin if viewer == "admin" else member)
    response = session.get(f"/users/{target.id}")
    assert response.status_code == 200
    assert_conforms(document, "get", "/users/{user_id}", response)


def test_unknown_user_conforms(member_session, document):
    response = member_session.get(f"/users/{MISSING_ID}")
    assert response.status_code == 404
    assert_conforms(document, "get", "/users/{user_id}", response)


def test_feedback_submission_conforms(client, member_session, document):
    anonymous = client.post(
        "/feedback",
        json={"subject": "Hi", "message": "Nice", "name": "Vi Visitor", "email": "vi@example.com"},
    )
    signed_in = member_session.post("/feedback", json={"subject": "Hi", "message": "From a member"})
    assert (anonymous.status_code, signed_in.status_code) == (201, 201)
    assert_conforms(document, "post", "/feedback", anonymous)
    assert_conforms(document, "post", "/feedback", signed_in)


def test_feedback_refusal_conforms(client, document):
    response = client.post("/feedback", json={"subject": "Hi", "message": "Who am I"})
    assert response.status_code == 422
    assert_conforms(document, "post", "/feedback", response)


def test_health_conforms(client, document):
    response = client.get("/health")
    assert response.status_code == 200
    assert_conforms(document, "get", "/health", response)


def test_conformance_check_catches_undocumented_and_missing_keys(member_session, document):
    body = member_session.post("/rooms", json={"name": "Strict"}).get_json()
    assert conformance_errors(document, "post", "/rooms", 201, body) == []
    surprise = {"room": {**body["room"], "surprise": 1}}
    assert conformance_errors(document, "post", "/rooms", 201, surprise) != []
    without_name = {"room": {k: v for k, v in body["room"].items() if k != "name"}}
    assert conformance_errors(document, "post", "/rooms", 201, without_name) != []
    assert conformance_errors(document, "post", "/rooms", 200, body) != []
