"""Password reset: a mailed one-time, expiring link, sent through a real SMTP server."""

import logging
import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.extensions import db
from app.services.accounts import _RESET_SALT
from tests.conftest import free_port
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "a brand new passphrase"


def reset_link(app, mail_body: str) -> str:
    """The first PUBLIC_URL/reset/<token> link in a mail body."""
    match = re.search(re.escape(app.config["PUBLIC_URL"]) + r"/reset/[\w.\-]+", mail_body)
    assert match, mail_body
    return match.group(0)


def token_of(link: str) -> str:
    return link.rsplit("/reset/", 1)[1]


def mailed_token(app, inbox, user, count: int = 1) -> str:
    """Ask for a reset for user and return the token from the mail that arrives."""
    assert app.test_client().post("/auth/password/forgot", json={"email": user.email}).status_code == 202
    return token_of(reset_link(app, inbox.wait_for(count)[-1].get_content()))


def reset(client, token: str, password: str = NEW_PASSWORD):
    return client.post("/auth/password/reset", json={"token": token, "password": password})


def login_status(app, email: str, password: str) -> int:
    return app.test_client().post("/auth/login", json={"email": email, "password": password}).status_code


def sign_reset_token(app, payload: dict, timestamp: int) -> str:
    """A reset token for payload as the server would have signed it at `timestamp`."""

    class FixedClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return timestamp

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=_RESET_SALT, signer=FixedClockSigner)
    return serializer.dumps(payload)


def flip_char(text: str, index: int) -> str:
    """text with the character at index replaced by a different one."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def assert_reset_refused(response) -> None:
    """The reset answered 422 invalid_reset_token."""
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_reset_token"


def wait_for_record(caplog, predicate, timeout: float = 5.0):
    """The first captured log record matching predicate, waiting for the mail thread to log it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in list(caplog.records):
            if predicate(record):
                return record
        time.sleep(0.05)
    return None


# Asking for a reset


def test_forgot_answers_202_alike_for_existing_unknown_and_deactivated_emails(mail_app):
    app, _inbox = mail_app
    existing, deactivated = make_user(), make_user(is_active=False)
    client = app.test_client()

    responses = [
        client.post("/auth/password/forgot", json={"email": email})
        for email in (existing.email, "nobody@example.com", deactivated.email)
    ]

    assert [response.status_code for response in responses] == [202, 202, 202]
    assert responses[0].get_json() == responses[1].get_json() == responses[2].get_json()


def test_forgot_mails_only_the_existing_active_user(mail_app):
    app, inbox = mail_app
    existing, deactivated = make_user(), make_user(is_active=False)
    client = app.test_client()

    for email in ("nobody@example.com", deactivated.email, existing.email):
        assert client.post("/auth/password/forgot", json={"email": email}).status_code == 202
    messages = inbox.wait_for(1)

    assert len(messages) == 1
    assert messages[0]["To"] == existing.email
    assert reset_link(app, messages[0].get_content())


def test_forgot_matches_email_case_insensitively(mail_app):
    app, inbox = mail_app
    user = make_user(email="casey@example.com")

    app.test_client().post("/auth/password/forgot", json={"email": "  Casey@Example.COM "})

    assert inbox.wait_for(1)[0]["To"] == user.email


def test_reset_link_uses_public_url_not_request_host(mail_app):
    app, inbox = mail_app
    user = make_user()
    client = app.test_client()

    response = client.post(
        "/auth/password/forgot",
        json={"email": user.email},
        base_url="http://evil.example",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )

    assert response.status_code == 202
    body = inbox.wait_for(1)[0].get_content()
    assert reset_link(app, body).startswith(app.config["PUBLIC_URL"] + "/reset/")
    assert "evil.example" not in body


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "email"), ({"email": ""}, "email"), ({"email": "a@example.com", "extra": 1}, "extra")],
    ids=["missing", "empty", "unknown-field"],
)
def test_forgot_rejects_invalid_body(mail_app, body, field):
    app, _inbox = mail_app

    response = app.test_client().post("/auth/password/forgot", json=body)

    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


# Resetting


def test_reset_sets_new_password(mail_app):
    app, inbox = mail_app
    user = make_user()
    token = mailed_token(app, inbox, user)

    response = reset(app.test_client(), token)

    assert response.status_code == 200
    assert login_status(app, user.email, NEW_PASSWORD) == 200
    assert login_status(app, user.email, PASSWORD) == 401


