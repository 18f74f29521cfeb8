"""Every error an API client can hit is the JSON envelope, never an HTML page or a 500."""

import pytest

from app.errors import ApiError, Conflict, NotFound
from tests.conftest import assert_error


def test_unknown_url_is_a_json_404(client):
    assert_error(client.get("/no/such/thing"), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(client):
    response = client.delete("/version")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_over_the_request_limit_is_a_json_413(app, client):
    too_big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/auth/register", data=too_big, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_an_unexpected_exception_is_a_json_500_without_details(make_app, caplog):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    error = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert "fields" not in error
    assert "secret internals" in caplog.text  # logged for the operator, not shown to the client


def test_api_error_fields_and_headers_are_rendered(make_app):
    app = make_app()

    @app.get("/conflict")
    def conflict():
        raise Conflict("Taken.", code="name_taken", fields={"name": "taken"}, headers={"X-Why": "test"})

    response = app.test_client().get("/conflict")
    assert response.status_code == 409
    assert response.headers["X-Why"] == "test"
    assert response.get_json() == {
        "error": {"code": "name_taken", "message": "Taken.", "fields": {"name": "taken"}}
    }


@pytest.mark.parametrize("error_class", ApiError.__subclasses__())
def test_every_api_error_has_a_4xx_or_5xx_status_and_a_code(error_class):
    error = error_class()
    assert 400 <= error.status < 600
    assert error.code.islower()
    assert " " not in error.code
    assert error.to_dict()["error"]["message"]


def test_not_found_default_message(client):
    assert NotFound().to_dict() == {"error": {"code": "not_found", "message": "Not found."}}


def test_an_unreachable_database_is_a_json_503(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI="sqlite:///" + str(tmp_path / "missing" / "parley.db"))
    response = app.test_client().post("/auth/login", json={"email": "a@example.com", "password": "x" * 12})
    assert_error(response, 503, "database_unavailable")
