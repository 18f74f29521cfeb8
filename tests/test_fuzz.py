"""Schemathesis fuzzing of the REST API against its own /openapi.json.

Every operation of the description gets schemathesis' coverage cases (boundary values, each
field missing or of the wrong type, methods the path does not take) and then Hypothesis-
generated requests, valid (positive) and invalid (negative). Five callers send them, in-process
to a test app: nobody, a revoked Bearer token, a member's token, an admin's token, and a
member's session cookie with its CSRF token. Every answer must be no 5xx and must match the
description: a documented status code, content type and headers, a body that fits the
response schema, invalid input refused, and no success for a signed-in route without (or with
made-up) credentials (schemathesis re-sends those requests without them to check).

Generated ids rarely name a real row, so valid requests are pointed, one path parameter at a
time, at the objects of a small seeded world instead (rooms of every kind, messages, tokens,
feedback, invite codes, an avatar). After a request that changed something, the world is
checked; if the change touched what other requests rely on (a room deleted or closed, a token
revoked, a user deactivated, the cookie signed out), it is seeded anew before the next request.

The run is deterministic (derandomized Hypothesis, no example database) and bounded:
PARLEY_FUZZ_EXAMPLES generated examples per operation, mode and caller, on top of the coverage
cases. The requests sent are counted, and fewer than MIN_REQUESTS fails the run, so a change
that silently shrinks the budget cannot pass. Raise PARLEY_FUZZ_EXAMPLES for a longer hunt.
"""

import io
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask, request_started
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator
from PIL import Image
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import ApiToken, Message, Room, RoomMembership, User
from app.services import api_tokens, avatars, feedback, rooms
from app.services.presence import forget_prefix
from tests.conftest import TEST_REDIS_URL, empty_tables
from tests.factories import PASSWORD, make_message, make_room, make_user

# Generated examples per operation, mode and caller. At 5, the 43 operations (all but
# /openapi.json) x 2 modes x 5 callers make about 1,900 requests (operations without input
# need fewer), and their coverage cases about 5,200 more: some 7,000 in about 40 s.
EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "5"))
MIN_REQUESTS = 5000
CALLERS = ("anonymous", "revoked_token", "member_token", "admin_token", "member_cookie")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NEGATIVE_ACCEPTED = "Schema-violating request accepted"
SESSION_COOKIE = "parley_session"


@dataclass
class World:
    """The seeded rows: real values for path parameters, and each caller's credentials."""

    path_values: dict[str, list[Any]]
    headers: dict[str, dict[str, str]]
    member_email: str
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)
    fingerprint: tuple = ()


def _tiny_png() -> FileStorage:
    data = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(data, "PNG")
    data.seek(0)
    return FileStorage(data, filename="avatar.png", content_type="image/png")


def _seed_rows() -> World:
    admin = make_user(name="Ada Admin", role="admin")
    member = make_user(name="Mia Member")
    other = make_user(name="Otto Other")
    public = make_room(member, members=(other,))
    private = make_room(member, kind="private", members=(other,))
    others_public = make_room(other, members=(member,))
    others_private = make_room(other, kind="private")
    closed = make_room(other, members=(member,))
    rooms.set_room_active(other, closed.id, False)
    direct = rooms.open_direct_room(member, other.id)[0].room
    messages = [
        make_message(member, public),
        make_message(other, public),
        make_message(other, others_public),
        make_message(other, direct),
    ]
    avatars.save_avatar(member, _tiny_png())
    item = feedback.submit_feedback(None, "Hello", "A word.", name="Fay", email="fay@example.com")
    member_token, member_secret = api_tokens.create_token(member.email, PASSWORD, "fuzz")
    spare_token, _ = api_tokens.create_token(member.email, PASSWORD, "spare")
    admin_token, admin_secret = api_tokens.create_token(admin.email, PASSWORD, "fuzz")
    revoked_token, revoked_secret = api_tokens.create_token(member.email, PASSWORD, "revoked")
    api_tokens.revoke_token(member, revoked_token.id)
    return World(
        path_values={
            "user_id": [admin.id, member.id, other.id],
            "room_id": [public.id, private.id, others_public.id, others_private.id, closed.id, direct.id],
            "message_id": [message.id for message in messages],
            "token_id": [member_token.id, spare_token.id, admin_token.id],
            "feedback_id": [item.id],
            "code": [private.invite_code, others_private.invite_code],
            "filename": [member.avatar],
        },
        headers={
            "anonymous": {},
            "revoked_token": {"Authorization": f"Bearer {revoked_secret}"},
            "member_token": {"Authorization": f"Bearer {member_secret}"},
            "admin_token": {"Authorization": f"Bearer {admin_secret}"},
            "member_cookie": {},
        },
        member_email=member.email,
    )


