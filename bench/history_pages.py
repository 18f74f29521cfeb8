"""Benchmark: latency of one history page, GET /rooms/<id>/messages, at 1,000 and 1,000,000 messages.

Run from the project root, against MariaDB (see bench/README.md):

    .venv/bin/python -m bench.history_pages [--database-url URL] [--reseed]

Requests go through the Flask test client with a Bearer token, so a timing covers routing,
authentication, the query and serialization. The two rooms are timed alternately, request by
request, so drift on the machine hits both alike. The bare keyset SELECT is timed too (as the
database sees it, and with FORCE INDEX), and EXPLAIN shows the plan at several depths.
"""

import argparse
import random
import sys
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException

from app.extensions import db
from bench.seed_db import (
    GOAL_RATIO,
    INDEX_NAME,
    MIN_SAMPLES,
    BenchError,
    Call,
    Cell,
    RoomData,
    add_common_options,
    ensure_database,
    format_rows,
    make_app,
    prepare,
    save_results,
    server_version,
    statement_log,
    warm_and_time,
)

KEYSET_SQL = (
    "SELECT id, user_id, content, created_at FROM messages {hint}"
    "WHERE room_id = %(room)s AND id < %(cursor)s ORDER BY id DESC LIMIT %(n)s"
)
SCENARIOS = {
    "newest": "newest page (no cursor)",
    "before_uniform": "before=, cursors over the room",
    "before_deep": "before=, 10% from the oldest",
    "before_oldest": "before=, the oldest page",
    "after_uniform": "after=, cursors over the room",
}
SQL_SCENARIOS = {
    "sql_plain": ("bare keyset SQL, before=", ""),
    "sql_forced": ("same, FORCE INDEX", f"FORCE INDEX ({INDEX_NAME}) "),
}
EXPLAIN_COLUMNS = ("depth", "table", "type", "key", "key_len", "ref", "rows", "r_rows", "Extra")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser, "history_pages")
    parser.add_argument("--limit", type=int, default=50, help="page size, 1..100")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the cursor order")
    args = parser.parse_args(argv)
    if not 1 <= args.limit <= 100 or args.requests < MIN_SAMPLES:
        parser.error(f"--limit must be 1..100 and --requests at least {MIN_SAMPLES}")
    return args


# ---------------------------------------------------------------- cursors


def spread(low: int, high: int, count: int, rng: random.Random) -> list[int]:
    """`count` positions evenly spaced over low..high inclusive, shuffled."""
    if high < low:
        raise BenchError("a room is too small for a full page at this --limit")
    positions = [low + round(i * (high - low) / max(count - 1, 1)) for i in range(count)]
    rng.shuffle(positions)
    return positions


