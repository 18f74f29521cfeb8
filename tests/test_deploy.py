"""The production path on real processes (DESIGN §6): deploy/nginx.conf in front of two uWSGI
instances started from uwsgi.ini, sharing the run's database and Redis.

nginx runs the repository's site file with only its ports and paths replaced. Its ip_hash
keys on the first three octets of the client's IPv4 address, so clients bind source addresses
in different /24s of the loopback network (127.0.k.1) to land on different instances; which
instance an address lands on is read from the instances' request logs (uwsgi.ini logs the
address nginx forwarded).
"""

import configparser
import http.client
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import socketio
from PIL import Image

from app import create_app
from app.config import Config
from app.headers import COMMON_HEADERS, OTHER_CSP, PAGE_CSP
from tests.conftest import app_config, empty_tables, free_port
from tests.test_realtime_wire import (
    NAMESPACE,
    WAIT,
    Account,
    Peer,
    QuickClosingWebSocket,
    Seed,
    user_ids,
    wait_until,
)
from tests.test_scale_out import Pair, start_pair
from tests.test_wsgi_server import ROOT, Server

SITE = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
INSTANCE_PORTS = ("8001", "8002")  # the upstream servers deploy/nginx.conf names


# == nginx =====================================================================================


def substitute(text: str, old: str, new: str, count: int) -> str:
    """Replace old by new, failing unless the site file holds it exactly count times."""
    assert text.count(old) == count, f"deploy/nginx.conf should contain {old!r} {count} time(s)"
    return text.replace(old, new)


def render_site(listen_port: int, instance_ports: list[int], uploads: Path) -> str:
    """deploy/nginx.conf with this run's ports and paths, and nothing else changed."""
    site = SITE.read_text()
    for named, port in zip(INSTANCE_PORTS, instance_ports, strict=True):
        site = substitute(site, f"server 127.0.0.1:{named} ", f"server 127.0.0.1:{port} ", 1)
    site = substitute(
        site, "    listen 80;\n    listen [::]:80;\n", f"    listen 127.0.0.1:{listen_port};\n", 1
    )
    site = substitute(site, "alias /srv/parley/instance/uploads/avatars/;", f"alias {uploads}/avatars/;", 1)
    return substitute(site, "alias /srv/parley/public/static/;", f"alias {ROOT}/public/static/;", 1)


def nginx_main_conf(folder: Path, site: Path) -> str:
    """A top-level nginx.conf that runs the site in the foreground with everything in folder."""
    # As root, nginx's workers would run as nobody, who cannot enter pytest's 0700 folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} info;\n"
        "events { worker_connections 1024; }\n"
        "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"    access_log {folder / 'access.log'};\n{temp}\n    include {site};\n}}\n"
    )


def write_nginx_conf(folder: Path, listen_port: int, instance_ports: list[int], uploads: Path) -> Path:
    site = folder / "parley.conf"
    site.write_text(render_site(listen_port, instance_ports, uploads))
    conf = folder / "nginx.conf"
    conf.write_text(nginx_main_conf(folder, site))
    return conf


def nginx_command(conf: Path, *extra: str) -> list[str]:
    return [NGINX, "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "error.log"), *extra]


@contextmanager
def run_nginx(conf: Path, port: int) -> Iterator[subprocess.Popen]:
    """nginx in the foreground on port; stopped at the end."""
    process = subprocess.Popen(nginx_command(conf), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    error_log = conf.parent / "error.log"
    try:

        def listening() -> bool:
            assert process.poll() is None, error_log.read_text()
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, "nginx to listen", [])
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


# == the stack ================================================================================


@dataclass
class Stack:
    """nginx on url in front of the pair; uploads is the UPLOAD_FOLDER both instances share."""

    url: str
    pair: Pair
    uploads: Path
    seed: Seed
    routes: dict[str, Server] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def instance_for(self, source: str) -> Server:
        """The instance nginx sends a client at source to (a request, then the logs)."""
        if source not in self.routes:
            token = secrets.token_hex(6)
            connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=WAIT, source_address=(source, 0)
            )
            try:
                connection.request("GET", f"/health?probe={token}")
                assert connection.getresponse().status == 200
            finally:
                connection.close()
            self.routes[source] = wait_until(
                lambda: next((s for s in self.pair.both if token in s.log.read_text(errors="replace")), None),
                f"the request from {source} in an instance's log",
                self.pair.both,
            )
        return self.routes[source]

    def sources_on(self, server: Server, count: int) -> list[str]:
        """count loopback addresses, each in its own /24, that nginx routes to server."""
        found: list[str] = []
        for source in (f"127.0.{k}.1" for k in range(1, 120)):
            if self.instance_for(source) is server:
                found.append(source)
                if len(found) == count:
                    return found
        pytest.fail(f"only {found} reach {server.url}")


