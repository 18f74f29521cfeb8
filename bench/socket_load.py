"""The load generator of bench/socket_delivery.py: one process driving many Socket.IO clients.

The harness starts a few of these (`python -m bench.socket_load`) and talks to each over its
stdin and stdout, one JSON object a line; logs go to stderr. Every client is a python-socketio
AsyncClient on the websocket transport, authenticated with an API token, in the /chat namespace.

Commands, each answered with one line:
- {"cmd": "connect", "url", "clients": [{"index", "token", "room_id", "source"?}]}: connect and
  join_room (from the loopback address `source` when given, so nginx's ip_hash spreads them);
- {"cmd": "run", "tag", "rate", "duration", "start_ns", "expected", "quiet", "drain"}: send open-loop
  at `rate` messages/s per client from the wall-clock time `start_ns`, record every new_message
  that arrives, then drain: until `expected` deliveries to others have arrived, or nothing has
  arrived for `quiet` s, or `drain` s passed after the last send;
- {"cmd": "disconnect"}; {"cmd": "exit"}.

A message's client_id is "<tag>.<sender index>.<seq>" and its content starts with "t=<time_ns>",
the sender's wall clock just before the emit; the harness and every client share the machine
and so the clock. A receipt's latency is its arrival time minus that stamp.
"""

import asyncio
import functools
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

NAMESPACE = "/chat"
CONNECT_CONCURRENCY = 10
CONNECT_TIMEOUT = 15.0
ACK_TIMEOUT_NS = 30 * 10**9
SLOW_MS = 100.0  # deliveries slower than this are kept with their send time, to see when they happen
GOLDEN = 0.6180339887498949  # spreads the clients' send phases evenly over one interval


@dataclass
class Step:
    """What one run records: sends by client_id, receipts by client_id, latencies in ms."""

    tag: str
    sent: dict[str, list] = field(default_factory=dict)  # client_id -> [send_ns, ack_ns, ok, code, id]
    receipts: Counter = field(default_factory=Counter)  # client_id -> arrivals at other clients
    echoes: Counter = field(default_factory=Counter)  # client_id -> arrivals at its own sender
    latencies: list[float] = field(default_factory=list)  # ms, deliveries to others
    echo_latencies: list[float] = field(default_factory=list)  # ms, the sender's own copy
    lags: list[float] = field(default_factory=list)  # ms each send started after its schedule
    slow: list[tuple[int, float]] = field(default_factory=list)  # (send stamp ns, ms) over SLOW_MS
    duplicates: int = 0
    stale: int = 0  # new_message events of an earlier step, or not from the benchmark
    seen: set[tuple[int, str]] = field(default_factory=set)
    last_event: float = field(default_factory=time.monotonic)
    acks: int = 0


