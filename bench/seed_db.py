"""The benchmark database: created, migrated with the real Alembic revisions, seeded set-based.

Seeding uses MariaDB's SEQUENCE engine (`seq_1_to_N`), so a million messages take seconds.
Only a database whose name contains "bench" is ever created or dropped here. The helpers the
benchmarks share (options, tokens, alternating timing, statement capture, output) live here too.
"""

import argparse
import json
import os
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from app import create_app
from app.extensions import db
from app.models import ApiToken, Room, RoomMembership, User
from app.models.room import room_name_key
from app.services import accounts, api_tokens
from app.services.passwords import hash_password

BENCH_EMAIL = "bench@example.com"
ROOM_NAMES = {"small": "bench-small", "large": "bench-large", "noise": "bench-noise"}
CHUNKS = 10  # the messages are inserted in this many statements per room pair
INDEX_NAME = "ix_messages_room_id_id"  # the (room_id, id) index of messages the migrations create
DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/parley_bench?charset=utf8mb4"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
GOAL_RATIO = 1.5
MIN_SAMPLES = 20  # a cell over its time budget still gets this many timed requests
WARMUP_MIN = 3  # warm-up requests per role even when the warm-up budget is spent
Call = Callable[[str, dict], tuple[float, int]]  # (role, query params) -> (ms, SQL statements)


class BenchError(RuntimeError):
    """The benchmark cannot go on (bad setup, or the endpoint answered wrongly)."""


@dataclass
class RoomData:
    """A seeded room: its id and its message ids, oldest first."""

    room_id: int
    ids: list[int]


@dataclass
class Cell:
    """One scenario for one role (room or reader): latencies in ms and SQL statements per request."""

    samples: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """n, median, p90 and mean in ms, and the fewest and most statements a request ran."""
        return {
            "n": len(self.samples),
            "median_ms": statistics.median(self.samples),
            "p90_ms": statistics.quantiles(self.samples, n=10)[8],
            "mean_ms": statistics.fmean(self.samples),
            "queries": [min(self.queries, default=0), max(self.queries, default=0)],
        }


def add_common_options(parser: argparse.ArgumentParser, results_name: str) -> None:
    """The options every benchmark has: database, seed sizes, app environment, timing, output."""
    add = parser.add_argument
    add("--database-url", default=DEFAULT_URL, help="MariaDB URL; the database name must contain 'bench'")
    add("--reseed", action="store_true", help="drop and recreate the database, then seed it")
    add("--small", type=int, default=1_000, help="messages in the small room (default 1,000)")
    add("--large", type=int, default=1_000_000, help="messages in the large room (default 1,000,000)")
    add("--noise", type=int, default=250_000, help="messages of a third room, interleaved with the large")
    add("--requests", type=int, default=300, help="timed requests per scenario and room")
    add("--warmup", type=int, default=30, help="untimed requests per scenario and room first")
    add("--budget", type=float, default=60, help=f"seconds per scenario, past {MIN_SAMPLES} requests")
    add("--env", choices=("production", "testing"), default="production", help="PARLEY_ENV of the app")
    add("--json", type=Path, help=f"results file (default {RESULTS_DIR.name}/{results_name}-<time>.json)")
    add("--no-json", action="store_true", help="write no results file")
    add("--check", action="store_true", help=f"exit 1 when a median ratio is over {GOAL_RATIO}")


def database_name(url: sa.URL) -> str:
    """The database of the URL, refused unless it is a MariaDB database named for the bench."""
    name = url.database or ""
    if url.get_backend_name() not in ("mysql", "mariadb"):
        raise BenchError("the benchmark needs MariaDB (it seeds with the SEQUENCE engine)")
    if not re.fullmatch(r"\w+", name) or "bench" not in name:
        raise BenchError(f"refusing database {name!r}: its name must contain 'bench' (it may be dropped)")
    return name


