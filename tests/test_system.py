"""GET /health and GET /version."""

from app import __version__
from tests.conftest import free_port


# Nothing listens on a freshly picked free port, so these URLs name a dependency that is down.
def _down_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def _down_database_url() -> str:
    return f"mysql+pymysql://root@127.0.0.1:{free_port()}/test?connect_timeout=1"


def test_version_reports_the_package_version(client):
    assert client.get("/version").get_json() == {"version": __version__}


def test_health_is_ok_with_the_database_and_no_queue(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "message_queue": "disabled"}


def test_health_checks_redis_when_configured(make_app, redis_url):
    response = make_app(REDIS_URL=redis_url).test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json()["message_queue"] == "ok"


def test_health_is_503_naming_a_down_message_queue(make_app):
    response = make_app(REDIS_URL=_down_redis_url()).test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "down", "database": "ok", "message_queue": "down"}


def test_health_is_503_naming_a_down_database(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=_down_database_url())
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["database"] == "down"
    assert response.get_json()["status"] == "down"


def test_health_needs_no_sign_in_and_no_csrf(client):
    assert client.get("/health").status_code == 200
