"""Feedback: anyone sends it (stored, then mailed); admins list and triage it."""

import logging
import time

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Feedback
from app.services import feedback as feedback_service
from tests.conftest import assert_error, free_port
from tests.factories import PASSWORD, make_user

ANONYMOUS = {
    "subject": "Love it",
    "message": "The dark mode is great.",
    "name": "Vera Visitor",
    "email": "Vera@Example.com",
}


def stored_feedback() -> list[Feedback]:
    """Every feedback row as the database has it now, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Feedback).order_by(Feedback.id)))


def make_feedback(subject: str = "Subject", status: str = "new") -> Feedback:
    """Store a feedback item through the service (mail is only logged in the plain app)."""
    item = feedback_service.submit_feedback(None, subject, "Some message.", "Sender", "sender@example.com")
    if status != "new":
        item.status = status
        db.session.commit()
    return item


def wait_for_log(caplog, text: str, timeout: float = 10.0) -> logging.LogRecord:
    """The first record containing text, waiting for the background mail thread to log it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in caplog.records:
            if text in record.getMessage():
                return record
        time.sleep(0.05)
    raise AssertionError(f"no log record containing {text!r}: {caplog.text}")


# -- POST /feedback: storing ------------------------------------------------------------------


def test_anonymous_feedback_is_stored(client):
    response = client.post("/feedback", json=ANONYMOUS)
    assert response.status_code == 201
    body = response.get_json()["feedback"]
    assert body["user_id"] is None
    assert body["status"] == "new"
    assert body["created_at"].endswith("Z")
    [item] = stored_feedback()
    assert item.id == body["id"]
    assert (item.user_id, item.name, item.email, item.subject, item.message) == (
        None,
        "Vera Visitor",
        "vera@example.com",
        "Love it",
        "The dark mode is great.",
    )


def test_anonymous_feedback_needs_no_csrf_token(client):
    client.get("/auth/csrf")  # a session cookie exists, but nobody is signed in
    assert client.post("/feedback", json=ANONYMOUS).status_code == 201


@pytest.mark.parametrize(
    ("leave_out", "fields"),
    [(("name", "email"), {"name", "email"}), (("name",), {"name"}), (("email",), {"email"})],
)
def test_anonymous_feedback_without_name_or_email_is_422(client, leave_out, fields):
    body = {key: value for key, value in ANONYMOUS.items() if key not in leave_out}
    error = assert_error(client.post("/feedback", json=body), 422, "validation_failed")
    assert set(error["fields"]) == fields
    assert stored_feedback() == []


def test_signed_in_feedback_takes_name_and_email_from_the_account(member_session, member):
    response = member_session.post("/feedback", json={"subject": "Bug", "message": "It broke."})
    assert response.status_code == 201
    body = response.get_json()["feedback"]
    assert (body["user_id"], body["name"], body["email"]) == (member.id, "Mia Member", member.email)
    [item] = stored_feedback()
    assert (item.user_id, item.name, item.email) == (member.id, "Mia Member", member.email)


def test_signed_in_feedback_with_the_cookie_needs_the_csrf_token(member_session):
    response = member_session.client.post("/feedback", json={"subject": "Bug", "message": "It broke."})
    assert_error(response, 403, "csrf_failed")
    assert stored_feedback() == []


def test_signed_in_feedback_with_a_bearer_token_needs_no_csrf_token(client, member):
    token = client.post(
        "/auth/tokens", json={"email": member.email, "password": PASSWORD, "name": "script"}
    ).get_json()["token"]
    response = client.post(
        "/feedback",
        json={"subject": "Bug", "message": "It broke."},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    assert response.get_json()["feedback"]["user_id"] == member.id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "s" * 201}, "subject"),
        ({"subject": None}, "subject"),
        ({"message": ""}, "message"),
        ({"message": " \n "}, "message"),
        ({"message": "m" * 5001}, "message"),
        ({"message": 42}, "message"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b@example.com"}, "email"),
        ({"name": "n" * 65}, "name"),
        ({"name": "   "}, "name"),
        ({"status": "read"}, "status"),
        ({"user_id": 1}, "user_id"),
    ],
)
def test_invalid_feedback_is_422_and_not_stored(client, change, field):
    error = assert_error(client.post("/feedback", json={**ANONYMOUS, **change}), 422, "validation_failed")
    assert field in error["fields"]
    assert stored_feedback() == []