class Generator:
    """The clients of this process and the step being recorded."""

    def __init__(self) -> None:
        self.clients: dict[int, socketio.AsyncClient] = {}
        self.rooms: dict[int, int] = {}
        self.step: Step | None = None
        self.disconnects = 0
        self.other_events: Counter = Counter()
        self.sessions: list[aiohttp.ClientSession] = []  # given to clients: ours to close

    # ------------------------------------------------------------ connecting

    def _client(self, index: int, source: str | None = None) -> socketio.AsyncClient:
        """A client; with source, its connections leave from that address (nginx's ip_hash)."""
        options: dict[str, Any] = {}
        if source:
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0)))
            self.sessions.append(session)
            options["http_session"] = session
        sio = socketio.AsyncClient(reconnection=False, **options)
        sio.on("new_message", functools.partial(self._on_message, index), namespace=NAMESPACE)
        sio.on("disconnect", functools.partial(self._on_disconnect, index), namespace=NAMESPACE)
        sio.on("*", self._on_other, namespace=NAMESPACE)
        return sio

    async def connect(self, url: str, specs: list[dict]) -> dict:
        """Connect every client and join its room; the failures by message."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        started = time.perf_counter()

        async def one(spec: dict) -> str | None:
            async with gate:
                sio = self._client(spec["index"], spec.get("source"))
                try:
                    await sio.connect(
                        url,
                        namespaces=[NAMESPACE],
                        transports=["websocket"],
                        auth={"token": spec["token"]},
                        wait_timeout=CONNECT_TIMEOUT,
                    )
                    answer = await sio.call(
                        "join_room", {"room_id": spec["room_id"]}, namespace=NAMESPACE, timeout=30
                    )
                except Exception as error:  # reported to the harness, which decides
                    return f"{type(error).__name__}: {error}"
                if not answer or not answer.get("ok"):
                    return f"join_room: {answer}"
                self.clients[spec["index"]] = sio
                self.rooms[spec["index"]] = spec["room_id"]
                return None

        failures = [f for f in await asyncio.gather(*(one(s) for s in specs)) if f]
        return {
            "connected": len(self.clients),
            "failures": Counter(failures).most_common(5),
            "seconds": time.perf_counter() - started,
        }

    async def disconnect(self) -> dict:
        """Disconnect every client."""
        await asyncio.gather(*(sio.disconnect() for sio in self.clients.values()), return_exceptions=True)
        await asyncio.gather(*(session.close() for session in self.sessions), return_exceptions=True)
        count = len(self.clients)
        self.clients.clear()
        self.sessions.clear()
        return {"disconnected": count}

    def _on_disconnect(self, _index: int, *_reason: Any) -> None:
        self.disconnects += 1

    def _on_other(self, event: str, *_args: Any) -> None:
        self.other_events[event] += 1

    # ------------------------------------------------------------ recording

    def _on_message(self, receiver: int, data: dict) -> None:
        arrived = time.time_ns()
        step = self.step
        message = data.get("message") or {}
        client_id = message.get("client_id") or ""
        if step is None or not client_id.startswith(step.tag + "."):
            if step is not None:
                step.stale += 1
            return
        step.last_event = time.monotonic()
        if (receiver, client_id) in step.seen:
            step.duplicates += 1
            return
        step.seen.add((receiver, client_id))
        stamp = int(message["content"].split(" ", 1)[0][2:])
        latency = (arrived - stamp) / 1e6
        if int(client_id.split(".")[1]) == receiver:
            step.echoes[client_id] += 1
            step.echo_latencies.append(latency)
        else:
            step.receipts[client_id] += 1
            step.latencies.append(latency)
            if latency > SLOW_MS:
                step.slow.append((stamp, latency))

    def _on_ack(self, step: Step, client_id: str, answer: Any = None) -> None:
        record = step.sent[client_id]
        record[1] = time.time_ns()
        ok = isinstance(answer, dict) and bool(answer.get("ok"))
        record[2] = ok
        if ok:
            record[4] = (answer.get("message") or {}).get("id")
        else:
            error = answer.get("error") if isinstance(answer, dict) else None
            record[3] = (error or {}).get("code", repr(answer)[:80])
        step.acks += 1
        step.last_event = time.monotonic()

    # ------------------------------------------------------------ one step

    async def _send_loop(self, step: Step, index: int, rate: float, duration: float, start: float) -> None:
        """Open loop: message `seq` is due at start + phase + seq / rate, whatever the acks do."""
        sio = self.clients[index]
        interval = 1.0 / rate
        first = start + ((index * GOLDEN) % 1.0) * interval
        loop = asyncio.get_running_loop()
        for seq in range(round(rate * duration)):
            due = first + seq * interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            step.lags.append(max(0.0, loop.time() - due) * 1000)
            client_id = f"{step.tag}.{index}.{seq}"
            sent_ns = time.time_ns()
            step.sent[client_id] = [sent_ns, None, None, None, None]
            content = f"t={sent_ns} socket_delivery {step.tag} from client {index}"
            try:
                await sio.emit(
                    "send_message",
                    {"room_id": self.rooms[index], "content": content, "client_id": client_id},
                    namespace=NAMESPACE,
                    callback=functools.partial(self._on_ack, step, client_id),
                )
            except Exception as error:  # a dead connection: the message counts as failed
                step.sent[client_id][3] = f"emit: {type(error).__name__}"

    async def run(self, command: dict) -> dict:
        """Send for the step's duration, then drain; the raw records of this process."""
        step = Step(tag=command["tag"])
        self.step = step
        late = (time.time_ns() - command["start_ns"]) / 1e6  # > 0: this process got the step late
        disconnects = self.disconnects
        loop = asyncio.get_running_loop()
        start = loop.time() + (command["start_ns"] - time.time_ns()) / 1e9
        rate, duration = command["rate"], command["duration"]
        await asyncio.gather(*(self._send_loop(step, i, rate, duration, start) for i in self.clients))
        sending_done = checked = loop.time()
        expected = command["expected"]
        while True:
            await asyncio.sleep(0.05)
            now, stalled = loop.time(), loop.time() - checked > 0.5
            checked = now
            if stalled:  # this process did not run for a while: let it read what arrived first
                continue
            complete = step.acks >= len(step.sent) and sum(step.receipts.values()) >= expected
            quiet = time.monotonic() - step.last_event > command["quiet"]
            if complete or quiet or now - sending_done > command["drain"]:
                break
        self.step = None
        return {
            "sent": step.sent,
            "receipts": dict(step.receipts),
            "echoes": dict(step.echoes),
            "latencies": step.latencies,
            "echo_latencies": step.echo_latencies,
            "lags": step.lags,
            "slow": step.slow,
            "duplicates": step.duplicates,
            "stale": step.stale,
            "disconnects": self.disconnects - disconnects,
            "drain_seconds": loop.time() - sending_done,
            "late_ms": late,
        }


async def serve(generator: Generator | None = None) -> None:
    """Answer the harness's commands until exit (or until stdin closes); `run` is the generator's."""
    generator = generator or Generator()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        name = command["cmd"]
        if name == "connect":
            answer = await generator.connect(command["url"], command["clients"])
        elif name == "run":
            answer = await generator.run(command)
        elif name == "disconnect":
            answer = await generator.disconnect()
        elif name == "exit":
            await generator.disconnect()
            break
        else:
            answer = {"error": f"unknown command {name!r}"}
        answer["other_events"] = dict(generator.other_events)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(serve())
