"""Benchmark: latency of the room list, GET /rooms, for a member of a 1,000-message vs 1,000,000-message room.

Run from the project root, against MariaDB (see bench/README.md):

    .venv/bin/python -m bench.room_list [--database-url URL] [--reseed]

It reuses the seed of bench.history_pages (the bench user wrote every message) and adds two
readers who wrote none, so every message after their read marker counts as unread: the small
reader is a member of the 1,000-message room only, the large reader of it and of the
1,000,000-message room. Requests go through the Flask test client with a Bearer token and
alternate between the readers; each answer's unread_count is checked against the markers.
MariaDB ANALYZE shows the rows the unread-count statement reads for the large reader.
"""

import argparse
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import RoomMembership
from app.services import accounts
from bench.seed_db import (
    GOAL_RATIO,
    INDEX_NAME,
    MIN_SAMPLES,
    ROOM_NAMES,
    BenchError,
    Cell,
    RoomData,
    add_common_options,
    ensure_database,
    ensure_seed,
    format_rows,
    issue_token,
    make_app,
    save_results,
    server_version,
    statement_log,
    warm_and_time,
)

TOKEN_NAME = "room-list benchmark"
# Reader role -> (email, name, the rooms it is a member of, by room role).
READERS = {
    "small": ("reader-small@example.com", "Small reader", ("small",)),
    "large": ("reader-large@example.com", "Large reader", ("small", "large")),
}
# Scenario -> (title, unread messages after the marker in each member room).
SCENARIOS = {"caught_up": ("caught up (20 unread)", 20), "unread_1000": ("1,000 unread", 1_000)}
GOAL_SCENARIO = "caught_up"
EXPLAIN_COLUMNS = ("scenario", "table", "type", "key", "key_len", "rows", "r_rows", "r_filtered", "Extra")


@dataclass
class Reader:
    """A benchmark reader: its user id, API token and member rooms (by room role)."""

    user_id: int
    token: str
    rooms: tuple[str, ...]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser, "room_list")
    args = parser.parse_args(argv)
    if args.requests < MIN_SAMPLES:
        parser.error(f"--requests must be at least {MIN_SAMPLES}")
    return args


# ---------------------------------------------------------------- readers and markers


def ensure_reader(email: str, name: str, member_of: list[int]) -> int:
    """The reader's user id; created when missing, a member of exactly these rooms afterwards."""
    user = accounts.find_user_by_email(email)
    if user is None:
        user = accounts.create_user(email, secrets.token_urlsafe(24), name)
    db.session.execute(
        sa.delete(RoomMembership).where(
            RoomMembership.user_id == user.id, RoomMembership.room_id.not_in(member_of)
        )
    )
    for room_id in member_of:
        if db.session.get(RoomMembership, (room_id, user.id)) is None:
            db.session.add(RoomMembership(room_id=room_id, user_id=user.id, role="member"))
    db.session.commit()
    return user.id


def prepare_readers(app: Flask, rooms: dict[str, RoomData]) -> dict[str, Reader]:
    """Both readers with their memberships and a fresh API token each."""
    readers = {}
    with app.app_context():
        for role, (email, name, member_of) in READERS.items():
            user_id = ensure_reader(email, name, [rooms[room].room_id for room in member_of])
            readers[role] = Reader(user_id=user_id, token=issue_token(email, TOKEN_NAME), rooms=member_of)
        db.session.remove()
    return readers


def marker_for(room: RoomData, unread: int) -> int | None:
    """The read marker that leaves `unread` messages after it (None: the whole room is unread)."""
    return room.ids[-unread - 1] if len(room.ids) > unread else None


def set_markers(
    app: Flask, readers: dict[str, Reader], rooms: dict[str, RoomData], unread: int
) -> dict[str, dict[str, int]]:
    """Put every reader's markers `unread` messages before the newest; the expected counts by room name."""
    expected: dict[str, dict[str, int]] = {}
    with app.app_context():
        for role, reader in readers.items():
            expected[role] = {}
            for room_role in reader.rooms:
                room = rooms[room_role]
                membership = db.session.get(RoomMembership, (room.room_id, reader.user_id))
                if membership is None:
                    raise BenchError(f"the {role} reader lost its membership of {ROOM_NAMES[room_role]}")
                membership.last_read_message_id = marker_for(room, unread)
                expected[role][ROOM_NAMES[room_role]] = min(unread, len(room.ids))
        db.session.commit()
        db.session.remove()
    return expected


# ---------------------------------------------------------------- requests


