"""A Parley bot that answers `!time` in one room with the current UTC time.

    PARLEY_URL=http://127.0.0.1:5000 PARLEY_TOKEN=<secret> PARLEY_ROOM=<room id> python examples/time_bot.py

The token is a personal API token of the bot's account (the secret is shown once):

    curl -X POST "$PARLEY_URL/auth/tokens" -H 'Content-Type: application/json' \\
         -d '{"email": "bot@example.com", "password": "<password>", "name": "time bot"}'

The bot may use any public room, or a private room its account belongs to.

No command is lost or answered twice, even across server restarts:
- after every reconnection the bot joins the room again with since_id and the server sends what was
  posted while it was away. since_id is the newest id among the messages created 5 s before the
  newest one it has seen, not the newest id itself: ids are taken at insert and events from different
  server processes arrive out of id order, so a message lost with a crashed process can be older
  than one already seen. What comes twice is answered with the same client_id (below);
- an answer's client_id is derived from the command's id, so answering the same command again
  (a retry, or a command seen both live and in the backlog) returns the first answer, not a new one.
"""

import argparse
import logging
import os
import queue
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import socketio

NAMESPACE = "/chat"
COMMAND = "!time"
# After a rate_limited answer: few enough retries that the server never sees a flood (and disconnects).
RATE_LIMITED_PAUSE = 5.0
# How far behind the newest message seen the bot resumes (see the module docstring).
CATCH_UP_MARGIN = timedelta(seconds=5)
log = logging.getLogger("time_bot")


