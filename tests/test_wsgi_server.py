"""Parley's servers as an operator runs them: `python wsgi.py` (development) and
`uwsgi --ini uwsgi.ini` (production), real processes on free ports with a migrated SQLite file,
HTTP through requests and WebSockets through python-socketio.
"""

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import socketio

from app.rate_limits import LIMIT_KEYS
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
UWSGI = Path(sys.executable).parent / "uwsgi"  # installed by requirements.txt beside python
START_TIMEOUT = 20.0
# Variables of the calling shell that would change what the server does; "" counts as unset.
NEUTRALISED = (
    "REDIS_URL",
    "MAIL_SERVER",
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "CORS_ORIGINS",
    "PUBLIC_URL",
    "LOG_LEVEL",
)
# The suites sign many people up and in from 127.0.0.1: real servers get the REST limits on, but
# with room to spare (tests/test_rate_limits.py tests the limits themselves).
GENEROUS_LIMITS = dict.fromkeys(LIMIT_KEYS, "10000 per hour")


class _OneRequestPerConnection(requests.adapters.HTTPAdapter):
    """Never reuses a connection. uWSGI's http-socket closes each connection after one response
    without sending `Connection: close`, so a pooled connection races that close and the next
    request on it is reset (nginx, in front in production, never reuses them either)."""

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        response = super().send(request, **kwargs)
        _ = response.content  # read it all, so the connection is back in the pool...
        self.close()  # ...and close the pool's connections before anything reuses them
        return response


def http_session() -> requests.Session:
    """A requests.Session (it keeps cookies) that opens a new connection for every request."""
    http = requests.Session()
    http.mount("http://", _OneRequestPerConnection())
    return http


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def crash(self) -> None:
        """SIGKILL the server and every process it started, as a crash or an OOM kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def server_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a development server on a fresh SQLite file in folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "TEST_"))}
    env.update(dict.fromkeys(NEUTRALISED, ""))
    env.update(GENEROUS_LIMITS)
    env.update(
        PARLEY_ENV="development",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        DATABASE_URL="sqlite:///" + str(folder / "parley.db"),
        UPLOAD_FOLDER=str(folder / "uploads"),
        SECRET_KEY=secrets.token_hex(32),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def migrate(env: dict[str, str]) -> None:
    """`flask --app app db upgrade` with the server's environment."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def wait_until_healthy(server: Server) -> None:
    """Poll /health until it answers; fail with the server's output if it never does."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited with {server.process.returncode}:\n{server.output()}")
        try:
            requests.get(f"{server.url}/health", timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):  # uWSGI's master may accept first
            time.sleep(0.1)
    pytest.fail(f"the server did not answer within {START_TIMEOUT:.0f} s:\n{server.output()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def server_command(env: dict[str, str], uwsgi: bool) -> list[str]:
    """`python wsgi.py`, or uWSGI with the production uwsgi.ini on the same port."""
    if not uwsgi:
        return [sys.executable, "wsgi.py"]
    env["PARLEY_HTTP_SOCKET"] = f"127.0.0.1:{env['PORT']}"
    return [str(UWSGI), "--ini", str(ROOT / "uwsgi.ini")]


@contextmanager
def start_server(
    folder: Path, database_url: str | None = None, *, uwsgi: bool = False, **env_overrides: str
) -> Iterator[Server]:
    """Migrate, start `python wsgi.py` (or uWSGI), yield once healthy, always terminate it.

    With database_url the server uses that database as it is (e.g. the test run's, whose
    tables the _schema fixture made) instead of a fresh, migrated SQLite file in folder.
    The server leads a process group of its own, so that Server.crash reaches uWSGI's worker.
    """
    env = server_env(folder)
    if database_url is None:
        migrate(env)
    else:
        env["DATABASE_URL"] = database_url
    env.update(env_overrides)
    command = server_command(env, uwsgi)
    log = folder / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{env['PORT']}", process, log)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop(process)


@pytest.fixture(scope="module", params=["wsgi.py", "uwsgi"])
def server(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Each test of this module runs against both servers."""
    folder = tmp_path_factory.mktemp(request.param)
    with start_server(folder, uwsgi=request.param == "uwsgi") as running:
        yield running


@pytest.fixture
def admin_credentials() -> tuple[str, str]:
    return f"boss-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)


@pytest.fixture
def admin_server(tmp_path, admin_credentials) -> Iterator[Server]:
    """A server started with ADMIN_EMAIL and ADMIN_PASSWORD (the migration ran without them)."""
    email, password = admin_credentials
    with start_server(tmp_path, ADMIN_EMAIL=email, ADMIN_PASSWORD=password) as running:
        yield running


def test_health_reports_database_ok_and_no_message_queue(server):
    response = requests.get(f"{server.url}/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "message_queue": "disabled"}


def test_default_namespace_refuses_connections(server):
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, transports=["websocket"], wait_timeout=10)
    assert not client.connected


def register(server: Server, name: str) -> tuple[requests.Session, str]:
    """Sign up a new user over HTTP; the session holds its cookie. Returns (session, email)."""
    http = http_session()
    email = f"wsgi-{secrets.token_hex(4)}@example.com"
    registered = http.post(
        f"{server.url}/auth/register",
        json={"email": email, "password": secrets.token_urlsafe(16), "name": name},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    return http, email


def test_signed_in_user_connects_to_chat_over_websocket(server):
    http, email = register(server, "Wes Socket")
    ready = threading.Event()
    greeted = []
    client = socketio.Client(reconnection=False)
    client.on("ready", lambda data: (greeted.append(data), ready.set()), namespace="/chat")
    cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    try:
        client.connect(
            server.url,
            namespaces=["/chat"],
            transports=["websocket"],
            headers={"Cookie": cookie},
            wait_timeout=10,
        )
        assert client.transport() == "websocket"
        assert ready.wait(10), "no ready event"
        assert [event["user"]["email"] for event in greeted] == [email]
    finally:
        client.disconnect()


def test_registered_user_is_signed_in_by_cookie(server):
    http, email = register(server, "Wendy Wsgi")
    me = http.get(f"{server.url}/auth/me", timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["user"]["email"] == email
    assert me.json()["csrf_token"]


def test_a_mail_without_mail_server_is_logged_dated_with_level_and_logger(server):
    _, email = register(server, "Logan Log")
    response = requests.post(f"{server.url}/auth/password/forgot", json={"email": email}, timeout=10)
    assert response.status_code == 202
    dated = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
    line = re.compile(dated + r"INFO app\.services\.mailer: MAIL_SERVER unset", re.M)
    deadline = time.monotonic() + 10  # the mail goes out off the request thread
    while not line.search(server.log.read_text(errors="replace")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert line.search(server.log.read_text(errors="replace")), server.output()


def test_unknown_path_is_a_json_404(server):
    response = requests.get(f"{server.url}/no/such/page.json", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"]


def test_configured_admin_exists_after_start(admin_server, admin_credentials):
    email, password = admin_credentials
    response = requests.post(
        f"{admin_server.url}/auth/login", json={"email": email, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["role"] == "admin"


def test_the_entry_point_freezes_what_start_up_allocated(tmp_path):
    """wsgi.py hides the start-up objects from the cyclic collector (see the comment there)."""
    env = server_env(tmp_path)
    migrate(env)
    script = "import gc, wsgi; print(gc.get_freeze_count())"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) > 10_000