class RoomListBench:
    """Times GET /rooms through the test client, counting SQL and checking every unread_count."""

    def __init__(self, app: Flask, readers: dict[str, Reader], log: list[tuple[str, Any]]) -> None:
        self.client: FlaskClient = app.test_client()
        self.headers = {role: {"Authorization": f"Bearer {r.token}"} for role, r in readers.items()}
        self.log = log
        self.expected: dict[str, dict[str, int]] = {}
        self.seen: dict[str, dict[str, set[int]]] = {}

    def expect(self, expected: dict[str, dict[str, int]]) -> None:
        """The unread counts the next answers must carry, by reader and room name."""
        self.expected = expected
        self.seen = {role: {name: set() for name in rooms} for role, rooms in expected.items()}

    def call(self, role: str, _params: dict) -> tuple[float, int]:
        """One checked request of the reader: its latency in ms and the SQL statements it ran."""
        self.log.clear()
        started = time.perf_counter()
        response = self.client.get("/rooms", headers=self.headers[role])
        elapsed = (time.perf_counter() - started) * 1000
        queries = len(self.log)
        self.check(role, response)
        return elapsed, queries

    def check(self, role: str, response: Any) -> None:
        """Refuse an answer whose bench rooms do not carry exactly the expected unread counts."""
        if response.status_code != 200:
            raise BenchError(
                f"{response.status_code} from GET /rooms: {response.get_data(as_text=True)[:300]}"
            )
        listed = {room["name"]: room for room in response.get_json()["rooms"]}
        for name in ROOM_NAMES.values():
            room, wanted = listed.get(name), self.expected[role].get(name)
            if room is None:
                raise BenchError(f"the {role} reader's room list lacks {name}")
            if room["is_member"] != (wanted is not None) or room["unread_count"] != (wanted or 0):
                raise BenchError(
                    f"{name} for the {role} reader: is_member {room['is_member']}, "
                    f"unread_count {room['unread_count']}; expected {wanted or 0}"
                )
            if wanted is not None:
                self.seen[role][name].add(room["unread_count"])

    def statements(self, role: str) -> list[tuple[str, Any]]:
        """The SQL statements one request of the reader runs."""
        self.log.clear()
        self.client.get("/rooms", headers=self.headers[role])
        return list(self.log)


# ---------------------------------------------------------------- EXPLAIN


def unread_statement(statements: list[tuple[str, Any]]) -> tuple[str, Any]:
    """The unread-count SELECT among a request's statements."""
    found = [
        (s, p) for s, p in statements if "count(" in s.lower() and "FROM messages" in s and "GROUP BY" in s
    ]
    if not found:
        raise BenchError("GET /rooms ran no COUNT ... FROM messages ... GROUP BY statement")
    return found[0]


def explain(app: Flask, statement: str, values: Any, scenario: str) -> list[dict]:
    """MariaDB ANALYZE (EXPLAIN plus the rows actually read) of the statement."""
    with app.app_context(), db.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"ANALYZE {statement}", values).mappings().all()
    return [{"scenario": scenario, **row} for row in plan]


def rows_after(app: Flask, marker: int) -> int:
    """Messages of every room with an id above the marker: what a PRIMARY range from it reads."""
    with app.app_context():
        count = db.session.scalar(sa.text("SELECT COUNT(*) FROM messages WHERE id > :m"), {"m": marker})
        db.session.remove()
    return int(count or 0)


def plan_verdicts(rows: list[dict], expected: dict[str, dict[str, int]]) -> list[str]:
    """A line per plan row on messages: does it read only what lies after the markers?

    expected[scenario] holds the unread total and the rows after the oldest marker in any room.
    Through ix_messages_room_id_id a good plan reads about the unread messages; through PRIMARY
    (id > the oldest marker, every room) about the messages after the oldest marker.
    """
    lines = []
    for row in rows:
        if "messages" not in str(row.get("table")):
            continue
        unread, after_oldest = expected[row["scenario"]]["unread"], expected[row["scenario"]]["after_oldest"]
        bound = {INDEX_NAME: unread, "PRIMARY": after_oldest}.get(str(row.get("key")))
        read = float(row.get("r_rows") or 0)
        ok = row.get("type") == "range" and bound is not None and read <= 2 * bound + 10
        lines.append(
            f"{'ok' if ok else '!!'} {row['scenario']}: {row.get('type')} on {row.get('key')}, "
            f"{read:,.0f} rows read; {unread:,} unread, {after_oldest:,} messages of all rooms after "
            "the oldest marker"
        )
    return lines


# ---------------------------------------------------------------- report


def report_rows(cells_by_scenario: dict[str, dict[str, Cell]]) -> list[dict]:
    """One summary row per scenario: both readers and the large/small ratios."""
    rows = []
    for kind, cells in cells_by_scenario.items():
        small, large = cells["small"].summary(), cells["large"].summary()
        ratios = {f"ratio_{k}": large[f"{k}_ms"] / small[f"{k}_ms"] for k in ("median", "p90")}
        rows.append({"scenario": kind, "title": SCENARIOS[kind][0], "small": small, "large": large, **ratios})
    return rows


def span(low_high: list[int]) -> str:
    """'5' or '5-7'."""
    low, high = low_high
    return f"{low}" if low == high else f"{low}-{high}"