class TimeBot:
    """Answers `!time` in one room. Socket.IO handlers only queue what they receive; a single
    worker thread owns the state (since_id, joined) and makes every call, in arrival order."""

    def __init__(self, url: str, token: str, room_id: int) -> None:
        self.url, self.token, self.room_id = url, token, room_id
        self.user_id: int | None = None
        self.since_id: int | None = None  # where the next join resumes
        self.recent: dict[int, datetime] = {}  # id -> created_at, seen within CATCH_UP_MARGIN of the newest
        self.joined = False  # since_id only moves once this connection has joined (no gap is skipped)
        self.online = threading.Event()
        self.stopping = threading.Event()
        self.inbox: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.client = socketio.Client(reconnection=True, reconnection_delay=1, reconnection_delay_max=5)
        handlers = {
            "connect": self.online.set,
            "disconnect": self.on_disconnect,
            "connect_error": lambda reason: log.warning("cannot connect: %s", reason),
            "ready": lambda data: self.inbox.put(("ready", data["user"])),
            "new_message": lambda data: self.inbox.put(("message", data["message"])),
            "session_ended": lambda data: log.warning("session ended: %s", data),
        }
        for event, handler in handlers.items():
            self.client.on(event, handler, namespace=NAMESPACE)

    def on_disconnect(self, reason: str = "") -> None:
        """Note the loss; python-socketio reconnects by itself and the server sends `ready` again."""
        log.warning("disconnected (%s)", reason)
        self.online.clear()
        self.inbox.put(("disconnected", None))

    def run(self) -> None:
        """Connect (retrying while the server is down) and serve until the server ends the session."""
        threading.Thread(target=self.work, name="time-bot-worker", daemon=True).start()
        self.client.connect(
            self.url,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            auth={"token": self.token},
            retry=True,
        )
        self.client.wait()

    def stop(self) -> None:
        """Stop the worker and close the connection."""
        self.stopping.set()
        self.inbox.put(None)
        self.client.shutdown()

    def work(self) -> None:
        """The worker: handle queued events one at a time until stop()."""
        while (item := self.inbox.get()) is not None:
            kind, data = item
            if kind == "ready":
                self.user_id = data["id"]
                self.online.wait()  # `ready` can be handled before python-socketio sees /chat connected
                self.join()
            elif kind == "disconnected":
                self.joined = False
            else:
                self.handle(data, advance=self.joined)

    def join(self) -> None:
        """Join the room and answer what was posted since since_id (on the first join: nothing)."""
        first_time = self.since_id is None
        cursor, has_more = self.since_id, True  # pages follow the ids; since_id moves by time
        while has_more:
            payload = {"room_id": self.room_id} | ({} if first_time else {"since_id": cursor})
            answer = self.request("join_room", payload)
            if answer is None:
                return  # connection lost: the next `ready` joins again
            if not answer["ok"]:
                log.error("cannot join room %s: %s", self.room_id, answer["error"]["message"])
                self.stop()
                return
            if first_time:  # the latest messages: history from before the bot, not commands to answer
                self.since_id = max((message["id"] for message in answer["messages"]), default=0)
                self.recent.clear()
                break
            for message in answer["messages"]:
                self.handle(message, advance=True)
            cursor = max((message["id"] for message in answer["messages"]), default=cursor)
            has_more = answer["has_more"]
        self.joined = True
        log.info("joined room %s (since_id=%s)", self.room_id, self.since_id)

    def handle(self, message: dict[str, Any], advance: bool) -> None:
        """Answer the message if it is a `!time` command from someone else."""
        if message["room_id"] != self.room_id:
            return
        if advance:
            self.advance(message)
        if message["content"].strip() == COMMAND and message["author"]["id"] != self.user_id:
            self.answer(message["id"])

    def advance(self, message: dict[str, Any]) -> None:
        """Move since_id up to the newest id created CATCH_UP_MARGIN before the newest message seen."""
        self.recent[message["id"]] = datetime.fromisoformat(message["created_at"])
        cutoff = max(self.recent.values()) - CATCH_UP_MARGIN
        for message_id, created_at in list(self.recent.items()):
            if created_at <= cutoff:
                self.since_id = max(self.since_id or 0, message_id)
                del self.recent[message_id]

    def answer(self, command_id: int) -> None:
        """Send the time; retry with the same client_id once back online, or a while after rate_limited."""
        now = datetime.now(UTC)
        data = {
            "room_id": self.room_id,
            "content": f"It is {now:%H:%M:%S} UTC on {now:%Y-%m-%d}.",
            "client_id": f"time-bot:{command_id}",
        }
        while True:
            answer = self.request("send_message", data)
            if answer is None:
                self.online.wait()  # retry once reconnected
                pause = 1.0
            elif answer.get("error", {}).get("code") == "rate_limited":
                log.info("rate limited; answering message %s again in %.0f s", command_id, RATE_LIMITED_PAUSE)
                pause = RATE_LIMITED_PAUSE
            else:
                break
            if self.stopping.wait(pause):
                return
        if not answer["ok"]:
            log.error("cannot answer message %s: %s", command_id, answer["error"]["message"])
        else:
            log.info("answered message %s (created=%s)", command_id, answer["created"])

    def request(self, event: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Send an event and return its ack, or None if the connection is gone."""
        try:
            return self.client.call(event, data, namespace=NAMESPACE, timeout=15)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError) as error:
            log.warning("%s not answered: %s", event, error or type(error).__name__)
            return None


def parse_args() -> argparse.Namespace:
    """Settings from the command line, defaulting to PARLEY_URL, PARLEY_TOKEN and PARLEY_ROOM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("PARLEY_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--token", default=os.environ.get("PARLEY_TOKEN"), help="API token secret")
    parser.add_argument("--room", type=int, default=os.environ.get("PARLEY_ROOM"), help="room id")
    args = parser.parse_args()
    if not args.token or args.room is None:
        parser.error("a token (--token or PARLEY_TOKEN) and a room (--room or PARLEY_ROOM) are required")
    return args


def main() -> int:
    """Run the bot until Ctrl-C or SIGTERM (exit status 0), or until the server turns it away (1)."""
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    bot = TimeBot(args.url.rstrip("/"), args.token, args.room)
    # SIGTERM stops as cleanly as Ctrl-C (python-socketio's SIGINT handler also ends a reconnect loop).
    signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))
    try:
        bot.run()  # returns when the server ends the session, or when the room is out of reach
        log.error("stopped: the server ended the session or refused the room")
    except socketio.exceptions.ConnectionError as error:  # e.g. a wrong or revoked token
        log.error("%s", error)
    except KeyboardInterrupt:
        log.info("stopping")
        return 0
    finally:
        bot.stop()
    return 1


if __name__ == "__main__":
    sys.exit(main())
