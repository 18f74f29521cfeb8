"""Counters from inside a Parley server process, for `bench.socket_delivery --trace`.

Installed before the app handles anything (by bench/uwsgi_entry.py when BENCH_TRACE is set,
or by `python -m bench.server_trace wsgi.py` for the threading server), it counts and times,
without touching app/:

- every SQL statement by its text (SQLAlchemy's cursor events), and what a checkout costs:
  new DB connections (and the time PyMySQL takes to open one), pings, rollbacks, commits;
- every Redis command by name;
- every Socket.IO event handled in /chat and every emit, by name, and the most events being
  handled at once in each second (the greenlets or threads in flight).

BENCH_ENGINE_OPTIONS (--engine-options) is the other hook: SQLAlchemy engine options merged
into the app's configuration, to measure a change before making it.

The totals are written as JSON to the file BENCH_TRACE names once a second; the harness reads
them before and after a step and keeps the difference. Times are wall clock (under gevent they
include waiting for the database or for other greenlets), in seconds.
"""

import functools
import json
import os
import re
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

_stats: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
_lock = threading.Lock()
_gauges: dict[str, int] = {}  # highest values seen since the last dump
_history: list[tuple[float, int]] = []  # (time, most Socket.IO events handled at once in that second)
_in_flight = 0


def _add(kind: str, key: str, seconds: float) -> None:
    with _lock:
        cell = _stats[kind][key]
        cell[0] += 1
        cell[1] += seconds


def _timed(kind: str, key: Callable[..., str], function: Callable) -> Callable:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _add(kind, key(*args, **kwargs), time.perf_counter() - started)

    return wrapper


def _wrap(owner: Any, name: str, kind: str, key: Callable[..., str]) -> None:
    setattr(owner, name, _timed(kind, key, getattr(owner, name)))


def _statement_key(statement: str) -> str:
    return re.sub(r"\s+", " ", statement).strip()[:200]


def _install_sql() -> None:
    import pymysql.connections
    import sqlalchemy as sa

    def before(conn: Any, _cursor: Any, _statement: str, *_rest: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        started = conn.info["bench_started"].pop()
        _add("sql", _statement_key(statement), time.perf_counter() - started)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", after)
    # Waiting for a pooled connection (QueuePool blocks once pool_size + max_overflow are out).
    _wrap(sa.pool.QueuePool, "_do_get", "pool", lambda *_a, **_k: "checkout (wait included)")
    connection = pymysql.connections.Connection
    for name in ("connect", "ping", "commit", "rollback", "close"):
        _wrap(connection, name, "db", lambda *_a, _n=name, **_k: _n)


def _install_redis() -> None:
    import redis

    _wrap(redis.Redis, "execute_command", "redis", lambda _self, *args, **_k: str(args[0]).upper())


def _install_socketio() -> None:
    import flask_socketio

    _wrap(flask_socketio.SocketIO, "emit", "emit", lambda _self, event, *_a, **_k: event)

    def event_key(_self: Any, _handler: Any, message: str, namespace: str, *_a: Any) -> str:
        return f"{namespace} {message}"

    _wrap(flask_socketio.SocketIO, "_handle_event", "event", event_key)
    handle = flask_socketio.SocketIO._handle_event

    @functools.wraps(handle)
    def counted(*args: Any, **kwargs: Any) -> Any:
        global _in_flight
        _in_flight += 1
        _gauges["in_flight"] = max(_gauges.get("in_flight", 0), _in_flight)
        try:
            return handle(*args, **kwargs)
        finally:
            _in_flight -= 1

    flask_socketio.SocketIO._handle_event = counted


def _dump_forever(path: str) -> None:
    while True:
        time.sleep(1)
        with _lock:
            payload = {kind: {k: list(v) for k, v in cells.items()} for kind, cells in _stats.items()}
            _history.append((time.time(), _gauges.pop("in_flight", _in_flight)))
            del _history[:-900]
            payload["in_flight"] = list(_history)
        temporary = f"{path}.tmp"
        with open(temporary, "w") as out:
            json.dump(payload, out)
        os.replace(temporary, path)


def apply_engine_options() -> None:
    """What-if runs (--engine-options): merge BENCH_ENGINE_OPTIONS (JSON) into the engine options
    every Config instance gets, before the app is created; app/ itself is left as it is."""
    options = json.loads(os.environ.get("BENCH_ENGINE_OPTIONS") or "{}")
    if not options:
        return
    from app import config

    original = config.Config.__init__

    def patched(self: config.Config) -> None:
        original(self)
        self.SQLALCHEMY_ENGINE_OPTIONS = {**self.SQLALCHEMY_ENGINE_OPTIONS, **options}

    config.Config.__init__ = patched


def install(path: str) -> None:
    """Count and time SQL, DB connections, Redis commands and Socket.IO events; dump to path."""
    _install_sql()
    _install_redis()
    _install_socketio()
    threading.Thread(target=_dump_forever, args=(path,), daemon=True, name="bench-trace").start()


def prepare_server() -> None:
    """What the BENCH_* variables ask for, before the app is imported."""
    if os.environ.get("BENCH_TRACE"):
        install(os.environ["BENCH_TRACE"])
    apply_engine_options()


if __name__ == "__main__":
    import runpy

    prepare_server()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
