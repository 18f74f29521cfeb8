"""Benchmark: latency of one history page (GET /rooms/<id>/messages) at 1,000 vs 1,000,000 messages.

Run from the project root (MariaDB only: seeding uses its SEQUENCE engine):

    .venv/bin/python -m bench.history_pages [--database-url URL] [--reseed]

The schema comes from the real migrations, so the run also proves the (room_id, id) index they
create. The seed (one user, a small room, a large room and a noise room) is reused when its counts
match; --reseed drops and recreates the database first. Requests go through the Flask test client
with a Bearer token, so each timing covers routing, authentication, the query and serialization.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from app.models import ApiToken, Room, RoomMembership, User
from app.models.room import room_name_key
from app.services import accounts, api_tokens
from app.services.passwords import hash_password

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/parley_bench?charset=utf8mb4"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
BENCH_EMAIL = "bench@example.com"
ROOM_NAMES = {"small": "bench-small", "large": "bench-large", "noise": "bench-noise"}
CHUNKS = 10  # the large and noise rooms are inserted interleaved, in this many statements
GOAL_RATIO = 1.5
INDEX_NAME = "ix_messages_room_id_id"
EXPLAIN_COLUMNS = (
    "id",
    "select_type",
    "table",
    "type",
    "possible_keys",
    "key",
    "key_len",
    "ref",
    "rows",
    "Extra",
)
ANALYZE_COLUMNS = ("table", "type", "key", "rows", "r_rows", "filtered", "r_filtered", "Extra")
KEYSET_SQL = (
    "SELECT id, user_id, content, created_at FROM messages "
    "WHERE room_id = :room AND id < :cursor ORDER BY id DESC LIMIT :n"
)


class BenchError(RuntimeError):
    """The benchmark cannot go on (bad setup, or the endpoint answered wrongly)."""


@dataclass
class RoomData:
    """A seeded room: its label in the report, its id and its message ids, oldest first."""

    label: str
    room_id: int
    ids: list[int]


@dataclass
class Cell:
    """Timings of one scenario on one room, in milliseconds, and SQL statements per request."""

    samples: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Median, p90 and mean in ms, and the most SQL statements any request ran."""
        deciles = statistics.quantiles(self.samples, n=10)
        return {
            "median_ms": statistics.median(self.samples),
            "p90_ms": deciles[8],
            "mean_ms": statistics.fmean(self.samples),
            "queries_per_request": max(self.queries, default=0),
        }


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="MariaDB URL of the bench database")
    parser.add_argument("--reseed", action="store_true", help="drop and recreate the database, then seed")
    parser.add_argument("--small", type=int, default=1_000, help="messages in the small room")
    parser.add_argument("--large", type=int, default=1_000_000, help="messages in the large room")
    parser.add_argument("--noise", type=int, default=250_000, help="messages in a third room, interleaved")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per scenario and room")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests per scenario and room")
    parser.add_argument("--limit", type=int, default=50, help="page size (1..100)")
    parser.add_argument("--env", choices=("production", "testing"), default="production", help="PARLEY_ENV")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the order of the cursors")
    parser.add_argument("--json", type=Path, help=f"write results here (default: {RESULTS_DIR.name}/...)")
    parser.add_argument("--no-json", action="store_true", help="write no JSON file")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if a median ratio is over {GOAL_RATIO}")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- database and schema


def database_name(url: sa.URL) -> str:
    """The database of the URL, refused unless it is clearly a benchmark database."""
    name = url.database or ""
    if url.get_backend_name() not in ("mysql", "mariadb"):
        raise BenchError("the benchmark needs MariaDB (it seeds with the SEQUENCE engine)")
    if not re.fullmatch(r"\w+", name) or "bench" not in name:
        raise BenchError(f"refusing database {name!r}: its name must contain 'bench' (it may be dropped)")
    return name


def server_execute(url: sa.URL, *statements: str) -> None:
    """Run statements on the server the URL names, outside any database."""
    engine = sa.create_engine(url.set(database=""))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def ensure_database(url: sa.URL, *, drop: bool = False) -> None:
    """Create the benchmark database if it is missing (drop it first when asked)."""
    name = database_name(url)
    create = f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    server_execute(url, *([f"DROP DATABASE IF EXISTS `{name}`"] if drop else []), create)