def print_table(rows: list[dict]) -> None:
    """The result table on stdout."""
    pair = f"{'median':>8} {'p90':>8}"
    print(f"{'':<24}| {'small reader':>17} | {'large reader':>17} | {'large / small':>15} |")
    print(f"{'scenario':<24}| {pair} | {pair} | {'median':>7} {'p90':>7} | {'n':>4} | SQL/req | goal")
    print("-" * 104)
    for row in rows:
        small, large = row["small"], row["large"]
        queries = f"{span(small['queries'])}/{span(large['queries'])}"
        goal = "-"
        if row["scenario"] == GOAL_SCENARIO:
            goal = "ok" if row["ratio_median"] <= GOAL_RATIO else "MISSED"
        print(
            f"{row['title']:<24}| {small['median_ms']:8.2f} {small['p90_ms']:8.2f} | "
            f"{large['median_ms']:8.2f} {large['p90_ms']:8.2f} | "
            f"{row['ratio_median']:6.2f}x {row['ratio_p90']:6.2f}x | {large['n']:>4} | {queries:>7} | {goal}"
        )
    print(
        "times in ms; n = timed requests per reader; SQL/req = statements a request ran (small/large); "
        f"goal: caught up, the large reader's median is at most {GOAL_RATIO}x the small reader's"
    )


def print_unread(seen: dict[str, dict[str, dict[str, list[int]]]]) -> None:
    """The unread_count values the answers carried, per scenario, reader and member room."""
    print("\nunread_count in the answers (every answer checked; non-member rooms carry 0):")
    for kind, by_reader in seen.items():
        parts = []
        for role, by_room in by_reader.items():
            counts = ", ".join(
                f"{name} {'/'.join(f'{v:,}' for v in values)}" for name, values in by_room.items()
            )
            parts.append(f"{role} reader: {counts}")
        print(f"  {SCENARIOS[kind][0]:<24}{'   '.join(parts)}")


def print_explain(statement: str, values: Any, rows: list[dict], verdicts: list[str]) -> None:
    """The plan of the unread-count statement of the large reader, per scenario."""
    print(f"\nEXPLAIN (MariaDB ANALYZE: r_rows = rows actually read) of the large reader's\n  {statement}")
    print(f"  parameters (caught up): {values}")
    print(format_rows(rows, EXPLAIN_COLUMNS))
    print("\n".join(verdicts))


# ---------------------------------------------------------------- main


def measure(
    app: Flask, readers: dict[str, Reader], rooms: dict[str, RoomData], args: argparse.Namespace
) -> dict:
    """Each scenario: markers set, both readers timed in turn, the unread statement analysed."""
    with app.app_context():
        engine = db.engine
    cells: dict[str, dict[str, Cell]] = {}
    seen: dict[str, dict[str, dict[str, list[int]]]] = {}
    plans: list[dict] = []
    shown: tuple[str, Any] | None = None
    reference: dict[str, dict[str, int]] = {}
    with statement_log(engine) as log:
        bench = RoomListBench(app, readers, log)
        for kind, (_title, unread) in SCENARIOS.items():
            print(f"timing {kind} ...", file=sys.stderr)
            expected = set_markers(app, readers, rooms, unread)
            bench.expect(expected)
            warmup = {role: [{}] * args.warmup for role in readers}
            timed = {role: [{}] * args.requests for role in readers}
            cells[kind] = warm_and_time(bench.call, warmup, timed, args.budget)
            seen[kind] = {
                role: {name: sorted(values) for name, values in by_room.items()}
                for role, by_room in bench.seen.items()
            }
            statement, values = unread_statement(bench.statements("large"))
            shown = shown or (" ".join(statement.split()), values)
            oldest = min(marker_for(rooms[room], unread) or 0 for room in readers["large"].rooms)
            reference[kind] = {
                "unread": sum(expected["large"].values()),
                "after_oldest": rows_after(app, oldest),
            }
            plans += explain(app, statement, values, kind)
    assert shown is not None
    return {
        "rows": report_rows(cells),
        "unread_seen": seen,
        "statement": shown[0],
        "parameters": shown[1],
        "plans": plans,
        "verdicts": plan_verdicts(plans, reference),
    }


def main(argv: list[str] | None = None) -> int:
    """Seed if needed, make the readers, measure, print the table and the plans, write the JSON."""
    args = parse_args(argv)
    url = sa.make_url(args.database_url)
    sizes = {"small": args.small, "large": args.large, "noise": args.noise}
    ensure_database(url)
    app = make_app(args.database_url, args.env)
    rooms = ensure_seed(app, url, sizes, args.reseed)
    readers = prepare_readers(app, rooms)
    result = measure(app, readers, rooms, args)
    server = server_version(app)
    print(
        f"\nGET /rooms on {server}, PARLEY_ENV={args.env}, up to {args.requests} timed requests per cell "
        f"(after {args.warmup} warm-up; {args.budget:g} s budget a scenario)"
    )
    print(
        f"small reader: member of the {args.small:,}-message room; large reader: of it and of the "
        f"{args.large:,}-message room (noise room {args.noise:,}, not a member)\n"
    )
    print_table(result["rows"])
    print_unread(result["unread_seen"])
    print_explain(result["statement"], result["parameters"], result["plans"], result["verdicts"])
    save_results(args, server, "room_list", result)
    goal = next(row for row in result["rows"] if row["scenario"] == GOAL_SCENARIO)
    return 1 if args.check and goal["ratio_median"] > GOAL_RATIO else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"room_list: {error}")