def ensure_database(url: sa.URL, *, drop: bool = False) -> None:
    """Create the benchmark database if it is missing (drop it first when asked)."""
    name = database_name(url)
    statements = [f"DROP DATABASE IF EXISTS `{name}`"] if drop else []
    statements.append(
        f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    engine = sa.create_engine(url.set(database=""))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def make_app(url: str, env: str) -> Flask:
    """The real application on the benchmark database, without Redis, mail and rate limits."""
    secret_key = secrets.token_hex(32)
    # ProductionConfig reads SECRET_KEY from the environment before the overrides apply.
    os.environ.setdefault("SECRET_KEY", secret_key)
    overrides = {
        "PARLEY_ENV": env,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": secret_key,
        "REDIS_URL": None,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_SERVER": None,
        "ADMIN_EMAIL": None,
        "ADMIN_PASSWORD": None,
    }
    return create_app(overrides)


def migrate_schema() -> None:
    """Apply the Alembic migrations (inside an app context); never create_all."""
    import flask_migrate

    flask_migrate.upgrade()


def room_counts() -> dict[str, int]:
    """Messages per benchmark room, by role; a role whose room is missing is left out."""
    rooms = {room.name: room.id for room in db.session.scalars(sa.select(Room))}
    rows = db.session.execute(sa.text("SELECT room_id, COUNT(*) FROM messages GROUP BY room_id"))
    counts = dict(rows.all())
    return {role: counts.get(rooms[name], 0) for role, name in ROOM_NAMES.items() if name in rooms}


def seed_matches(sizes: dict[str, int]) -> bool:
    """Whether the database holds exactly the seed these sizes ask for, memberships included."""
    user = accounts.find_user_by_email(BENCH_EMAIL)
    if user is None or room_counts() != sizes:
        return False
    count = sa.select(sa.func.count()).select_from(RoomMembership).where(RoomMembership.user_id == user.id)
    return db.session.scalar(count) == len(ROOM_NAMES)


def create_rooms(user: User) -> dict[str, int]:
    """The three benchmark rooms, each owned by the user; their ids by role."""
    rooms = {}
    for role, name in ROOM_NAMES.items():
        room = Room(
            name=name, name_key=room_name_key(name), description="", kind="public", created_by=user.id
        )
        db.session.add(room)
        db.session.flush()
        db.session.add(RoomMembership(room_id=room.id, user_id=user.id, role="owner"))
        rooms[role] = room.id
    db.session.commit()
    return rooms


def insert_messages(
    conn: sa.Connection, user_id: int, rooms: tuple[int, int], counts: tuple[int, int], first: int
) -> int:
    """One INSERT ... SELECT: counts[0] messages of rooms[0], counts[1] of rooms[1] spread evenly among them.

    Row `seq` goes to rooms[1] when floor(seq * counts[1] / total) steps up, which places exactly
    counts[1] rows at even intervals. Message number `first + seq` is sent `first + seq` seconds
    into 2025, so created_at grows with the id; returns the next number.
    """
    total = sum(counts)
    if total == 0:
        return first
    conn.execute(
        sa.text(
            "INSERT INTO messages (room_id, user_id, content, created_at) "
            "SELECT IF(FLOOR(seq * :n1 / :total) > FLOOR((seq - 1) * :n1 / :total), :r1, :r0), :user, "
            "CONCAT('Benchmark message ', :first + seq, ': the quick brown fox jumps over the lazy dog.'), "
            "TIMESTAMP'2025-01-01 00:00:00' + INTERVAL (:first + seq) SECOND "
            f"FROM seq_1_to_{int(total)} ORDER BY seq"
        ),
        {"n1": counts[1], "total": total, "r0": rooms[0], "r1": rooms[1], "user": user_id, "first": first},
    )
    return first + total


def _share(total: int, chunk: int) -> int:
    """The part of `total` that chunk number `chunk` of CHUNKS carries (the parts add up to total)."""
    return total * (chunk + 1) // CHUNKS - total * chunk // CHUNKS


def seed(sizes: dict[str, int]) -> None:
    """One user and three rooms; the large room interleaved with the noise room, the small one in runs."""
    user = accounts.create_user(BENCH_EMAIL, secrets.token_urlsafe(24), "Bench")
    rooms = create_rooms(user)
    started = time.perf_counter()
    with db.engine.connect() as conn:
        sent = 0
        for chunk in range(CHUNKS):
            pair = (_share(sizes["large"], chunk), _share(sizes["noise"], chunk))
            sent = insert_messages(conn, user.id, (rooms["large"], rooms["noise"]), pair, sent)
            small = (_share(sizes["small"], chunk), 0)
            sent = insert_messages(conn, user.id, (rooms["small"], rooms["noise"]), small, sent)
            conn.commit()
            print(f"  seeded chunk {chunk + 1}/{CHUNKS}", file=sys.stderr)
        conn.exec_driver_sql("ANALYZE TABLE messages").all()
    print(f"  seeding took {time.perf_counter() - started:.1f} s", file=sys.stderr)


def issue_token(email: str, name: str) -> str:
    """A fresh API token of the user, made by create_token under a new password (older ones are deleted)."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise BenchError(f"the user {email} is missing; run with --reseed")
    password = secrets.token_urlsafe(24)
    user.password_hash = hash_password(password, current_app.config["BCRYPT_ROUNDS"])
    db.session.execute(sa.delete(ApiToken).where(ApiToken.user_id == user.id))
    db.session.commit()
    _row, secret = api_tokens.create_token(email, password, name)
    return secret


def load_rooms() -> dict[str, RoomData]:
    """The small and the large room with their message ids, oldest first."""
    loaded = {}
    for role in ("small", "large"):
        room_id = db.session.scalar(sa.select(Room.id).where(Room.name == ROOM_NAMES[role]))
        query = sa.text("SELECT id FROM messages WHERE room_id = :room ORDER BY id")
        loaded[role] = RoomData(room_id=room_id, ids=list(db.session.scalars(query, {"room": room_id})))
    return loaded


def ensure_seed(app: Flask, url: sa.URL, sizes: dict[str, int], reseed: bool) -> dict[str, RoomData]:
    """Schema and seed in place (reseeded when asked or when the counts differ); the rooms."""
    with app.app_context():
        migrate_schema()
        if reseed or not seed_matches(sizes):
            print("seeding: drop, migrate, insert ...", file=sys.stderr)
            db.session.remove()
            db.engine.dispose()
            ensure_database(url, drop=True)
            db.engine.dispose()  # pooled connections still point at the dropped database
            migrate_schema()
            seed(sizes)
        else:
            print("reusing the existing seed (--reseed rebuilds it)", file=sys.stderr)
        rooms = load_rooms()
        db.session.remove()
    return rooms


def prepare(app: Flask, url: sa.URL, sizes: dict[str, int], reseed: bool) -> tuple[str, dict[str, RoomData]]:
    """Schema and seed in place (reseeded when asked or when the counts differ); a token and the rooms."""
    rooms = ensure_seed(app, url, sizes, reseed)
    with app.app_context():
        token = issue_token(BENCH_EMAIL, "history-pages benchmark")
        db.session.remove()
    return token, rooms


# ---------------------------------------------------------------- timing and output


def alternate(call: Call, plans: dict[str, list[dict]], budget: float, minimum: int) -> dict[str, Cell]:
    """Run call(role, params) through the plans, the roles taking turns; stop early once over budget."""
    cells = {role: Cell() for role in plans}
    deadline = time.perf_counter() + budget
    for i in range(min(len(plan) for plan in plans.values())):
        if i >= minimum and time.perf_counter() > deadline:
            break
        for role, plan in plans.items():
            elapsed, queries = call(role, plan[i])
            cells[role].samples.append(elapsed)
            cells[role].queries.append(queries)
    return cells


def warm_and_time(
    call: Call, warmup: dict[str, list[dict]], timed: dict[str, list[dict]], budget: float
) -> dict[str, Cell]:
    """Untimed warm-up requests (a quarter of the budget), then the timed ones; the timed cells."""
    alternate(call, warmup, budget / 4, WARMUP_MIN)
    return alternate(call, timed, budget, MIN_SAMPLES)


@contextmanager
def statement_log(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """Record every statement the engine sends, as (DBAPI statement, parameters)."""
    log: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        log.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def format_rows(rows: list[dict], columns: tuple[str, ...]) -> str:
    """A plain text table of the chosen columns."""
    cells = [[str(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = [[*columns], *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def server_version(app: Flask) -> str:
    """The database server's VERSION()."""
    with app.app_context():
        return str(db.session.scalar(sa.text("SELECT VERSION()")))


def write_json(path: Path, payload: dict) -> None:
    """Write the results as JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nresults written to {path}", file=sys.stderr)


def save_results(args: argparse.Namespace, server: str, script: str, result: dict) -> None:
    """Write the run's options and results to --json, or to RESULTS_DIR/<script>-<time>.json."""
    if args.no_json:
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = sa.make_url(args.database_url).render_as_string(hide_password=True)
    meta = {**vars(args), "json": None, "server": server, "url": url}
    write_json(args.json or RESULTS_DIR / f"{script}-{stamp}.json", {"meta": meta, **result})
