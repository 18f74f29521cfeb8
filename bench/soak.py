"""Soak benchmark: 500 websocket clients chatting with Parley for 10 minutes, nothing may be lost.

Run from the project root, against MariaDB and Redis (see bench/README.md, "Soak"):

    .venv/bin/pip install -r bench/requirements.txt     # once: aiohttp, matplotlib
    .venv/bin/python -m bench.soak [--duration 600] [--clients 500] [--database-url URL] [--redis-url URL]

Parley runs as deployed: `uwsgi --ini uwsgi.ini` (one instance, one gevent worker) with
PARLEY_ENV=production, its default socket rate limits, MariaDB and Redis as message queue.
The users, rooms and API tokens are seeded in a fresh database (bench/socket_delivery.seed,
services, not /auth/register). A few client processes (bench/soak_load.py) connect every client,
chat for a warm-up, then for --duration: each client sends a message every
uniform(--interval) seconds. Every message carries a unique client_id and its send time;
every client records what it receives. The report: messages sent, acknowledged, delivered,
lost, duplicated and stored; p50/p99 delivery latency for every minute; the uWSGI master's and
worker's RSS after the warm-up and at the end; reconnects and errors. It exits 1 when anything
was lost, duplicated, failed or left unstored, when the uWSGI worker restarted, or when the RSS
grew by 10% or more.
"""

import argparse
import secrets
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.services.presence import forget_prefix
from bench import socket_servers as servers
from bench.seed_db import RESULTS_DIR, BenchError, ensure_database, make_app, write_json
from bench.soak_report import markdown, merge, plot, summarize, verdict
from bench.socket_delivery import RATE_LIMITS, connect_all, make_server, seed, stored_client_ids

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/parley_bench_soak?charset=utf8mb4"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
START_DELAY_NS = 2_000_000_000  # the client processes get a chat command this long before it starts
SETTLE_SECONDS = 5.0  # between the warm-up and the measured run, before the first RSS reading


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--database-url", default=DEFAULT_URL, help="MariaDB URL (dropped first only if named *bench*)")
    add("--redis-url", default=DEFAULT_REDIS, help="Redis: message queue and presence (own key prefix)")
    add("--clients", type=int, default=500, help="websocket clients, one user each (default 500)")
    add("--room-size", type=int, default=25, help="clients per room (default 25: 20 rooms)")
    add("--interval", default="20,60", help="seconds between two messages of a client: low,high")
    add("--duration", type=float, default=600, help="seconds of the measured run (default 600)")
    add("--warmup", type=float, default=60, help="seconds of chatting before the first RSS reading")
    add("--processes", type=int, default=2, help="client processes (default 2)")
    add("--bucket", type=float, default=60, help="seconds per latency row (default 60)")
    add("--sample", type=float, default=10, help="seconds between two RSS/CPU/load readings")
    add("--quiet", type=float, default=5, help="the drain ends once nothing arrived for this long")
    add("--drain", type=float, default=60, help="seconds the drain lasts at most")
    add("--seed", default="parley", help="seeds every client's random pace and words")
    add("--json", type=Path, help=f"results file (default {RESULTS_DIR.name}/soak-<time>.json)")
    add("--no-json", action="store_true", help="write no results, table or plot")
    args = parser.parse_args(argv)
    low, _, high = args.interval.partition(",")
    args.interval = [float(low), float(high or low)]
    if not 0 < args.interval[0] <= args.interval[1]:
        parser.error("--interval needs 0 < low <= high")
    if args.clients < args.room_size or args.room_size < 2:
        parser.error("--clients must be at least --room-size, which must be at least 2")
    # What socket_delivery.make_server reads: no tracing, one worker (uwsgi.ini says so anyway).
    args.trace, args.engine_options, args.uwsgi_workers = False, None, 1
    return args


