"""The client side of bench/soak.py: one process of chatting Socket.IO clients.

It reuses bench/socket_load.py's Generator (connecting with API tokens, the websocket
transport, the JSON-lines protocol with the harness) and changes what a long run needs:

- clients reconnect on their own (python-socketio's reconnection), and after a reconnect
  catch up with `join_room {since_id}` from 5 s before the newest message they hold, as the
  web UI does (README "Catch-up"); a message recovered that way is delivered, not lost, and
  counted apart;
- every client sends at a human pace: the next message `uniform(low, high)` seconds after the
  previous one, from a phase of its own, instead of a fixed rate;
- latencies are kept by the minute the message was sent in, to see drift over the run.

Commands, each answered with one line (stdin/stdout, JSON): {"cmd": "connect", "url", "clients"}
and {"cmd": "disconnect"} as in socket_load; {"cmd": "run", "tag", "start_ns", "duration",
"interval": [low, high], "seed", "quiet", "drain", "bucket"}: chat, then drain until every
send is answered and nothing arrived for `quiet` s (at most `drain` s); {"cmd": "exit"}.

A message's client_id is "<tag>.<sender index>.<seq>" and its content starts with "t=<time_ns>",
the wall clock of its first send attempt; clients and harness share the machine and its clock.
"""

import asyncio
import functools
import math
import random
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import socketio

from bench.socket_load import NAMESPACE, Generator, serve

ACK_TIMEOUT = 30.0  # seconds a send waits for its ack before it is retried
RETRY_DELAY = 2.0  # seconds between two attempts of one message (same client_id)
ATTEMPTS = 10  # attempts of a message before it counts as failed
CATCH_UP_BEHIND = 5.0  # seconds before the newest held message a catch-up starts from
HELD = 200  # recent messages a client remembers per room, to pick since_id
WORDS = (
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "parley",
    "keeps",
    "every",
    "word",
)


@dataclass
class Chat:
    """What one chat command records in this process."""

    tag: str
    start_ns: int
    bucket_ns: int
    last_bucket: int
    sent: dict[str, list] = field(default_factory=dict)  # client_id -> [stamp_ns, ack_ns, ok, code, attempts]
    receipts: Counter = field(default_factory=Counter)  # client_id -> live arrivals at other members
    recovered: Counter = field(default_factory=Counter)  # client_id -> members that got it by catch-up
    echoes: Counter = field(default_factory=Counter)  # client_id -> arrivals at its own sender
    latencies: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))  # bucket -> ms
    seen: dict[tuple[int, str], str] = field(default_factory=dict)  # (receiver, client_id) -> how
    duplicates: int = 0  # the same live new_message twice at one client
    overlaps: int = 0  # a live copy of a message the client already had from a catch-up (expected)
    stale: int = 0  # new_message events of another command (the warm-up's late arrivals)
    errors: Counter = field(default_factory=Counter)  # failed attempts by error code
    catch_ups: int = 0
    catch_up_errors: Counter = field(default_factory=Counter)
    pending: int = 0  # messages not yet answered or given up
    last_event: float = field(default_factory=time.monotonic)


