"""The scripts in examples/ against a real `python wsgi.py`: the time bot (also across a server
restart) and the history export (over more than one page).
"""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.test_wsgi_server import ROOT, Server, migrate, server_env, start_server, stop

# Bounds a hang on a slow, noisy machine; nothing is timed.
WAIT = 60.0
TIME_ANSWER = re.compile(r"It is \d\d:\d\d:\d\d UTC on \d{4}-\d\d-\d\d\.")


@dataclass
class Account:
    """A registered user and an HTTP session that sends their API token."""

    user: dict[str, Any]
    token: str
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.http.headers["Authorization"] = f"Bearer {self.token}"


def make_account(url: str, name: str) -> Account:
    """Register a user, then issue an API token with POST /auth/tokens, as the examples' users do."""
    email, password = f"{name.lower()}-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
    registered = requests.post(
        f"{url}/auth/register", json={"email": email, "password": password, "name": name}, timeout=10
    )
    assert registered.status_code == 201, registered.text
    issued = requests.post(
        f"{url}/auth/tokens", json={"email": email, "password": password, "name": "examples"}, timeout=10
    )
    assert issued.status_code == 201, issued.text
    return Account(registered.json()["user"], issued.json()["token"])


def create_room(url: str, owner: Account, kind: str = "public") -> int:
    name = f"room {secrets.token_hex(4)}"
    response = owner.http.post(f"{url}/rooms", json={"name": name, "kind": kind}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["room"]["id"]


def post(url: str, account: Account, room_id: int, content: str) -> dict[str, Any]:
    response = account.http.post(f"{url}/rooms/{room_id}/messages", json={"content": content}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["message"]


def history(url: str, account: Account, room_id: int) -> list[dict[str, Any]]:
    """The room's whole history, oldest first."""
    messages: list[dict[str, Any]] = []
    has_more = True
    while has_more:
        after = messages[-1]["id"] if messages else 0
        response = account.http.get(
            f"{url}/rooms/{room_id}/messages", params={"after": after, "limit": 100}, timeout=10
        )
        assert response.status_code == 200, response.text
        messages += response.json()["messages"]
        has_more = response.json()["has_more"]
    return messages


class Bot:
    """examples/time_bot.py running as a subprocess; its output is collected as it comes."""

    def __init__(self, url: str, token: str, room_id: int) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
        env.update(PARLEY_URL=url, PARLEY_TOKEN=token, PARLEY_ROOM=str(room_id), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "examples/time_bot.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)[-4000:]

    def joins(self) -> int:
        return sum("joined room" in line for line in self.lines)

    def eventually(self, check: Callable[[], Any], what: str) -> Any:
        """Poll check() until it returns something truthy; fail with the bot's output if it never does."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if result := check():
                return result
            if self.process.poll() is not None:
                pytest.fail(f"the bot exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.2)
        pytest.fail(f"{what} within {WAIT:.0f} s; the bot said:\n{self.output()}")


@pytest.fixture
def start_bot() -> Iterator[Callable[..., Bot]]:
    """Start time bots; whatever is still running at the end gets SIGTERM."""
    bots: list[Bot] = []

    def start(url: str, token: str, room_id: int, wait_for_join: bool = True) -> Bot:
        bots.append(Bot(url, token, room_id))
        if wait_for_join:
            bots[-1].eventually(bots[-1].joins, "the bot did not join its room")
        return bots[-1]

    yield start
    for bot in bots:
        stop(bot.process)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("examples")) as running:
        yield running


def answers(url: str, reader: Account, room_id: int, bot_user: dict[str, Any]) -> dict[str, list[str]]:
    """The bot's messages in the room (but commands sent with its account) by client_id."""
    found: dict[str, list[str]] = {}
    for message in history(url, reader, room_id):
        if message["author"]["id"] == bot_user["id"] and message["content"] != "!time":
            found.setdefault(message["client_id"], []).append(message["content"])
    return found


def test_bot_answers_time_commands_of_others(server, start_bot):
    alice, robot = make_account(server.url, "Alice"), make_account(server.url, "Robot")
    room_id = create_room(server.url, alice)
    bot = start_bot(server.url, robot.token, room_id)

    post(server.url, alice, room_id, "hello")
    command = post(server.url, alice, room_id, "!time")
    replies = bot.eventually(
        lambda: answers(server.url, alice, room_id, robot.user), "the bot did not answer !time"
    )

    assert list(replies) == [f"time-bot:{command['id']}"]
    assert TIME_ANSWER.fullmatch(replies[f"time-bot:{command['id']}"][0])


def test_bot_ignores_its_own_commands(server, start_bot):
    alice, robot = make_account(server.url, "Alice"), make_account(server.url, "Robot")
    room_id = create_room(server.url, alice)
    bot = start_bot(server.url, robot.token, room_id)

    post(server.url, robot, room_id, "!time")
    command = post(server.url, alice, room_id, "!time")  # answered after the bot's own, if at all
    replies = bot.eventually(
        lambda: answers(server.url, alice, room_id, robot.user), "the bot did not answer !time"
    )

    assert replies.keys() == {f"time-bot:{command['id']}"}


def test_bot_answers_once_what_was_sent_while_the_server_restarted(tmp_path, start_bot):
    env = server_env(tmp_path)
    migrate(env)
    # Three servers in turn on one database; the first and the last on the same port.
    database, folders = env["DATABASE_URL"], [tmp_path / name for name in ("first", "elsewhere", "second")]
    for folder in folders:
        folder.mkdir()
    with start_server(folders[0], database_url=database) as first:
        alice, robot = make_account(first.url, "Alice"), make_account(first.url, "Robot")
        room_id = create_room(first.url, alice)
        bot = start_bot(first.url, robot.token, room_id)
        before = post(first.url, alice, room_id, "!time")
        bot.eventually(lambda: answers(first.url, alice, room_id, robot.user), "no answer before the restart")
    # These go through a server on another port, so the bot is certainly away when they are sent;
    # the second command lies beyond the first page (100) the bot gets when it joins again.
    with start_server(folders[1], database_url=database) as elsewhere:
        away = post(elsewhere.url, alice, room_id, "!time")
        for number in range(100):
            post(elsewhere.url, alice, room_id, f"chatter {number}")
        further = post(elsewhere.url, alice, room_id, "!time")

    with start_server(folders[2], database_url=database, PORT=first.url.rpartition(":")[2]) as second:
        bot.eventually(lambda: bot.joins() >= 2, "the bot did not join again after the restart")
        after = post(second.url, alice, room_id, "!time")
        expected = {f"time-bot:{message['id']}" for message in (before, away, further, after)}

        def every_command_answered() -> dict[str, list[str]] | None:
            found = answers(second.url, alice, room_id, robot.user)
            return found if expected <= found.keys() else None

        replies = bot.eventually(every_command_answered, "the bot did not answer every command")

    assert replies.keys() == expected
    assert all(len(contents) == 1 for contents in replies.values()), replies


def test_bot_waits_out_the_rate_limit_without_being_disconnected(tmp_path, start_bot):
    with start_server(tmp_path, SOCKET_MESSAGE_LIMIT="1/3", SOCKET_FLOOD_STRIKES="2") as server:
        alice, robot = make_account(server.url, "Alice"), make_account(server.url, "Robot")
        room_id = create_room(server.url, alice)
        bot = start_bot(server.url, robot.token, room_id)
        commands = [post(server.url, alice, room_id, "!time") for _ in range(3)]
        expected = {f"time-bot:{command['id']}" for command in commands}

        bot.eventually(
            lambda: answers(server.url, alice, room_id, robot.user).keys() == expected,
            "the bot did not answer every command",
        )

    assert "rate limited" in bot.output()
    assert bot.joins() == 1, bot.output()


def test_bot_stops_cleanly_on_ctrl_c(server, start_bot):
    alice, robot = make_account(server.url, "Alice"), make_account(server.url, "Robot")
    bot = start_bot(server.url, robot.token, create_room(server.url, alice))

    bot.process.send_signal(signal.SIGINT)

    assert bot.process.wait(timeout=WAIT) == 0, bot.output()
    assert "Traceback" not in bot.output()


def test_bot_with_a_wrong_token_exits_with_the_refusal(server, start_bot):
    alice = make_account(server.url, "Alice")
    bot = start_bot(server.url, "not-a-token", create_room(server.url, alice), wait_for_join=False)

    assert bot.process.wait(timeout=WAIT) == 1, bot.output()
    assert "failed to connect" in bot.output()


def test_bot_outside_a_private_room_exits_with_the_reason(server, start_bot):
    alice, robot = make_account(server.url, "Alice"), make_account(server.url, "Robot")
    room_id = create_room(server.url, alice, kind="private")
    bot = start_bot(server.url, robot.token, room_id, wait_for_join=False)

    assert bot.process.wait(timeout=WAIT) == 1, bot.output()
    assert f"cannot join room {room_id}" in bot.output()


def run_export(*args: str, token: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PARLEY_")}
    return subprocess.run(
        [sys.executable, "examples/export_history.py", *args],
        cwd=ROOT,
        env={**env, "PARLEY_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def test_export_writes_every_message_once_in_order(server, tmp_path):
    alice = make_account(server.url, "Alice")
    room_id = create_room(server.url, alice)
    sent = [post(server.url, alice, room_id, f"message {number}")["id"] for number in range(130)]
    target = tmp_path / "history.jsonl"

    done = run_export("--url", server.url, "--room", str(room_id), "-o", str(target), token=alice.token)

    assert done.returncode == 0, done.stderr
    exported = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [message["id"] for message in exported] == sent
    assert [message["content"] for message in exported] == [f"message {number}" for number in range(130)]
    assert "exported 130 messages" in done.stderr


def test_export_writes_to_stdout_without_output(server):
    alice = make_account(server.url, "Alice")
    room_id = create_room(server.url, alice)
    sent = [post(server.url, alice, room_id, text)["id"] for text in ("un", "deux 🎉", "trois")]

    done = run_export("--url", server.url, "--room", str(room_id), token=alice.token)

    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == sent


def test_export_of_a_room_one_cannot_read_fails_with_the_reason(server):
    alice, mallory = make_account(server.url, "Alice"), make_account(server.url, "Mallory")
    room_id = create_room(server.url, alice, kind="private")

    done = run_export("--url", server.url, "--room", str(room_id), token=mallory.token)

    assert done.returncode == 1
    assert "failed (40" in done.stderr
    assert done.stdout == ""
