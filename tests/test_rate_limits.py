"""REST abuse limits (DESIGN §4, app/rate_limits.py): each limit's N+1th request is a 429 with
Retry-After, other accounts and addresses are unaffected, counts are shared through Redis, a
Redis outage fails nothing; and the request body cap (413) that spares the avatar upload.

The limit tests run twice: on the in-process memory storage and on Redis (TEST_REDIS_URL, or
the run's private redis-server), each time with the default limits of DESIGN §4.
"""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.config import Config
from app.rate_limits import LIMIT_KEYS
from app.services.presence import forget_prefix
from tests.conftest import assert_error, free_port
from tests.conftest import sign_in as signed_in
from tests.factories import PASSWORD, make_user
from tests.test_avatars import image_bytes, upload
from tests.test_openapi import conformance_errors

WRONG = "not the password at all"


@pytest.fixture
def limited(make_app) -> Iterator[Callable[..., Flask]]:
    """limited(**config) -> an app with the rate limits on, as outside tests; context pushed."""
    with ExitStack() as stack:

        def build(**config) -> Flask:
            application = make_app(RATELIMIT_ENABLED=True, **config)
            stack.enter_context(application.app_context())
            return application

        yield build


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"parley-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    forget_prefix(redis_url, prefix)


@pytest.fixture(params=["memory", "redis"])
def storage(request) -> dict:
    """Where the counts live: this process's memory, or Redis through REDIS_URL."""
    if request.param == "memory":
        return {}
    return {
        "REDIS_URL": request.getfixturevalue("redis_url"),
        "REDIS_PREFIX": request.getfixturevalue("redis_prefix"),
    }


@pytest.fixture
def app(limited, storage) -> Flask:
    """The application with the default limits on (overrides conftest's, where they are off)."""
    return limited(**storage)


def send(app: Flask, path: str, body: dict, address: str = "127.0.0.1", **kwargs) -> object:
    """POST body from a fresh client (no cookie) at this address."""
    client: FlaskClient = app.test_client()
    return client.post(path, json=body, environ_base={"REMOTE_ADDR": address}, **kwargs)


def sign_in(app: Flask, email: str, password: str = PASSWORD, address: str = "127.0.0.1") -> object:
    return send(app, "/auth/login", {"email": email, "password": password}, address)


def assert_limited(response, window_seconds: int) -> dict:
    """A 429 rate_limited envelope whose Retry-After is a delay within the window."""
    error = assert_error(response, 429, "rate_limited")
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= window_seconds
    assert "try again in" in error["message"]
    return error


def statuses(responses) -> list[int]:
    return [response.status_code for response in responses]


# == failed sign-ins: 5 per account per 15 minutes, 30 per address per minute ==============


def test_the_sixth_failed_login_of_an_account_is_429(app):
    user = make_user()
    assert statuses(sign_in(app, user.email, WRONG) for _ in range(5)) == [401] * 5
    assert_limited(sign_in(app, user.email, WRONG), 15 * 60)


def test_a_locked_account_is_refused_even_with_the_right_password(app):
    user = make_user()
    for _ in range(5):
        sign_in(app, user.email, WRONG)
    assert_limited(sign_in(app, user.email), 15 * 60)


def test_one_accounts_failures_leave_other_accounts_alone(app):
    locked, other = make_user(), make_user()
    for _ in range(6):
        sign_in(app, locked.email, WRONG)
    assert sign_in(app, other.email, WRONG).status_code == 401
    assert sign_in(app, other.email).status_code == 200


def test_successful_logins_do_not_count_against_the_failure_limit(app):
    user = make_user()
    assert statuses(sign_in(app, user.email) for _ in range(10)) == [200] * 10
    assert statuses(sign_in(app, user.email, WRONG) for _ in range(5)) == [401] * 5


def test_the_account_is_known_by_its_normalised_email(app):
    user = make_user(email="casey@example.com")
    for spelling in ["casey@example.com", "CASEY@example.com", " Casey@Example.com ", "casey@EXAMPLE.COM"]:
        assert sign_in(app, spelling, WRONG).status_code == 401
    assert sign_in(app, "casey@example.com", WRONG).status_code == 401
    assert_limited(sign_in(app, user.email, WRONG), 15 * 60)


def test_the_31st_failed_login_from_one_address_is_429(app):
    emails = [f"nobody-{n}@example.com" for n in range(31)]
    assert statuses(sign_in(app, email, WRONG, "198.51.100.1") for email in emails[:30]) == [401] * 30
    assert_limited(sign_in(app, emails[30], WRONG, "198.51.100.1"), 60)


def test_one_addresss_failures_leave_other_addresses_alone(app):
    user = make_user()
    for n in range(31):
        sign_in(app, f"nobody-{n}@example.com", WRONG, "198.51.100.1")
    assert sign_in(app, user.email, address="198.51.100.2").status_code == 200