class SoakGenerator(Generator):
    """socket_load's Generator with reconnection, catch-up and human-paced chatting."""

    def __init__(self) -> None:
        super().__init__()
        self.chat: Chat | None = None
        self.reconnects = 0
        self.connect_errors: Counter = Counter()
        self.disconnect_reasons: Counter = Counter()
        self.held: dict[int, deque] = defaultdict(lambda: deque(maxlen=HELD))  # receiver -> (at, id)
        self.tasks: set[asyncio.Task] = set()

    def _client(self, index: int, source: str | None = None) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=True, reconnection_delay=1, reconnection_delay_max=5)
        sio.on("new_message", functools.partial(self._on_message, index), namespace=NAMESPACE)
        sio.on("connect", functools.partial(self._on_connect, index), namespace=NAMESPACE)
        sio.on("connect_error", functools.partial(self._on_connect_error, index), namespace=NAMESPACE)
        sio.on("disconnect", functools.partial(self._on_disconnect, index), namespace=NAMESPACE)
        sio.on("*", self._on_other, namespace=NAMESPACE)
        return sio

    # ------------------------------------------------------------ connection events

    def _on_connect(self, index: int) -> None:
        if index not in self.clients:  # the first connect: Generator.connect joins the room
            return
        self.reconnects += 1
        # Not awaited here: the ack of join_room is read by the loop that runs this handler.
        task = asyncio.get_running_loop().create_task(self._catch_up(index))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _on_connect_error(self, _index: int, data: Any = None) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        self.connect_errors[str(message)[:80]] += 1

    def _on_disconnect(self, index: int, *reason: Any) -> None:
        super()._on_disconnect(index, *reason)
        self.disconnect_reasons[str(reason[0]) if reason else "unknown"] += 1

    async def _catch_up(self, index: int) -> None:
        """Rejoin the room from a little before the newest message held; keep what was missed."""
        chat = self.chat
        payload: dict[str, Any] = {"room_id": self.rooms[index]}
        if (since := self._since_id(index)) is not None:
            payload["since_id"] = since
        try:
            answer = await self.clients[index].call("join_room", payload, namespace=NAMESPACE, timeout=30)
        except Exception as error:  # counted; the messages it would have brought count as lost
            if chat:
                chat.catch_up_errors[type(error).__name__] += 1
            return
        if chat is None:
            return
        chat.catch_ups += 1
        if not (isinstance(answer, dict) and answer.get("ok")):
            chat.catch_up_errors[str((answer or {}).get("error", answer))[:80]] += 1
            return
        for message in answer.get("messages", []):
            client_id = message.get("client_id") or ""
            self._hold(index, message)
            if client_id.startswith(chat.tag + ".") and (index, client_id) not in chat.seen:
                chat.seen[index, client_id] = "catch-up"
                sender = int(client_id.split(".")[1])
                (chat.echoes if sender == index else chat.recovered)[client_id] += 1

    def _since_id(self, index: int) -> int | None:
        """The id of the newest held message sent CATCH_UP_BEHIND s before the newest one held:
        ids are given at insert, so one committed a little later may carry a smaller id."""
        held = self.held[index]
        if not held:
            return None
        newest = max(at for at, _ in held)
        earlier = [message_id for at, message_id in held if at <= newest - CATCH_UP_BEHIND]
        return max(earlier) if earlier else None

    def _hold(self, index: int, message: dict) -> None:
        try:
            at = datetime.fromisoformat(message["created_at"]).timestamp()
            self.held[index].append((at, int(message["id"])))
        except (KeyError, TypeError, ValueError):
            return

    # ------------------------------------------------------------ recording

    def _on_message(self, receiver: int, data: dict) -> None:
        arrived = time.time_ns()
        message = data.get("message") or {}
        self._hold(receiver, message)
        chat, client_id = self.chat, message.get("client_id") or ""
        if chat is None or not client_id.startswith(chat.tag + "."):
            if chat is not None:
                chat.stale += 1
            return
        chat.last_event = time.monotonic()
        how = chat.seen.get((receiver, client_id))
        if how == "catch-up":  # the live copy of a message a catch-up brought first: expected
            chat.seen[receiver, client_id] = "both"
            chat.overlaps += 1
            return
        if how is not None:
            chat.duplicates += 1
            return
        chat.seen[receiver, client_id] = "live"
        if int(client_id.split(".")[1]) == receiver:
            chat.echoes[client_id] += 1
            return
        stamp = int(message["content"].split(" ", 1)[0][2:])
        chat.receipts[client_id] += 1
        # A send due just before the end that left a little late still belongs to the last row.
        bucket = min((stamp - chat.start_ns) // chat.bucket_ns, chat.last_bucket)
        chat.latencies[bucket].append(round((arrived - stamp) / 1e6, 2))

    # ------------------------------------------------------------ chatting

    async def _send(self, chat: Chat, index: int, client_id: str, content: str) -> None:
        """Send one message; on an error or no answer, retry with the same client_id, as the UI's
        Retry does (the server stores it once)."""
        record = chat.sent[client_id]
        payload = {"room_id": self.rooms[index], "content": content, "client_id": client_id}
        for attempt in range(1, ATTEMPTS + 1):
            record[4] = attempt
            try:
                answer = await self.clients[index].call(
                    "send_message", payload, namespace=NAMESPACE, timeout=ACK_TIMEOUT
                )
            except Exception as error:  # not connected, or no ack in time
                code = f"{type(error).__name__}"
            else:
                if isinstance(answer, dict) and answer.get("ok"):
                    record[1], record[2] = time.time_ns(), True
                    self._hold(index, answer.get("message") or {})
                    break
                code = ((answer or {}).get("error") or {}).get("code", repr(answer)[:80])
            record[3] = code
            chat.errors[code] += 1
            await asyncio.sleep(RETRY_DELAY)
        chat.pending -= 1
        chat.last_event = time.monotonic()

    async def _talk(self, chat: Chat, index: int, command: dict, start: float, end: float) -> None:
        """One client: a message every uniform(low, high) s, from a phase of its own, until end."""
        rng = random.Random(f"{command['seed']}.{chat.tag}.{index}")
        low, high = command["interval"]
        loop = asyncio.get_running_loop()
        due, seq, sends = start + rng.uniform(0, high), 0, []
        while due < end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            client_id = f"{chat.tag}.{index}.{seq}"
            stamp = time.time_ns()
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))
            chat.sent[client_id] = [stamp, None, False, None, 0]
            chat.pending += 1
            sends.append(loop.create_task(self._send(chat, index, client_id, f"t={stamp} {words}")))
            due, seq = due + rng.uniform(low, high), seq + 1
        await asyncio.gather(*sends)

    async def run(self, command: dict) -> dict:
        """Chat for the duration, then drain; this process's records."""
        last = max(0, math.ceil(command["duration"] / command["bucket"]) - 1)
        chat = Chat(command["tag"], command["start_ns"], int(command["bucket"] * 1e9), last)
        self.chat = chat
        before = {"reconnects": self.reconnects, "disconnects": self.disconnects}
        loop = asyncio.get_running_loop()
        start = loop.time() + (command["start_ns"] - time.time_ns()) / 1e9
        end = start + command["duration"]
        await asyncio.gather(*(self._talk(chat, i, command, start, end) for i in self.clients))
        done = loop.time()
        while loop.time() - done < command["drain"]:
            if chat.pending == 0 and time.monotonic() - chat.last_event > command["quiet"]:
                break
            await asyncio.sleep(0.1)
        self.chat = None
        return {
            "sent": chat.sent,
            "receipts": dict(chat.receipts),
            "recovered": dict(chat.recovered),
            "echoes": dict(chat.echoes),
            "latencies": {str(k): v for k, v in chat.latencies.items()},
            "duplicates": chat.duplicates,
            "overlaps": chat.overlaps,
            "stale": chat.stale,
            "errors": dict(chat.errors),
            "catch_ups": chat.catch_ups,
            "catch_up_errors": dict(chat.catch_up_errors),
            "reconnects": self.reconnects - before["reconnects"],
            "disconnects": self.disconnects - before["disconnects"],
            "disconnect_reasons": dict(self.disconnect_reasons),
            "connect_errors": dict(self.connect_errors),
            "connected_at_end": sum(sio.connected for sio in self.clients.values()),
            "drain_seconds": round(loop.time() - done, 1),
        }


if __name__ == "__main__":
    asyncio.run(serve(SoakGenerator()))