def _fingerprint(world: World) -> tuple:
    """The state of the seeded rows that requests rely on (new rows do not matter)."""
    ids = world.path_values
    queries = [
        sa.select(User.id, User.role, User.is_active, User.session_version, User.avatar).where(
            User.id.in_(ids["user_id"])
        ),
        sa.select(Room.id, Room.is_active, Room.invite_code).where(Room.id.in_(ids["room_id"])),
        sa.select(RoomMembership.room_id, RoomMembership.user_id, RoomMembership.role).where(
            RoomMembership.room_id.in_(ids["room_id"])
        ),
        sa.select(Message.id, Message.deleted_at.is_(None)).where(Message.id.in_(ids["message_id"])),
        sa.select(ApiToken.id, ApiToken.revoked_at.is_(None)).where(ApiToken.id.in_(ids["token_id"])),
    ]
    return tuple(tuple(sorted(tuple(row) for row in db.session.execute(query))) for query in queries)


class WorldKeeper:
    """The current world, seeded again whenever a request spoiled it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.world = self._seed()
        self.seeded = 1
        self.document: dict | None = None

    def _seed(self) -> World:
        with self.app.app_context():
            empty_tables()
            world = _seed_rows()
            world.fingerprint = _fingerprint(world)
        client = self.app.test_client()
        response = client.post("/auth/login", json={"email": world.member_email, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        world.headers["member_cookie"] = {"X-CSRFToken": response.get_json()["csrf_token"]}
        world.cookies["member_cookie"] = {SESSION_COOKIE: client.get_cookie(SESSION_COOKIE).value}
        return world

    def _intact(self) -> bool:
        with self.app.app_context():
            if _fingerprint(self.world) != self.world.fingerprint:
                return False
        client = self.app.test_client()
        client.set_cookie(SESSION_COOKIE, self.world.cookies["member_cookie"][SESSION_COOKIE])
        return client.get("/auth/me").status_code == 200

    def explained_by_trimming(self, case: Case) -> bool:
        """Whether an invalid body that was accepted is valid once its text is trimmed.

        Text fields other than passwords are trimmed before their limits are checked (DESIGN
        §4; the description says so), which JSON Schema cannot express: a form feed and 200
        letters are over a maxLength of 200 as sent, and fine once trimmed.
        """
        meta = case.meta
        negative = [location for location in meta.components if meta.is_negative_at(location)]
        if negative != [ParameterLocation.BODY] or not isinstance(case.body, dict):
            return False
        trimmed = {
            name: value.strip() if isinstance(value, str) and "password" not in name else value
            for name, value in case.body.items()
        }
        if self.document is None:
            self.document = self.app.test_client().get("/openapi.json").get_json()
        operation = self.document["paths"][case.operation.path][case.method.lower()]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**body, "components": self.document["components"]})
        return validator.is_valid(trimmed)

    def after_change(self) -> None:
        """Seed anew if the last request spoiled the world for the requests after it."""
        if not self._intact():
            self.world = self._seed()
            self.seeded += 1


@dataclass
class Tally:
    """What one caller's requests got, and what went wrong (once per operation and problem)."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def add_failure(self, operation: str, title: str, report: str) -> None:
        self.failures.setdefault((operation, title), report)


def _aim(case: Case, world: World, data: st.DataObject) -> None:
    """Point some path parameters of a valid case at seeded rows."""
    for name in case.path_parameters or {}:
        values = world.path_values.get(name)
        if values and data.draw(st.booleans()):
            case.path_parameters[name] = data.draw(st.sampled_from(values))