def test_failed_token_requests_count_as_failed_logins(app):
    user = make_user()
    body = {"email": user.email, "password": WRONG, "name": "script"}
    assert statuses(send(app, "/auth/tokens", body) for _ in range(5)) == [401] * 5
    assert_limited(sign_in(app, user.email), 15 * 60)


def test_the_address_behind_a_trusted_proxy_is_the_client(limited):
    app = limited(TRUSTED_PROXIES=1, LOGIN_IP_LIMIT="2 per minute")
    user = make_user()

    def via_proxy(client_address: str, password: str = WRONG):
        body = {"email": user.email, "password": password}
        return send(app, "/auth/login", body, "127.0.0.1", headers={"X-Forwarded-For": client_address})

    for _ in range(2):
        via_proxy("203.0.113.7")
    assert_limited(via_proxy("203.0.113.7"), 60)
    assert via_proxy("203.0.113.8", PASSWORD).status_code == 200


# == registration: 10 per address per hour ==================================================


def register(app: Flask, address: str = "127.0.0.1") -> object:
    email = f"new-{uuid.uuid4().hex[:10]}@example.com"
    return send(app, "/auth/register", {"email": email, "password": PASSWORD, "name": "New"}, address)


def test_the_eleventh_registration_from_one_address_is_429(app):
    assert statuses(register(app) for _ in range(10)) == [201] * 10
    assert_limited(register(app), 3600)


def test_registrations_from_other_addresses_go_on(app):
    for _ in range(11):
        register(app, "198.51.100.1")
    assert register(app, "198.51.100.2").status_code == 201


def test_refused_registration_bodies_are_not_counted(app):
    for _ in range(12):
        send(app, "/auth/register", {"email": "not an email", "password": PASSWORD, "name": "New"})
    assert register(app).status_code == 201


# == API tokens: 10 created per account per hour =============================================


def create_token(app: Flask, email: str) -> object:
    return send(app, "/auth/tokens", {"email": email, "password": PASSWORD, "name": "script"})


def test_the_eleventh_token_of_an_account_within_an_hour_is_429(app):
    user = make_user()
    assert statuses(create_token(app, user.email) for _ in range(10)) == [201] * 10
    assert_limited(create_token(app, user.email), 3600)


def test_another_accounts_tokens_are_not_limited_by_the_first(app):
    busy, other = make_user(), make_user()
    for _ in range(11):
        create_token(app, busy.email)
    assert create_token(app, other.email).status_code == 201


# == password reset: 5 mails per account per hour, 20 requests per address per hour ==========


def forgot(app: Flask, email: str, address: str = "127.0.0.1") -> object:
    return send(app, "/auth/password/forgot", {"email": email}, address)


def test_the_sixth_reset_request_for_an_account_is_429(app):
    user = make_user()
    assert statuses(forgot(app, user.email) for _ in range(5)) == [202] * 5
    assert_limited(forgot(app, user.email.upper()), 3600)


def test_reset_requests_for_another_account_go_on(app):
    user, other = make_user(), make_user()
    for _ in range(6):
        forgot(app, user.email)
    assert forgot(app, other.email).status_code == 202


def test_the_21st_reset_request_from_one_address_is_429(app):
    emails = [f"nobody-{n}@example.com" for n in range(21)]
    assert statuses(forgot(app, email, "198.51.100.1") for email in emails[:20]) == [202] * 20
    assert_limited(forgot(app, emails[20], "198.51.100.1"), 3600)
    assert forgot(app, emails[20], "198.51.100.2").status_code == 202


def test_setting_a_new_password_shares_the_addresss_reset_allowance(app):
    body = {"token": "not-a-real-token", "password": "a brand new passphrase"}
    for _ in range(20):
        assert send(app, "/auth/password/reset", body).status_code != 429
    assert_limited(send(app, "/auth/password/reset", body), 3600)
    assert_limited(forgot(app, "nobody@example.com"), 3600)


# == feedback: 5 per address per minute ====================================================


def feedback(app: Flask, address: str = "127.0.0.1") -> object:
    body = {"subject": "Hi", "message": "Nice app", "name": "Visitor", "email": "visitor@example.com"}
    return send(app, "/feedback", body, address)


def test_the_sixth_feedback_from_one_address_within_a_minute_is_429(app):
    assert statuses(feedback(app) for _ in range(5)) == [201] * 5
    assert_limited(feedback(app), 60)


def test_feedback_from_another_address_goes_on(app):
    for _ in range(6):
        feedback(app, "198.51.100.1")
    assert feedback(app, "198.51.100.2").status_code == 201


# == windows, storage, configuration =========================================================


def test_the_allowance_comes_back_when_the_window_has_passed(limited):
    app = limited(LOGIN_ACCOUNT_LIMIT="2 per 1 second")
    user = make_user()
    for _ in range(2):
        sign_in(app, user.email, WRONG)
    refused = sign_in(app, user.email)
    assert_limited(refused, 1)
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert sign_in(app, user.email).status_code == 200