@contextmanager
def start_stack(folder: Path, database_url: str, redis_url: str, seed: Seed) -> Iterator[Stack]:
    uploads = folder / "uploads"
    (uploads / "avatars").mkdir(parents=True)
    with ExitStack() as stack:
        pair = stack.enter_context(
            start_pair(
                folder, database_url, redis_url, uwsgi=True, UPLOAD_FOLDER=str(uploads), TRUSTED_PROXIES="1"
            )
        )
        port = free_port()
        ports = [urlsplit(server.url).port for server in pair.both]
        conf = write_nginx_conf(folder, port, ports, uploads)
        stack.enter_context(run_nginx(conf, port))
        yield Stack(f"http://127.0.0.1:{port}", pair, uploads, seed)


@pytest.fixture(scope="module")
def module_seed(tmp_path_factory, database_url: str, _schema: None) -> Iterator[Seed]:
    """Accounts for the shared stack (make_app's would be emptied after each test); the
    tables are emptied when the module ends."""
    app = create_app(app_config(database_url, str(tmp_path_factory.mktemp("seed"))))
    yield Seed(app)
    with app.app_context():
        empty_tables()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, database_url: str, redis_url: str, module_seed: Seed) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("deploy"), database_url, redis_url, module_seed) as running:
        yield running


# == clients bound to a source address =========================================================


def bound_websocket(source: str) -> type[QuickClosingWebSocket]:
    """A websocket-client class whose connections leave from source (and so pick an instance)."""

    class BoundWebSocket(QuickClosingWebSocket):
        def connect(self, url: str, **options: Any) -> None:
            parts = urlsplit(url)
            sock = socket.create_connection(
                (parts.hostname, parts.port), timeout=options.get("timeout"), source_address=(source, 0)
            )
            super().connect(url, socket=sock, **options)

    return BoundWebSocket


def open_peer(stack: Stack, account: Account, source: str, opened: list[Peer]) -> Peer:
    """A greeted socket through nginx from source, closed at the end of the test."""
    front = Server(
        stack.url, stack.pair.first.process, stack.pair.first.log
    )  # nginx's URL, an instance's log
    peer = Peer(
        front,
        f"{account.name}@{source}",
        stack.pair.both,
        websocket_extra_options={"class_": bound_websocket(source)},
    )
    opened.append(peer)
    peer.connect([NAMESPACE], auth={"token": account.token})
    peer.wait_for("online_users")
    return peer


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    opened: list[Peer] = []
    yield opened
    for peer in opened:
        peer.close()


# == through nginx: two instances, one chat =====================================================