def _send(case: Case, caller: str, keeper: WorldKeeper, tally: Tally) -> None:
    """Send one case as the caller, check the answer, and keep the world usable."""
    world = keeper.world
    if caller != "anonymous":
        # This caller's own credentials, not generated ones (nobody's may be any junk).
        (case.headers or {}).pop("Authorization", None)
        (case.cookies or {}).pop(SESSION_COOKIE, None)
    headers = world.headers[caller]
    label = f"{case.operation.label} [{case.meta.phase.name.value} {case.meta.generation.mode.value}]"
    tally.requests += 1
    try:
        response = case.call(headers=headers, cookies=world.cookies.get(caller))
    except Exception as error:  # the app raised instead of answering: a 500 on a real server
        tally.add_failure(label, f"unhandled {type(error).__name__}", f"{error!r}\n{case.as_curl_command()}")
        keeper.after_change()
        return
    tally.statuses[response.status_code] += 1
    try:
        # The session cookie counts as a credential the caller chose, like the Bearer header.
        cookie = "; ".join(f"{name}={value}" for name, value in world.cookies.get(caller, {}).items())
        sent = {**headers, "Cookie": cookie} if cookie else headers
        case.validate_response(response, checks=CHECKS, headers=sent)
    except FailureGroup as group:
        for failure in group.exceptions:
            if not (failure.title == NEGATIVE_ACCEPTED and keeper.explained_by_trimming(case)):
                tally.add_failure(label, failure.title, str(group))
    if case.method.upper() in UNSAFE_METHODS and 200 <= response.status_code < 300:
        keeper.after_change()


def cover_operation(
    schema: BaseSchema, operation: APIOperation, caller: str, keeper: WorldKeeper, tally: Tally
) -> None:
    """Send the coverage cases of one operation, every other valid one aimed at seeded rows."""
    config = schema.config.generation_for(operation=operation)
    cases = schema.iter_coverage_cases(operation, generation_modes=list(MODES), generation_config=config)
    for number, case in enumerate(cases):
        if case.meta.generation.mode == GenerationMode.POSITIVE and number % 2:
            for name in case.path_parameters or {}:
                values = keeper.world.path_values.get(name)
                if values:
                    case.path_parameters[name] = values[number // 2 % len(values)]
        _send(case, caller, keeper, tally)


def fuzz_operation(
    operation: APIOperation, mode: GenerationMode, caller: str, keeper: WorldKeeper, tally: Tally
) -> None:
    """Send up to EXAMPLES generated requests for one operation, mode and caller."""
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def send(data: st.DataObject) -> None:
        case = data.draw(strategy)
        if mode == GenerationMode.POSITIVE:
            _aim(case, keeper.world, data)
        _send(case, caller, keeper, tally)

    try:
        send()
    except Unsatisfiable:
        # Nothing to make invalid: the operation takes no input (GET /health, /auth/csrf, ...).
        if mode == GenerationMode.POSITIVE:
            raise


@pytest.fixture
def fuzz_app(make_app) -> Iterator[Flask]:
    """A test app on the run's database, and on Redis when TEST_REDIS_URL is set; no rate limits."""
    overrides: dict[str, Any] = {"RATELIMIT_ENABLED": False}
    if TEST_REDIS_URL:
        overrides.update(REDIS_URL=TEST_REDIS_URL, REDIS_PREFIX=f"parley-fuzz-{os.getpid()}")
    yield make_app(**overrides)
    if TEST_REDIS_URL:
        forget_prefix(TEST_REDIS_URL, overrides["REDIS_PREFIX"])


def test_fuzzed_requests_get_the_answers_the_description_promises(fuzz_app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    keeper = WorldKeeper(fuzz_app)
    tallies = {caller: Tally() for caller in CALLERS}
    answered = []
    started = time.monotonic()
    with request_started.connected_to(lambda sender, **_: answered.append(1), fuzz_app):
        for caller in CALLERS:
            for operation in operations:
                cover_operation(schema, operation, caller, keeper, tallies[caller])
                for mode in MODES:
                    fuzz_operation(operation, mode, caller, keeper, tallies[caller])
    sent = sum(tally.requests for tally in tallies.values())
    print(f"\nfuzz: {sent} requests to {len(operations)} operations in {time.monotonic() - started:.0f} s")
    print(f"  the app answered {len(answered)} requests in all (with auth probes and sign-ins)")
    for caller, tally in tallies.items():
        print(f"  {caller}: {tally.requests} requests, statuses {dict(sorted(tally.statuses.items()))}")
    print(f"  the world was seeded {keeper.seeded} times")
    failures = [
        f"--- {caller}: {operation}: {title}\n{report}"
        for caller, tally in tallies.items()
        for (operation, title), report in sorted(tally.failures.items())
    ]
    assert not failures, f"{len(failures)} problem(s):\n" + "\n".join(failures)
    assert sent >= MIN_REQUESTS, f"only {sent} requests were sent"