def test_reset_token_works_only_once(mail_app):
    app, inbox = mail_app
    user = make_user()
    token = mailed_token(app, inbox, user)
    client = app.test_client()
    assert reset(client, token).status_code == 200

    response = reset(client, token, "yet another passphrase")

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_reset_token"
    assert "token" in error["fields"]
    assert login_status(app, user.email, NEW_PASSWORD) == 200


@pytest.mark.parametrize(
    "tamper",
    [
        # The first signature character: the last one may carry only unused base64 bits.
        lambda token: flip_char(token, token.rindex(".") + 1),
        lambda token: "x" + token,
        lambda token: token.split(".", 1)[1],
        lambda token: "not-a-token",
    ],
    ids=["signature-changed", "payload-changed", "payload-dropped", "garbage"],
)
def test_reset_rejects_tampered_token(mail_app, tamper):
    app, inbox = mail_app
    user = make_user()
    token = mailed_token(app, inbox, user)

    response = reset(app.test_client(), tamper(token))

    assert_reset_refused(response)
    assert login_status(app, user.email, PASSWORD) == 200


def test_reset_rejects_token_signed_with_another_secret_key(mail_app):
    app, inbox = mail_app
    user = make_user()
    payload = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=_RESET_SALT).loads(
        mailed_token(app, inbox, user)
    )
    forged = URLSafeTimedSerializer("guessed-secret", salt=_RESET_SALT).dumps(payload)

    response = reset(app.test_client(), forged)

    assert_reset_refused(response)


def test_reset_rejects_expired_token(mail_app):
    app, inbox = mail_app
    user = make_user()
    token = mailed_token(app, inbox, user)
    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=_RESET_SALT)
    payload, issued_at = serializer.loads(token, return_timestamp=True)
    issued = int(issued_at.timestamp())
    # Re-signing at the original time reproduces the mailed token: only the age differs below.
    assert sign_reset_token(app, payload, issued) == token
    expired = sign_reset_token(app, payload, issued - app.config["PASSWORD_RESET_MAX_AGE"] - 5)

    response = reset(app.test_client(), expired)

    assert_reset_refused(response)
    assert login_status(app, user.email, PASSWORD) == 200


def test_reset_rejects_token_of_account_deactivated_since(mail_app):
    app, inbox = mail_app
    user = make_user()
    token = mailed_token(app, inbox, user)
    user.is_active = False
    db.session.commit()

    response = reset(app.test_client(), token)

    assert_reset_refused(response)


@pytest.mark.parametrize("password", ["short", "x" * 11, "x" * 129], ids=["5", "11", "129"])
def test_reset_rejects_password_of_bad_length(mail_app, password):
    app, inbox = mail_app
    user = make_user()
    token = mailed_token(app, inbox, user)

    response = reset(app.test_client(), token, password)

    assert response.status_code == 422
    assert "password" in response.get_json()["error"]["fields"]
    assert login_status(app, user.email, PASSWORD) == 200


def test_reset_ends_existing_sessions(mail_app):
    app, inbox = mail_app
    user = make_user()
    signed_in = app.test_client()
    assert signed_in.post("/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 200
    assert signed_in.get("/auth/me").status_code == 200
    token = mailed_token(app, inbox, user)

    assert reset(app.test_client(), token).status_code == 200

    response = signed_in.get("/auth/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


# Mail delivery


def test_forgot_answers_202_and_logs_when_smtp_is_down(make_app, caplog):
    app = make_app(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=free_port(),
        MAIL_DEFAULT_SENDER="parley@example.com",
    )
    with app.app_context():
        user = make_user()

        response = app.test_client().post("/auth/password/forgot", json={"email": user.email})

        assert response.status_code == 202
        record = wait_for_record(
            caplog, lambda record: record.levelno >= logging.ERROR and "failed" in record.getMessage()
        )
        assert record is not None, [record.getMessage() for record in caplog.records]
        assert user.email in record.getMessage()


def test_forgot_logs_the_mail_when_mail_server_unset(app, client, caplog):
    caplog.set_level(logging.INFO, logger="app.services.mailer")
    user = make_user()

    response = client.post("/auth/password/forgot", json={"email": user.email})

    assert response.status_code == 202
    link = reset_link(app, caplog.text)
    assert reset(client, token_of(link)).status_code == 200
    assert login_status(app, user.email, NEW_PASSWORD) == 200