def test_nginx_accepts_the_site_file(stack, tmp_path):
    conf = write_nginx_conf(tmp_path, free_port(), [free_port(), free_port()], stack.uploads)
    checked = subprocess.run(nginx_command(conf, "-t"), capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_ip_hash_spreads_clients_over_both_instances(stack):
    routed = {stack.instance_for(f"127.0.{k}.1").url for k in range(1, 40)}
    assert routed == {server.url for server in stack.pair.both}


def test_clients_on_different_instances_see_each_others_messages(stack, peers):
    alice, carol = stack.seed.account("Alice"), stack.seed.account("Carol")
    room_id = stack.seed.room(alice, carol)
    alice_socket = open_peer(stack, alice, stack.sources_on(stack.pair.first, 1)[0], peers)
    carol_socket = open_peer(stack, carol, stack.sources_on(stack.pair.second, 1)[0], peers)

    there = alice_socket.call(
        "send_message", {"room_id": room_id, "content": "from the first", "client_id": "a1"}
    )
    back = carol_socket.call(
        "send_message", {"room_id": room_id, "content": "from the second", "client_id": "c1"}
    )

    assert there["ok"], there
    assert back["ok"], back
    assert (
        carol_socket.wait_for("new_message", lambda e: e["message"]["client_id"] == "a1")["message"]
        == there["message"]
    )
    assert (
        alice_socket.wait_for("new_message", lambda e: e["message"]["client_id"] == "c1")["message"]
        == back["message"]
    )


def test_presence_crosses_instances(stack, peers):
    dana, eve = stack.seed.account("Dana"), stack.seed.account("Eve")
    dana_socket = open_peer(stack, dana, stack.sources_on(stack.pair.second, 1)[0], peers)
    eve_socket = open_peer(stack, eve, stack.sources_on(stack.pair.first, 1)[0], peers)

    assert dana.id in user_ids(eve_socket.of("online_users")[0])
    assert dana_socket.wait_for("user_online", lambda e: e["user"]["id"] == eve.id)


def test_each_socket_is_served_by_the_instance_ip_hash_picked(stack, peers):
    frank = stack.seed.account("Frank")
    sources = {server.url: stack.sources_on(server, 1)[0] for server in stack.pair.both}
    for source in sources.values():
        open_peer(stack, frank, source, peers).close()

    for server in stack.pair.both:
        handshake = f'{sources[server.url]} "GET /socket.io/'
        wait_until(
            lambda server=server, line=handshake: line in server.log.read_text(),
            f"{handshake} in its log",
            [server],
        )


# == what nginx answers itself ===================================================================


def get(stack: Stack, path: str) -> requests.Response:
    return requests.get(stack.url + path, timeout=WAIT)


def requests_logged(stack: Stack, path: str) -> int:
    return sum(server.log.read_text(errors="replace").count(f" {path}") for server in stack.pair.both)


def test_static_files_come_from_nginx_with_cache_headers(stack):
    response = get(stack, "/static/css/docs.css")
    assert response.status_code == 200
    assert response.content == (ROOT / "public/static/css/docs.css").read_bytes()
    assert response.headers["Cache-Control"] == "max-age=3600"
    assert requests_logged(stack, "/static/css/docs.css") == 0


def webp_avatar_upload(stack: Stack, account: Account) -> str:
    image = BytesIO()
    Image.new("RGB", (64, 64), "teal").save(image, "PNG")
    response = requests.post(
        f"{stack.url}/auth/profile/upload",
        headers=account.bearer,
        files={"file": ("me.png", image.getvalue(), "image/png")},
        timeout=WAIT,
    )
    assert response.status_code == 200, response.text
    return response.json()["user"]["avatar_url"]


def test_avatars_come_from_nginx_with_a_long_cache(stack):
    avatar_path = urlsplit(webp_avatar_upload(stack, stack.seed.account("Gina"))).path

    response = get(stack, avatar_path)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/webp"
    assert Image.open(BytesIO(response.content)).format == "WEBP"
    assert response.headers["Cache-Control"] == "max-age=31536000"
    assert requests_logged(stack, avatar_path) == 0


def each_header_once(response: requests.Response, expected: dict[str, str]) -> None:
    """Every expected header appears exactly once, with that value (requests would join repeats)."""
    sent = {name: response.raw.headers.getlist(name) for name in expected}
    assert sent == {name: [value] for name, value in expected.items()}


@pytest.mark.parametrize("path", ["/health", "/static/css/docs.css", "/socket.io/?EIO=4&transport=polling"])
def test_security_headers_once_on_what_nginx_serves_and_proxies(stack, path):
    each_header_once(get(stack, path), COMMON_HEADERS)


@pytest.mark.parametrize(("path", "policy"), [("/login", PAGE_CSP), ("/health", OTHER_CSP)])
def test_the_apps_content_security_policy_passes_through_once(stack, path, policy):
    each_header_once(get(stack, path), {**COMMON_HEADERS, "Content-Security-Policy": policy})


def test_nginx_adds_the_security_headers_to_its_own_errors(stack):
    each_header_once(get(stack, "/static/no-such-file.css"), COMMON_HEADERS)


def test_body_limit_matches_the_app(stack):
    assert SITE.read_text().count(f"client_max_body_size {Config().MAX_CONTENT_LENGTH // 1024}k;") == 1


def test_a_body_over_the_limit_gets_the_json_413_from_nginx(stack):
    account = stack.seed.account("Hal")
    too_big = b"x" * (Config().MAX_CONTENT_LENGTH + 1)
    response = requests.post(
        f"{stack.url}/auth/profile/upload",
        headers={**account.bearer, "Content-Type": "application/octet-stream"},
        data=too_big,
        timeout=WAIT,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_request_logs_name_the_client_not_nginx(stack):
    source = stack.sources_on(stack.pair.first, 1)[0]  # routed by a request of its own
    assert re.search(rf"^{re.escape(source)} \"GET /health\?probe=", stack.pair.first.log.read_text(), re.M)


# == an instance dies: its clients move to the other and miss nothing ===========================

MESSAGES_EACH = 12
KILL_AFTER = 4  # acked messages per sender before the first instance is killed


CATCH_UP_MARGIN = timedelta(seconds=5)


def resume_point(held: Iterable[dict]) -> int:
    """The since_id to catch up from: the newest id among messages created CATCH_UP_MARGIN
    before the newest one held, 0 if none.

    Not simply the newest id held: ids are taken at insert, and events from different processes
    (and acks, which skip the queue) arrive out of id order, so a message whose event died with
    an instance can be older than one already held. Its id was taken before the newer message's,
    so a margin of seconds on created_at covers it; the overlap comes again and is kept once by id.
    """
    messages = list(held)
    if not messages:
        return 0
    created = {m["id"]: datetime.fromisoformat(m["created_at"]) for m in messages}
    cutoff = max(created.values()) - CATCH_UP_MARGIN
    return max((i for i, at in created.items() if at <= cutoff), default=0)


class Chatter:
    """A reconnecting client that sends MESSAGES_EACH messages and keeps every one it sees.

    It behaves as the web UI must: each send carries a client_id and is retried with the same
    one until acked; after a reconnect, and before sending anything, it joins the room with
    since_id = resume_point(), fixed when the connection dropped.
    """

    def __init__(self, stack: Stack, account: Account, source: str, room_id: int) -> None:
        self.account, self.room_id, self.logs = account, room_id, stack.pair.both
        self.seen: dict[int, dict] = {}  # message id -> message, live or caught up
        self.disconnects = 0
        self.resume_from: int | None = None  # set by a drop, cleared by the catch-up
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.client = socketio.Client(
            reconnection_delay=0.2,
            reconnection_delay_max=1,
            randomization_factor=0,
            websocket_extra_options={"class_": bound_websocket(source)},
        )
        self.client.on("new_message", self._keep, namespace=NAMESPACE)
        self.client.on("disconnect", self._lost, namespace=NAMESPACE)
        self.client.connect(
            stack.url,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            auth={"token": account.token},
            wait_timeout=WAIT,
        )

    def _keep(self, event: dict) -> None:
        with self._lock:
            self.seen[event["message"]["id"]] = event["message"]

    def _lost(self, reason: Any = None) -> None:
        with self._lock:
            self.disconnects += 1
            if self.resume_from is None:
                self.resume_from = resume_point(self.seen.values())

    def catch_up(self) -> None:
        """join_room with since_id: what was sent while this client was away."""
        with self._lock:
            since = self.resume_from if self.resume_from is not None else max(self.seen, default=0)
        ack = self.client.call(
            "join_room", {"room_id": self.room_id, "since_id": since}, namespace=NAMESPACE, timeout=WAIT
        )
        assert ack["ok"], ack
        with self._lock:
            self.seen.update({message["id"]: message for message in ack["messages"]})
            self.resume_from = None

    def connected_and_caught_up(self) -> None:
        wait_until(
            lambda: NAMESPACE in self.client.namespaces, f"{self.account.name} connected", self.logs, 3 * WAIT
        )
        if self.resume_from is not None:
            self.catch_up()

    def send(self, client_id: str) -> None:
        """Send until acked, waiting out a lost connection and catching up after it."""
        payload = {"room_id": self.room_id, "content": f"message {client_id}", "client_id": client_id}
        deadline = time.monotonic() + 4 * WAIT
        while time.monotonic() < deadline:
            try:
                self.connected_and_caught_up()
                ack = self.client.call("send_message", payload, namespace=NAMESPACE, timeout=3)
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                continue  # the connection dropped under the call: wait for the next one
            assert ack["ok"], ack
            self._keep({"message": ack["message"]})
            return
        pytest.fail(f"{client_id} was never acked")

    def chat(self, count: int, acked: threading.Semaphore) -> None:
        """Send count messages, releasing acked after each (errors go to self.errors)."""
        try:
            for n in range(count):
                self.send(f"{self.account.name}-{n}")
                acked.release()
        except BaseException as error:  # the test thread reports it
            self.errors.append(repr(error))


@pytest.fixture
def doomed_stack(tmp_path, database_url: str, redis_url: str, make_app) -> Iterator[Stack]:
    """A stack of its own: the test kills one of its instances."""
    with start_stack(tmp_path, database_url, redis_url, Seed(make_app())) as running:
        yield running


def test_killing_an_instance_moves_its_clients_without_losing_or_repeating_a_message(doomed_stack):
    stack = doomed_stack
    names = ("Ann", "Ben", "Cat", "Dan")
    accounts = [stack.seed.account(name) for name in names]
    room_id = stack.seed.room(*accounts)
    doomed, survivor = stack.pair.first, stack.pair.second
    sources = stack.sources_on(doomed, 2) + stack.sources_on(survivor, 2)
    chatters = [
        Chatter(stack, account, source, room_id) for account, source in zip(accounts, sources, strict=True)
    ]
    acked = threading.Semaphore(0)
    threads = [threading.Thread(target=c.chat, args=(MESSAGES_EACH, acked), daemon=True) for c in chatters]
    try:
        for thread in threads:
            thread.start()
        for _ in range(KILL_AFTER * len(chatters)):
            assert acked.acquire(timeout=WAIT), "the chatters stalled before the crash"
        doomed.crash()
        for thread in threads:
            thread.join(timeout=8 * WAIT)
        assert [c.errors for c in chatters] == [[]] * len(chatters)
        assert not any(thread.is_alive() for thread in threads)

        assert [c.disconnects for c in chatters] == [1, 1, 0, 0], "the doomed instance's clients reconnect"
        for chatter in chatters:
            chatter.catch_up()
        stored = stored_by_client_id(stack, accounts[0], room_id)
        expected = {f"{name}-{n}" for name in names for n in range(MESSAGES_EACH)}
        assert set(stored) == expected, "every message is stored"
        assert set(stored.values()) == {1}, "no message is stored twice"
        for chatter in chatters:
            received = Counter(message["client_id"] for message in chatter.seen.values())
            assert set(received) == expected, f"{chatter.account.name} missed {expected - set(received)}"
            assert set(received.values()) == {1}, f"{chatter.account.name} holds a message twice"
    finally:
        for chatter in chatters:
            chatter.client.disconnect()


def stored_by_client_id(stack: Stack, account: Account, room_id: int) -> Counter:
    """How many stored messages carry each client_id (history through nginx, page by page)."""
    counts: Counter = Counter()
    params: dict[str, Any] = {"limit": 100, "after": 0}
    while True:
        response = requests.get(
            f"{stack.url}/rooms/{room_id}/messages", headers=account.bearer, params=params, timeout=WAIT
        )
        assert response.status_code == 200, response.text
        page = response.json()
        counts.update(message["client_id"] for message in page["messages"])
        if not page["has_more"]:
            return counts
        params["after"] = page["messages"][-1]["id"]


# == the systemd unit ===========================================================================


def test_the_systemd_unit_runs_uwsgi_ini_on_its_instance_port():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # keys are case-sensitive in unit files
    unit.read_string((ROOT / "deploy" / "parley@.service").read_text())
    service = unit["Service"]
    assert service["ExecStart"] == "/srv/parley/.venv/bin/uwsgi --ini /srv/parley/uwsgi.ini"
    assert service["Environment"] == "PARLEY_HTTP_SOCKET=127.0.0.1:%i"
    assert "if-env = PARLEY_HTTP_SOCKET" in (ROOT / "uwsgi.ini").read_text()


def test_catch_up_resumes_from_the_newest_id_created_5_s_before_the_newest_held():
    held = [
        {"id": 7, "created_at": "2026-11-21T10:00:00Z"},
        {"id": 12, "created_at": "2026-11-21T10:00:04Z"},
        {"id": 11, "created_at": "2026-11-21T10:00:09Z"},  # ids arrive out of order
    ]
    assert resume_point(held) == 12
    assert resume_point(held[2:]) == 0  # nothing old enough: from the start
    assert resume_point([]) == 0