def test_feedback_accepts_subject_and_message_at_their_limits(client):
    response = client.post("/feedback", json={**ANONYMOUS, "subject": "s" * 200, "message": "m" * 5000})
    assert response.status_code == 201
    [item] = stored_feedback()
    assert (len(item.subject), len(item.message)) == (200, 5000)


def test_feedback_trims_subject_and_message(client):
    client.post("/feedback", json={**ANONYMOUS, "subject": "  Hi  ", "message": "\n Body \n"})
    [item] = stored_feedback()
    assert (item.subject, item.message) == ("Hi", "Body")


def test_feedback_missing_subject_and_message_names_both(client):
    error = assert_error(client.post("/feedback", json={}), 422, "validation_failed")
    assert {"subject", "message"} <= set(error["fields"])


# -- POST /feedback: mailing ------------------------------------------------------------------


def test_feedback_is_mailed_to_the_active_admins(mail_app):
    app, inbox = mail_app
    make_user(email="boss@example.com", role="admin")
    make_user(email="deputy@example.com", role="admin")
    make_user(email="retired@example.com", role="admin", is_active=False)
    make_user(email="someone@example.com")
    assert app.test_client().post("/feedback", json=ANONYMOUS).status_code == 201
    [mail] = inbox.wait_for(1)
    assert sorted(address.strip() for address in mail["To"].split(",")) == [
        "boss@example.com",
        "deputy@example.com",
    ]


def test_feedback_mail_replies_to_the_sender_and_carries_the_message(mail_app):
    app, inbox = mail_app
    make_user(email="boss@example.com", role="admin")
    app.test_client().post("/feedback", json=ANONYMOUS)
    [mail] = inbox.wait_for(1)
    assert mail["Reply-To"] == "vera@example.com"
    assert "Love it" in mail["Subject"]
    assert "The dark mode is great." in mail.get_content()
    assert mail["From"] == "parley@example.com"


def test_feedback_goes_to_the_configured_recipients_instead_of_the_admins(make_app, smtp_server):
    inbox, port = smtp_server
    app = make_app(
        FEEDBACK_RECIPIENTS=["support@example.com", "triage@example.com"],
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_DEFAULT_SENDER="parley@example.com",
    )
    with app.app_context():
        make_user(email="boss@example.com", role="admin")
        assert app.test_client().post("/feedback", json=ANONYMOUS).status_code == 201
        [mail] = inbox.wait_for(1)
    assert sorted(address.strip() for address in mail["To"].split(",")) == [
        "support@example.com",
        "triage@example.com",
    ]
    assert mail["Reply-To"] == "vera@example.com"


def test_feedback_from_a_member_replies_to_their_account_email(mail_app):
    app, inbox = mail_app
    make_user(email="boss@example.com", role="admin")
    author = make_user(email="author@example.com", name="Arthur Author")
    client = app.test_client()
    csrf = client.post("/auth/login", json={"email": author.email, "password": PASSWORD}).get_json()
    response = client.post(
        "/feedback",
        json={"subject": "Hi", "message": "From a member."},
        headers={"X-CSRFToken": csrf["csrf_token"]},
    )
    assert response.status_code == 201
    [mail] = inbox.wait_for(1)
    assert mail["Reply-To"] == "author@example.com"
    assert "From a member." in mail.get_content()


def test_feedback_is_stored_and_accepted_when_the_smtp_server_is_down(make_app, caplog):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_DEFAULT_SENDER="parley@example.com")
    with app.app_context():
        make_user(email="boss@example.com", role="admin")
        response = app.test_client().post("/feedback", json=ANONYMOUS)
        assert response.status_code == 201
        assert [item.id for item in stored_feedback()] == [response.get_json()["feedback"]["id"]]
    record = wait_for_log(caplog, "failed")
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


def test_feedback_is_stored_and_accepted_without_a_mail_server(client, caplog):
    make_user(email="boss@example.com", role="admin")
    caplog.set_level(logging.INFO)
    response = client.post("/feedback", json=ANONYMOUS)
    assert response.status_code == 201
    assert len(stored_feedback()) == 1
    assert "MAIL_SERVER unset" in caplog.text