def test_two_processes_sharing_redis_share_the_count(limited, redis_url, redis_prefix):
    shared = {"REDIS_URL": redis_url, "REDIS_PREFIX": redis_prefix}
    first = limited(**shared)
    user = make_user()
    for _ in range(5):
        sign_in(first, user.email, WRONG)
    second = limited(**shared)  # a new app: new storage, nothing kept in this process's memory
    assert_limited(sign_in(second, user.email, WRONG), 15 * 60)


def test_without_redis_each_process_counts_alone(limited):
    first = limited()
    user = make_user()
    for _ in range(5):
        sign_in(first, user.email, WRONG)
    second = limited()
    assert sign_in(second, user.email, WRONG).status_code == 401


def test_the_redis_keys_carry_the_installations_prefix(limited, redis_url, redis_prefix):
    import redis

    app = limited(REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)
    sign_in(app, make_user().email, WRONG)
    keys = redis.Redis.from_url(redis_url).keys("*")
    ours = [key for key in keys if key.startswith(f"{redis_prefix}:limits:".encode())]
    assert ours, keys
    assert not any(b"@" in key for key in ours)  # emails are hashed, not stored


def test_with_the_limit_store_down_logins_work_and_are_still_limited(limited):
    app = limited(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    user = make_user()
    assert sign_in(app, user.email).status_code == 200
    assert statuses(sign_in(app, user.email, WRONG) for _ in range(5)) == [401] * 5
    assert_limited(sign_in(app, user.email, WRONG), 15 * 60)


@pytest.mark.parametrize("key", LIMIT_KEYS)
@pytest.mark.parametrize("value", ["fast", "10", "0 per minute", "5 per fortnight"])
def test_a_malformed_limit_fails_create_app(make_app, key, value):
    with pytest.raises(ValueError, match=key):
        make_app(**{key: value})


def test_the_defaults_are_the_ones_of_the_design():
    config = Config()
    assert (config.LOGIN_ACCOUNT_LIMIT, config.LOGIN_IP_LIMIT) == ("5 per 15 minutes", "30 per minute")
    assert (config.REGISTER_IP_LIMIT, config.FEEDBACK_IP_LIMIT) == ("10 per hour", "5 per minute")
    assert (config.PASSWORD_RESET_ACCOUNT_LIMIT, config.TOKEN_ACCOUNT_LIMIT) == ("5 per hour", "10 per hour")


# == the OpenAPI description ================================================================

LIMITED_OPERATIONS = [
    ("post", "/auth/login"),
    ("post", "/auth/register"),
    ("post", "/auth/tokens"),
    ("post", "/auth/password/forgot"),
    ("post", "/auth/password/reset"),
    ("post", "/feedback"),
]


@pytest.mark.parametrize(("method", "path"), LIMITED_OPERATIONS)
def test_limited_operations_document_429(client, method, path):
    document = client.get("/openapi.json").get_json()
    assert "429" in document["paths"][path][method]["responses"]


def test_a_429_conforms_to_the_document(app):
    user = make_user()
    for _ in range(5):
        sign_in(app, user.email, WRONG)
    refused = sign_in(app, user.email, WRONG)
    document = app.test_client().get("/openapi.json").get_json()
    assert conformance_errors(document, "post", "/auth/login", 429, refused.get_json()) == []


# == request body sizes ======================================================================


@pytest.fixture
def sized(make_app) -> Iterator[Flask]:
    """An app with the default body limits (rate limits off, as in every other test)."""
    application = make_app()
    with application.app_context():
        yield application


def test_a_json_body_over_body_max_bytes_is_413(sized):
    body = json.dumps({"subject": "Hi", "message": "x" * sized.config["BODY_MAX_BYTES"]})
    response = sized.test_client().post("/feedback", data=body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_the_largest_valid_feedback_fits_under_the_body_cap(sized):
    # Every character written as a \\u surrogate pair: the most bytes valid JSON can take.
    clef = "\U0001d11e"
    body = {
        "subject": clef * 200,
        "message": clef * 5000,
        "name": clef * 64,
        "email": "v" * 64 + "@example.com",
    }
    data = json.dumps(body)
    assert len(data) <= sized.config["BODY_MAX_BYTES"]
    response = sized.test_client().post("/feedback", data=data, content_type="application/json")
    assert response.status_code == 201, response.get_json()


def test_the_avatar_upload_may_exceed_the_json_body_cap(sized):
    session = signed_in(sized.test_client(), make_user())
    data = image_bytes("PNG") + b"\0" * (2 * sized.config["BODY_MAX_BYTES"])  # bytes after IEND are ignored
    response = upload(session, data)
    assert response.status_code == 200, response.get_json()


def test_operations_with_a_body_document_413(client):
    document = client.get("/openapi.json").get_json()
    with_body = [
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert with_body
    assert [(m, p) for m, p in with_body if "413" not in document["paths"][p][m]["responses"]] == []