def make_app(url: str, env: str) -> Flask:
    """The real application on the benchmark database, without Redis and rate limits."""
    secret_key = secrets.token_hex(32)
    # ProductionConfig reads SECRET_KEY from the environment before overrides apply.
    os.environ.setdefault("SECRET_KEY", secret_key)
    return create_app(
        {
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
    )


def migrate_schema() -> None:
    """Apply the Alembic migrations (inside an app context), never create_all."""
    import flask_migrate

    flask_migrate.upgrade()


# ---------------------------------------------------------------- seed


def room_counts() -> dict[str, int]:
    """Messages per benchmark room, by role; a role whose room is missing is absent."""
    rooms = {room.name: room.id for room in db.session.scalars(sa.select(Room))}
    counts = dict(
        db.session.execute(sa.text("SELECT room_id, COUNT(*) FROM messages GROUP BY room_id")).tuples().all()
    )
    return {role: counts.get(rooms[name], 0) for role, name in ROOM_NAMES.items() if name in rooms}


def seed_matches(wanted: dict[str, int]) -> bool:
    """Whether the database holds exactly the seed these sizes ask for, with its member."""
    user = accounts.find_user_by_email(BENCH_EMAIL)
    if user is None or room_counts() != wanted:
        return False
    memberships = db.session.scalar(
        sa.select(sa.func.count()).select_from(RoomMembership).where(RoomMembership.user_id == user.id)
    )
    return memberships == len(ROOM_NAMES)


def create_rooms(user: User) -> dict[str, int]:
    """The three benchmark rooms, owned by the user; returns their ids by role."""
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
    """INSERT ... SELECT counts[0] messages of rooms[0] evenly interleaved with counts[1] of rooms[1].

    Row `seq` goes to rooms[1] when floor(seq * counts[1] / total) steps up, which spreads exactly
    counts[1] rows evenly. `first` numbers the created_at seconds; returns the next number.
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
    """The part of `total` that chunk number `chunk` of CHUNKS carries (the parts sum to total)."""
    return total * (chunk + 1) // CHUNKS - total * chunk // CHUNKS


def seed(sizes: dict[str, int]) -> None:
    """One user, three rooms and their messages; the large and noise rooms interleave row by row."""
    user = accounts.create_user(BENCH_EMAIL, secrets.token_urlsafe(24), "Bench")
    rooms = create_rooms(user)
    started = time.perf_counter()
    with db.engine.connect() as conn:
        first = 0
        for chunk in range(CHUNKS):
            big = (rooms["large"], rooms["noise"])
            big_counts = (_share(sizes["large"], chunk), _share(sizes["noise"], chunk))
            first = insert_messages(conn, user.id, big, big_counts, first)
            small = (rooms["small"], rooms["noise"])
            first = insert_messages(conn, user.id, small, (_share(sizes["small"], chunk), 0), first)
            conn.commit()
            print(f"  seeded chunk {chunk + 1}/{CHUNKS} ({first:,} messages)", file=sys.stderr)
        conn.exec_driver_sql("ANALYZE TABLE messages").all()
    print(f"  seeding took {time.perf_counter() - started:.1f} s", file=sys.stderr)


def issue_token() -> str:
    """A fresh API token of the bench user, made with create_token (older ones are deleted)."""
    user = accounts.find_user_by_email(BENCH_EMAIL)
    assert user is not None
    password = secrets.token_urlsafe(24)
    user.password_hash = hash_password(password, current_app.config["BCRYPT_ROUNDS"])
    db.session.execute(sa.delete(ApiToken).where(ApiToken.user_id == user.id))
    db.session.commit()
    _row, secret = api_tokens.create_token(BENCH_EMAIL, password, "history-pages benchmark")
    return secret


def load_rooms() -> dict[str, RoomData]:
    """The small and large rooms with their message ids, oldest first."""
    loaded = {}
    for role in ("small", "large"):
        room_id = db.session.scalar(sa.select(Room.id).where(Room.name == ROOM_NAMES[role]))
        ids = db.session.scalars(
            sa.text("SELECT id FROM messages WHERE room_id = :r ORDER BY id"), {"r": room_id}
        )
        loaded[role] = RoomData(label=role, room_id=room_id, ids=list(ids))
    return loaded


def prepare(app: Flask, sizes: dict[str, int], reseed: bool, url: sa.URL) -> tuple[str, dict[str, RoomData]]:
    """Schema and seed in place (reseeding if asked or if the counts differ); a token and the rooms."""
    with app.app_context():
        migrate_schema()
        if reseed or not seed_matches(sizes):
            print("seeding (drop, migrate, insert) ...", file=sys.stderr)
            db.session.remove()
            db.engine.dispose()
            ensure_database(url, drop=True)
            db.engine.dispose()
            migrate_schema()
            seed(sizes)
        else:
            print("reusing the existing seed", file=sys.stderr)
        token = issue_token()
        rooms = load_rooms()
        db.session.remove()
    return token, rooms


# ---------------------------------------------------------------- scenarios


def spread(low: int, high: int, count: int, rng: random.Random) -> list[int]:
    """`count` positions evenly spaced over low..high inclusive, shuffled."""
    if high < low:
        raise BenchError("the room is too small for a full page at this limit")
    positions = [low + round(i * (high - low) / max(count - 1, 1)) for i in range(count)]
    rng.shuffle(positions)
    return positions


def scenario_params(kind: str, ids: list[int], limit: int, count: int, rng: random.Random) -> list[dict]:
    """Query parameters of `count` requests; every cursor leaves a full page and one more row."""
    last = len(ids) - 1
    if kind == "newest":
        return [{}] * count
    if kind == "before_uniform":
        return [{"before": ids[p]} for p in spread(limit + 1, last, count, rng)]
    if kind == "before_oldest":
        return [{"before": ids[min(limit + 1, last)]}] * count
    if kind == "after_uniform":
        return [{"after": ids[p]} for p in spread(0, last - limit - 1, count, rng)]
    raise ValueError(kind)


SCENARIOS = {
    "newest": "newest page (no cursor)",
    "before_uniform": "before=, cursors over the room",
    "before_oldest": "before=, oldest page (deepest)",
    "after_uniform": "after=, cursors over the room",
}


def page_url(room: RoomData, params: dict, limit: int) -> str:
    """The history URL of one page."""
    query = "&".join(f"{key}={value}" for key, value in {**params, "limit": limit}.items())
    return f"/rooms/{room.room_id}/messages?{query}"


def check_page(response: Any, params: dict, limit: int) -> None:
    """Refuse an answer that is not a full, ordered page on the right side of the cursor."""
    if response.status_code != 200:
        raise BenchError(f"{response.status_code} from the endpoint: {response.get_data(as_text=True)[:300]}")
    body = response.get_json()
    ids = [message["id"] for message in body["messages"]]
    if len(ids) != limit or ids != sorted(ids) or not isinstance(body.get("has_more"), bool):
        raise BenchError(
            f"not a full oldest-to-newest page of {limit}: {ids}, has_more={body.get('has_more')}"
        )
    wrong_side = ids[-1] >= params["before"] if "before" in params else ids[0] <= params.get("after", -1)
    if wrong_side:
        raise BenchError(f"page on the wrong side of the cursor {params}: {ids[0]}..{ids[-1]}")


@contextmanager
def statement_log(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """Record every SQL statement the engine sends, as (statement, parameters)."""
    log: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        log.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def run_http(
    client: FlaskClient, headers: dict, rooms: dict[str, RoomData], args: argparse.Namespace, log: list
) -> dict[str, dict[str, Cell]]:
    """Time every scenario on both rooms, alternating rooms request by request to cancel drift."""
    results: dict[str, dict[str, Cell]] = {}
    for kind in SCENARIOS:
        plans = {}
        for role, room in rooms.items():
            warm = scenario_params(kind, room.ids, args.limit, args.warmup, random.Random(args.seed + 1))
            for params in warm:
                response = client.get(page_url(room, params, args.limit), headers=headers)
                check_page(response, params, args.limit)
            plans[role] = scenario_params(kind, room.ids, args.limit, args.requests, random.Random(args.seed))
        results[kind] = {role: Cell() for role in rooms}
        for i in range(args.requests):
            for role, room in rooms.items():
                params = plans[role][i]
                log.clear()
                started = time.perf_counter()
                response = client.get(page_url(room, params, args.limit), headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                results[kind][role].queries.append(len(log))
                check_page(response, params, args.limit)
                results[kind][role].samples.append(elapsed)
    return results


def run_sql(app: Flask, rooms: dict[str, RoomData], args: argparse.Namespace) -> dict[str, Cell]:
    """Time the bare keyset query (limit + 1 rows) at uniform cursors: the database's share."""
    cells = {role: Cell() for role in rooms}
    with app.app_context(), db.engine.connect() as conn:
        query, rng = sa.text(KEYSET_SQL), random.Random(args.seed)
        plans = {
            role: scenario_params("before_uniform", room.ids, args.limit, args.requests, rng)
            for role, room in rooms.items()
        }
        for i in range(-args.warmup, args.requests):
            for role, room in rooms.items():
                values = {"room": room.room_id, "cursor": plans[role][i % args.requests]["before"]}
                started = time.perf_counter()
                rows = conn.execute(query, {**values, "n": args.limit + 1}).all()
                elapsed = (time.perf_counter() - started) * 1000
                if len(rows) != args.limit + 1:
                    raise BenchError(f"the keyset query returned {len(rows)} rows, not {args.limit + 1}")
                if i >= 0:
                    cells[role].samples.append(elapsed)
    return cells


def endpoint_exists(client: FlaskClient, headers: dict, room: RoomData, limit: int) -> bool:
    """Whether GET /rooms/<id>/messages is routed at all (an unrouted path is a plain 404)."""
    response = client.get(page_url(room, {}, limit), headers=headers)
    return not (response.status_code in (404, 405) and "messages" not in response.get_data(as_text=True))


# ---------------------------------------------------------------- EXPLAIN


def capture_deep_page_sql(
    client: FlaskClient, headers: dict, room: RoomData, limit: int, log: list
) -> tuple[str, Any] | None:
    """The SQL statement (and parameters) the endpoint runs for the oldest page of the room."""
    params = scenario_params("before_oldest", room.ids, limit, 1, random.Random(0))[0]
    log.clear()
    client.get(page_url(room, params, limit), headers=headers)
    pages = [(s, p) for s, p in log if "FROM messages" in s and "ORDER BY" in s and "LIMIT" in s]
    return pages[0] if pages else None


def explain(app: Flask, statement: str, parameters: Any, verb: str = "EXPLAIN") -> list[dict]:
    """The rows of EXPLAIN (or MariaDB's ANALYZE, which also runs it) for a DBAPI-level statement."""
    with app.app_context(), db.engine.connect() as conn:
        result = conn.exec_driver_sql(f"{verb} {statement}", parameters)
        return [dict(row) for row in result.mappings()]


def keyset_statement(room: RoomData, limit: int) -> tuple[str, dict]:
    """The equivalent keyset SELECT of the oldest page, in pymysql's parameter style."""
    sql = re.sub(r":(\w+)", r"%(\1)s", KEYSET_SQL)
    return sql, {"room": room.room_id, "cursor": room.ids[min(limit + 1, len(room.ids) - 1)], "n": limit + 1}


def format_rows(rows: list[dict], columns: tuple[str, ...]) -> str:
    """A plain text table of the chosen columns."""
    cells = [[str(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


# ---------------------------------------------------------------- report


def ratio(large: float, small: float) -> float:
    """large / small, guarding a zero."""
    return large / small if small else float("inf")


def report_rows(http: dict[str, dict[str, Cell]], sql: dict[str, Cell]) -> list[dict]:
    """One summary row per scenario: both rooms' numbers and the ratios."""
    rows = []
    named = [(SCENARIOS[kind], kind, cells, True) for kind, cells in http.items()]
    named.append(("bare keyset SQL, before=", "sql_before_uniform", sql, False))
    for title, kind, cells, is_http in named:
        small, large = cells["small"].summary(), cells["large"].summary()
        rows.append(
            {
                "scenario": kind,
                "title": title,
                "http": is_http,
                "small": small,
                "large": large,
                "ratio_median": ratio(large["median_ms"], small["median_ms"]),
                "ratio_p90": ratio(large["p90_ms"], small["p90_ms"]),
            }
        )
    return rows


def print_table(rows: list[dict], sizes: dict[str, int]) -> None:
    """The result table on stdout."""
    small, large = f"{sizes['small']:,} msgs", f"{sizes['large']:,} msgs"
    head = f"{'scenario':<32} | {small:>15} | {large:>15} | {'ratio':>13} | {'SQL/req':>7} | goal"
    pair = f"{'median':>7} {'p90':>7}"
    sub = f"{'':<32} | {pair} | {pair} | {'median':>6} {'p90':>6} | {'':>7} |"
    print(head, sub, "-" * len(head), sep="\n")
    for row in rows:
        s, big = row["small"], row["large"]
        goal = ("ok" if row["ratio_median"] <= GOAL_RATIO else "MISSED") if row["http"] else "-"
        queries = f"{big['queries_per_request']}" if row["http"] else "-"
        print(
            f"{row['title']:<32} | {s['median_ms']:7.2f} {s['p90_ms']:7.2f} | "
            f"{big['median_ms']:7.2f} {big['p90_ms']:7.2f} | "
            f"{row['ratio_median']:5.2f}x {row['ratio_p90']:5.2f}x | {queries:>7} | {goal}"
        )
    print(f"times in ms; goal: median at {sizes['large']:,} <= {GOAL_RATIO}x that at {sizes['small']:,}")


def print_explain(app: Flask, statement: str, parameters: Any, source: str) -> list[dict]:
    """EXPLAIN and ANALYZE of the deep-page statement, printed; returns the EXPLAIN rows."""
    rows = explain(app, statement, parameters)
    analyzed = explain(app, statement, parameters, "ANALYZE")
    print(f"\nEXPLAIN of the oldest page of the large room ({source}):")
    print(f"  {' '.join(statement.split())}\n  parameters: {parameters}")
    print(format_rows(rows, EXPLAIN_COLUMNS))
    print("ANALYZE (actual rows read):")
    print(format_rows(analyzed, ANALYZE_COLUMNS))
    messages_row = next((row for row in rows if row.get("table") == "messages"), {})
    verdict = "uses" if messages_row.get("key") == INDEX_NAME else "does NOT use"
    print(f"-> the messages lookup {verdict} {INDEX_NAME} (key={messages_row.get('key')})")
    return rows


def write_json(path: Path, payload: dict) -> None:
    """Write the results as JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nresults written to {path}", file=sys.stderr)


# ---------------------------------------------------------------- main


def server_version(app: Flask) -> str:
    """The database server's version string."""
    with app.app_context():
        return db.session.scalar(sa.text("SELECT VERSION()"))


def measure(app: Flask, token: str, rooms: dict[str, RoomData], args: argparse.Namespace) -> dict:
    """Every measurement: HTTP scenarios (when routed), the bare SQL, and the EXPLAIN."""
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    with app.app_context():
        engine = db.engine
    with statement_log(engine) as log:
        routed = endpoint_exists(client, headers, rooms["large"], args.limit)
        http = run_http(client, headers, rooms, args, log) if routed else {}
        captured = capture_deep_page_sql(client, headers, rooms["large"], args.limit, log) if routed else None
    sql = run_sql(app, rooms, args)
    return {"routed": routed, "http": http, "sql": sql, "captured": captured}


def main(argv: list[str] | None = None) -> int:
    """Seed if needed, measure, print the table and the EXPLAIN, write the JSON."""
    args = parse_args(argv)
    if not 1 <= args.limit <= 100 or args.requests < 2:
        raise BenchError("--limit must be 1..100 and --requests at least 2")
    url = sa.make_url(args.database_url)
    ensure_database(url)
    app = make_app(args.database_url, args.env)
    sizes = {"small": args.small, "large": args.large, "noise": args.noise}
    token, rooms = prepare(app, sizes, args.reseed, url)
    result = measure(app, token, rooms, args)
    version = server_version(app)
    print(
        f"\nHistory page latency: {version}, PARLEY_ENV={args.env}, limit={args.limit}, {args.requests} timed"
        f" requests per cell after {args.warmup} warm-up; noise room {args.noise:,} msgs"
    )
    if not result["routed"]:
        print("!! GET /rooms/<id>/messages is not routed yet (404): only the bare SQL is measured")
    rows = report_rows(result["http"], result["sql"])
    print_table(rows, sizes)
    statement, parameters = result["captured"] or keyset_statement(rooms["large"], args.limit)
    source = "SQL the endpoint ran" if result["captured"] else "equivalent keyset SELECT"
    explain_rows = print_explain(app, statement, parameters, source)
    if not args.no_json:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        meta = {
            **vars(args),
            "json": None,
            "server": version,
            "url": url.render_as_string(hide_password=True),
        }
        payload = {"meta": meta, "routed": result["routed"], "rows": rows, "explain": explain_rows}
        write_json(args.json or RESULTS_DIR / f"history_pages-{stamp}.json", {**payload, "sql": statement})
    missed = any(row["http"] and row["ratio_median"] > GOAL_RATIO for row in rows)
    return 1 if not result["routed"] or (args.check and missed) else 0


def _entry(run: Callable[[], int]) -> None:
    try:
        sys.exit(run())
    except BenchError as error:
        sys.exit(f"history_pages: {error}")


if __name__ == "__main__":
    _entry(main)