def scenario_params(kind: str, ids: list[int], limit: int, count: int, rng: random.Random) -> list[dict]:
    """Query parameters of `count` requests; each cursor leaves a full page and one message more."""
    last = len(ids) - 1
    fixed = {"before_deep": max(limit + 1, len(ids) // 10), "before_oldest": limit + 1}
    if kind == "newest":
        return [{}] * count
    if kind in fixed:
        return [{"before": ids[min(fixed[kind], last)]}] * count
    if kind in ("before_uniform", *SQL_SCENARIOS):
        return [{"before": ids[p]} for p in spread(limit + 1, last, count, rng)]
    if kind == "after_uniform":
        return [{"after": ids[p]} for p in spread(0, last - limit - 1, count, rng)]
    raise ValueError(kind)


# ---------------------------------------------------------------- timing


def plans_for(
    kind: str, rooms: dict[str, RoomData], args: argparse.Namespace, count: int, seed: int
) -> dict[str, list[dict]]:
    """The query parameters of `count` requests of a scenario, for each room."""
    return {
        role: scenario_params(kind, room.ids, args.limit, count, random.Random(seed))
        for role, room in rooms.items()
    }


def warm_then_time(
    call: Call, kind: str, rooms: dict[str, RoomData], args: argparse.Namespace
) -> dict[str, Cell]:
    """Untimed warm-up requests at other cursors, then the timed ones."""
    warmup = plans_for(kind, rooms, args, args.warmup, args.seed + 1)
    return warm_and_time(call, warmup, plans_for(kind, rooms, args, args.requests, args.seed), args.budget)


def page_url(room: RoomData, params: dict, limit: int) -> str:
    """The history URL of one page."""
    query = "&".join(f"{key}={value}" for key, value in {**params, "limit": limit}.items())
    return f"/rooms/{room.room_id}/messages?{query}"


def check_page(response: Any, params: dict, limit: int) -> None:
    """Refuse an answer that is not a full, ordered page on the right side of its cursor."""
    if response.status_code != 200:
        raise BenchError(f"{response.status_code} from {params}: {response.get_data(as_text=True)[:300]}")
    body = response.get_json()
    ids = [message["id"] for message in body["messages"]]
    if len(ids) != limit or ids != sorted(ids) or not isinstance(body.get("has_more"), bool):
        raise BenchError(
            f"not a full oldest-first page of {limit} for {params}: {ids[:5]}..., {body.get('has_more')}"
        )
    if ids[-1] >= params.get("before", ids[-1] + 1) or ids[0] <= params.get("after", ids[0] - 1):
        raise BenchError(f"page {ids[0]}..{ids[-1]} is on the wrong side of the cursor {params}")


class HttpBench:
    """Times history pages through the test client, counting the SQL each request runs."""

    def __init__(self, app: Flask, token: str, rooms: dict[str, RoomData], args: argparse.Namespace) -> None:
        self.client: FlaskClient = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rooms, self.args = rooms, args
        self.log: list[tuple[str, Any]] = []

    def get(self, room: RoomData, params: dict) -> tuple[float, int]:
        """One checked request: its latency in ms and the number of SQL statements it ran."""
        self.log.clear()
        started = time.perf_counter()
        response = self.client.get(page_url(room, params, self.args.limit), headers=self.headers)
        elapsed = (time.perf_counter() - started) * 1000
        queries = len(self.log)
        check_page(response, params, self.args.limit)
        return elapsed, queries

    def scenario(self, kind: str) -> dict[str, Cell]:
        """Warm up, then time one scenario on both rooms."""
        return warm_then_time(
            lambda role, params: self.get(self.rooms[role], params), kind, self.rooms, self.args
        )

    def statements_for(self, params: dict) -> list[tuple[str, Any]]:
        """The SQL statements one request for the large room runs."""
        self.log.clear()
        self.client.get(page_url(self.rooms["large"], params, self.args.limit), headers=self.headers)
        return list(self.log)


def time_sql(app: Flask, rooms: dict[str, RoomData], args: argparse.Namespace, hint: str) -> dict[str, Cell]:
    """Time the bare keyset SELECT (limit + 1 rows) at cursors over the room: the database's share."""
    statement = KEYSET_SQL.format(hint=hint)
    with app.app_context(), db.engine.connect() as conn:

        def run(role: str, params: dict) -> tuple[float, int]:
            values = {"room": rooms[role].room_id, "cursor": params["before"], "n": args.limit + 1}
            started = time.perf_counter()
            rows = conn.exec_driver_sql(statement, values).all()
            elapsed = (time.perf_counter() - started) * 1000
            if len(rows) != args.limit + 1:
                raise BenchError(f"the keyset SELECT returned {len(rows)} rows for {values}")
            return elapsed, 1

        return warm_then_time(run, "sql_plain", rooms, args)


def endpoint_routed(app: Flask, room: RoomData) -> bool:
    """Whether GET /rooms/<id>/messages has a route yet."""
    try:
        app.url_map.bind("localhost").match(f"/rooms/{room.room_id}/messages", method="GET")
    except HTTPException:
        return False
    return True


# ---------------------------------------------------------------- EXPLAIN


def page_statement(statements: list[tuple[str, Any]]) -> tuple[str, Any] | None:
    """The history SELECT among a request's statements."""
    pages = [(s, p) for s, p in statements if "FROM messages" in s and "ORDER BY" in s and "LIMIT" in s]
    return pages[0] if pages else None


def explain_depths(app: Flask, http: HttpBench | None, room: RoomData, limit: int) -> tuple[str, list[dict]]:
    """MariaDB ANALYZE (EXPLAIN plus the rows actually read) of a before= page at several depths."""
    depths = {"oldest page": limit + 1, "10% from oldest": len(room.ids) // 10, "middle": len(room.ids) // 2}
    depths["newest - 1000"] = len(room.ids) - 1000
    rows, shown = [], ""
    for depth, position in depths.items():
        params = {"before": room.ids[max(limit + 1, position)]}
        captured = page_statement(http.statements_for(params)) if http else None
        statement, values = captured or (
            KEYSET_SQL.format(hint=""),
            {**params, "room": room.room_id, "n": limit + 1},
        )
        shown = shown or " ".join(statement.split())
        with app.app_context(), db.engine.connect() as conn:
            plan = conn.exec_driver_sql(f"ANALYZE {statement}", values).mappings().all()
        rows += [{"depth": f"{depth} ({position:,})", **row} for row in plan]
    return shown, rows


# ---------------------------------------------------------------- report


def report_rows(cells_by_scenario: dict[str, dict[str, Cell]]) -> list[dict]:
    """One summary row per scenario: both rooms and the large/small ratios."""
    rows = []
    for kind, cells in cells_by_scenario.items():
        small, large = cells["small"].summary(), cells["large"].summary()
        title = SCENARIOS.get(kind) or SQL_SCENARIOS[kind][0]
        ratios = {f"ratio_{k}": large[f"{k}_ms"] / small[f"{k}_ms"] for k in ("median", "p90")}
        rows.append(
            {
                "scenario": kind,
                "title": title,
                "http": kind in SCENARIOS,
                "small": small,
                "large": large,
                **ratios,
            }
        )
    return rows


def print_table(rows: list[dict], sizes: dict[str, int]) -> None:
    """The result table on stdout."""
    pair = f"{'median':>8} {'p90':>8}"
    print(f"{'':<31}| {sizes['small']:>13,} msgs | {sizes['large']:>13,} msgs | {'large / small':>15} |")
    print(f"{'scenario':<31}| {pair} | {pair} | {'median':>7} {'p90':>7} | {'n':>4} | SQL/req | goal")
    print("-" * 110)
    for row in rows:
        small, large = row["small"], row["large"]
        low, high = large["queries"]
        queries = (f"{low}" if low == high else f"{low}-{high}") if row["http"] else "-"
        goal = ("ok" if row["ratio_median"] <= GOAL_RATIO else "MISSED") if row["http"] else "-"
        print(
            f"{row['title']:<31}| {small['median_ms']:8.2f} {small['p90_ms']:8.2f} | "
            f"{large['median_ms']:8.2f} {large['p90_ms']:8.2f} | "
            f"{row['ratio_median']:6.2f}x {row['ratio_p90']:6.2f}x | {large['n']:>4} | {queries:>7} | {goal}"
        )
    print(
        f"times in ms; n = timed requests per room; goal: the median at {sizes['large']:,} "
        f"is at most {GOAL_RATIO}x the one at {sizes['small']:,}"
    )


def print_explain(statement: str, rows: list[dict]) -> None:
    """The plan of the history SELECT at several depths of the large room."""
    print(f"\nEXPLAIN (MariaDB ANALYZE: r_rows = rows actually read) of\n  {statement}")
    print(format_rows(rows, EXPLAIN_COLUMNS))
    for row in rows:
        if "messages" in str(row.get("table")) and row.get("key") != INDEX_NAME:
            print(f"!! {row['depth']}: {row['table']} read through {row.get('key')}, not {INDEX_NAME}")
        elif row.get("key") == INDEX_NAME and row.get("ref") == "const":
            print(
                f"!! {row['depth']}: {INDEX_NAME} used on room_id only (ref const), "
                "not as a range on (room_id, id)"
            )


# ---------------------------------------------------------------- main


def measure(app: Flask, token: str, rooms: dict[str, RoomData], args: argparse.Namespace) -> dict:
    """Every measurement: the HTTP scenarios (once routed), the bare SQL, the plans."""
    http = HttpBench(app, token, rooms, args) if endpoint_routed(app, rooms["large"]) else None
    cells: dict[str, dict[str, Cell]] = {}
    with app.app_context():
        engine = db.engine
    with statement_log(engine) as log:
        if http:
            http.log = log
            for kind in SCENARIOS:
                print(f"timing {kind} ...", file=sys.stderr)
                cells[kind] = http.scenario(kind)
        statement, plans = explain_depths(app, http, rooms["large"], args.limit)
    for kind, (_title, hint) in SQL_SCENARIOS.items():
        print(f"timing {kind} ...", file=sys.stderr)
        cells[kind] = time_sql(app, rooms, args, hint)
    return {"routed": http is not None, "rows": report_rows(cells), "statement": statement, "plans": plans}


def main(argv: list[str] | None = None) -> int:
    """Seed if needed, measure, print the table and the plans, write the JSON."""
    args = parse_args(argv)
    url = sa.make_url(args.database_url)
    sizes = {"small": args.small, "large": args.large, "noise": args.noise}
    ensure_database(url)
    app = make_app(args.database_url, args.env)
    token, rooms = prepare(app, url, sizes, args.reseed)
    result = measure(app, token, rooms, args)
    server = server_version(app)
    print(
        f"\nHistory pages on {server}, PARLEY_ENV={args.env}, limit={args.limit}, "
        f"up to {args.requests} timed requests per cell"
    )
    print(
        f"(after {args.warmup} warm-up; {args.budget:g} s budget a scenario); "
        f"noise room {args.noise:,} messages\n"
    )
    if not result["routed"]:
        print("!! GET /rooms/<id>/messages has no route yet: only the bare SQL is timed\n")
    print_table(result["rows"], sizes)
    print_explain(result["statement"], result["plans"])
    save_results(args, server, "history_pages", result)
    missed = any(row["http"] and row["ratio_median"] > GOAL_RATIO for row in result["rows"])
    return 1 if not result["routed"] or (args.check and missed) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"history_pages: {error}")