# -- GET /feedback ----------------------------------------------------------------------------


def test_feedback_list_needs_sign_in(client):
    assert_error(client.get("/feedback"), 401, "unauthorized")


def test_feedback_list_is_for_admins_only(member_session):
    make_feedback()
    assert_error(member_session.get("/feedback"), 403, "admin_only")


def test_feedback_list_is_newest_first_with_total(admin_session):
    items = [make_feedback(f"Item {n}") for n in range(3)]
    body = admin_session.get("/feedback").get_json()
    assert [item["id"] for item in body["feedback"]] == [item.id for item in reversed(items)]
    assert body["total"] == 3
    assert body["feedback"][0]["subject"] == "Item 2"
    assert body["feedback"][0]["email"] == "sender@example.com"


@pytest.mark.parametrize("status", ["new", "read", "archived"])
def test_feedback_list_filters_by_status(admin_session, status):
    made = {name: make_feedback(name, status=name) for name in ("new", "read", "archived")}
    make_feedback("another new")
    body = admin_session.get(f"/feedback?status={status}").get_json()
    listed = [item["id"] for item in body["feedback"]]
    assert made[status].id in listed
    assert {item["status"] for item in body["feedback"]} == {status}
    assert body["total"] == (2 if status == "new" else 1)


def test_feedback_list_pages(admin_session):
    items = [make_feedback(f"Item {n}") for n in range(5)]
    newest_first = [item.id for item in reversed(items)]
    pages = [admin_session.get(f"/feedback?per_page=2&page={page}").get_json() for page in (1, 2, 3, 4)]
    assert [[item["id"] for item in page["feedback"]] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
        [],
    ]
    assert {page["total"] for page in pages} == {5}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=spam", "status"),
        ("status=NEW", "status"),
        ("page=0", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("page=one", "page"),
    ],
)
def test_feedback_list_refuses_bad_queries(admin_session, query, field):
    error = assert_error(admin_session.get(f"/feedback?{query}"), 422, "validation_failed")
    assert field in error["fields"]


# -- PATCH /feedback/<id> ---------------------------------------------------------------------


@pytest.mark.parametrize("status", ["read", "archived", "new"])
def test_admin_sets_the_feedback_status(admin_session, status):
    item = make_feedback(status="read" if status == "new" else "new")
    response = admin_session.patch(f"/feedback/{item.id}", json={"status": status})
    assert response.status_code == 200
    assert response.get_json()["feedback"]["status"] == status
    assert stored_feedback()[0].status == status


def test_triage_needs_sign_in(client):
    item = make_feedback()
    assert_error(client.patch(f"/feedback/{item.id}", json={"status": "read"}), 401, "unauthorized")
    assert stored_feedback()[0].status == "new"


def test_triage_is_for_admins_only(member_session):
    item = make_feedback()
    assert_error(member_session.patch(f"/feedback/{item.id}", json={"status": "read"}), 403, "admin_only")
    assert stored_feedback()[0].status == "new"


def test_triage_with_the_cookie_needs_the_csrf_token(admin_session):
    item = make_feedback()
    response = admin_session.client.patch(f"/feedback/{item.id}", json={"status": "read"})
    assert_error(response, 403, "csrf_failed")
    assert stored_feedback()[0].status == "new"


@pytest.mark.parametrize(
    "body", [{"status": "spam"}, {"status": None}, {}, {"status": "read", "subject": "x"}, {"status": 1}]
)
def test_triage_with_a_bad_body_is_422_and_changes_nothing(admin_session, body):
    item = make_feedback()
    error = assert_error(admin_session.patch(f"/feedback/{item.id}", json=body), 422, "validation_failed")
    assert error["fields"]
    assert stored_feedback()[0].status == "new"


def test_triage_of_unknown_feedback_is_404(admin_session):
    item = make_feedback()
    response = admin_session.patch(f"/feedback/{item.id + 1000}", json={"status": "read"})
    assert_error(response, 404, "feedback_not_found")


@pytest.mark.parametrize("feedback_id", ["0", str(2**63)])
def test_triage_of_out_of_range_ids_is_404(admin_session, feedback_id):
    response = admin_session.patch(f"/feedback/{feedback_id}", json={"status": "read"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] in {"not_found", "feedback_not_found"}