def fresh_database(url: sa.URL) -> None:
    """An empty database to migrate: a *bench* one is dropped and recreated; any other must be
    missing or empty, because the soak never drops a database that is not named for it."""
    if url.get_backend_name() not in ("mysql", "mariadb"):
        raise BenchError("the soak runs on MariaDB/MySQL, as production does")
    if "bench" in (url.database or ""):
        ensure_database(url, drop=True)
        return
    engine = sa.create_engine(url.set(database=""))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{url.database}` CHARACTER SET utf8mb4")
            tables = conn.execute(
                sa.text("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = :name"),
                {"name": url.database},
            ).scalar_one()
    finally:
        engine.dispose()
    if tables:
        raise BenchError(
            f"database {url.database!r} has {tables} tables; give an empty one or a *bench* name"
        )


class SoakLoader(servers.LoadProcess):
    """A bench.soak_load client process, spoken to like socket_delivery's load processes."""

    def start(self, log: IO[Any]) -> None:
        """Start the client process."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.soak_load"],
            cwd=servers.PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )


def make_uwsgi(args: argparse.Namespace, log_dir: Path) -> servers.Server:
    """Parley as deployed: uwsgi.ini, production configuration and rate limits, MariaDB, Redis."""
    server = make_server("uwsgi", args, log_dir)
    server.command = servers.uwsgi_ini_command()
    server.env["PARLEY_HTTP_SOCKET"] = f"127.0.0.1:{server.port}"
    for key in RATE_LIMITS:  # socket_delivery raises them; a soak keeps the production limits
        server.env.pop(key)
    return server


class Sampler(threading.Thread):
    """Every `every` s: the server's RSS (master, worker), CPU seconds by process, the load average.

    The server's processes are looked up at each reading, so a worker that uWSGI respawned
    (a crash) is seen; CPU is kept per process, as a new process starts from zero.
    """

    def __init__(self, server: servers.Server, groups: dict[str, list[int]], every: float) -> None:
        super().__init__(daemon=True)
        self.server, self.groups, self.every = server, groups, every
        self.samples: list[dict] = []
        self.done = threading.Event()

    def sample(self) -> dict:
        """One reading now."""
        master = self.server.process.pid
        groups = self.groups | {"server": self.server.pids()}
        with open("/proc/loadavg") as loadavg:
            load = [float(v) for v in loadavg.read().split()[:3]]
        reading = {
            "wall_ns": time.time_ns(),
            "rss_master_kib": servers.rss_kib([master]),
            "rss_worker_kib": servers.rss_kib([pid for pid in groups["server"] if pid != master]),
            "workers": [pid for pid in groups["server"] if pid != master],
            "load": load,
            "cpu_s": {name: servers.cpu_by_pid(pids) for name, pids in groups.items()},
            "machine_s": servers.machine_busy_seconds(),
        }
        self.samples.append(reading)
        return reading

    def run(self) -> None:
        self.sample()
        while not self.done.wait(self.every):
            self.sample()

    def stop(self) -> dict:
        """Stop sampling; the last reading."""
        self.done.set()
        self.join()
        return self.sample()


def chat(ctx: dict, label: str, duration: float) -> dict:
    """Every client chats for `duration` s; the merged records and the messages stored."""
    args = ctx["args"]
    tag = f"{label}{secrets.token_hex(4)}"  # no '.', '_' or '%': client_ids are matched with LIKE
    start_ns = time.time_ns() + START_DELAY_NS
    command = {"cmd": "run", "tag": tag, "start_ns": start_ns, "duration": duration}
    command |= {"interval": args.interval, "seed": args.seed, "quiet": args.quiet, "drain": args.drain}
    command |= {"bucket": args.bucket}
    print(f"== {label}: {duration:g} s of chatting (tag {tag})", file=sys.stderr)
    answers = servers.broadcast(ctx["loaders"], [command] * len(ctx["loaders"]))
    result = merge(answers) | {"tag": tag, "start_ns": start_ns, "duration": duration}
    result["stored"] = stored_client_ids(ctx["app"], tag)
    return result


def run(args: argparse.Namespace, app: Flask, specs: list[dict], stack: ExitStack) -> dict:
    """Start the server and clients, warm up, run, measure; the raw results."""
    server = make_uwsgi(args, args.out_dir)
    stack.callback(forget_prefix, args.redis_url, server.env["REDIS_PREFIX"])  # after server.stop
    server.start()
    stack.callback(server.stop)
    log = stack.enter_context((args.out_dir / "clients.log").open("w"))
    loaders = [SoakLoader(i) for i in range(args.processes)]
    for loader in loaders:
        loader.start(log)
        stack.callback(loader.stop)
    groups = {"server": server.pids(), "mariadb": servers.pids_named("mariadbd", "mysqld")}
    groups |= {"redis": servers.pids_named("redis-server")}
    groups |= {f"clients{i}": [loader.process.pid] for i, loader in enumerate(loaders)}
    ctx = {"args": args, "app": app, "specs": specs, "server": server, "loaders": loaders}
    ctx["parts"] = [[s["index"] for s in specs[i :: args.processes]] for i in range(args.processes)]
    print(f"== connecting {len(specs)} clients to {server.url}", file=sys.stderr)
    connected = connect_all(ctx)
    print(f"   connected in {connected['seconds']} s", file=sys.stderr)
    warmup = chat(ctx, "w", args.warmup) if args.warmup > 0 else None
    time.sleep(SETTLE_SECONDS)
    sampler = Sampler(server, groups, args.sample)
    sampler.start()
    measured = chat(ctx, "s", args.duration)
    sampler.stop()
    if server.process.poll() is not None:
        raise BenchError(f"uWSGI exited with {server.process.returncode}; see {server.log_path}")
    return {"connect": connected, "warmup": warmup, "run": measured, "samples": sampler.samples}


def main(argv: list[str] | None = None) -> int:
    """Seed, soak, report; 1 when something was lost, duplicated or leaked."""
    args = parse_args(argv)
    url = sa.make_url(args.database_url)
    fresh_database(url)
    app = make_app(args.database_url, "production")
    print(f"seeding {args.clients} users in rooms of {args.room_size} ...", file=sys.stderr)
    specs = seed(app, args.clients, args.room_size)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir = RESULTS_DIR / f"soak-{stamp}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        raw = run(args, app, specs, stack)
    with app.app_context():
        version = str(db.session.scalar(sa.text("SELECT VERSION()")))
        db.session.remove()
    report = summarize(raw, specs, args) | {"database": version, "logs": str(args.out_dir)}
    report["verdict"] = verdict(report)
    table = markdown(report, args)
    print(table)
    if not args.no_json:
        path = args.json or RESULTS_DIR / f"soak-{stamp}.json"
        report["meta"] = {
            **vars(args),
            "out_dir": str(args.out_dir),
            "json": str(path),
            "url": url.render_as_string(hide_password=True),
        }
        write_json(path, report)
        path.with_suffix(".md").write_text(table + "\n")
        plot(report, path.with_suffix(".png"))
        print(f"results: {path} (.md, .png)", file=sys.stderr)
    return 0 if report["verdict"]["passed"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"soak: {error}")
