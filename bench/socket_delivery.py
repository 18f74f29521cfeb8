"""Benchmark: Socket.IO message delivery, latency and loss, at rising send rates, on several servers.

Run from the project root, against MariaDB and Redis (see bench/README.md):

    .venv/bin/pip install -r bench/requirements.txt     # once: aiohttp, py-spy, matplotlib
    .venv/bin/python -m bench.socket_delivery [--database-url URL] [--redis-url URL]

N clients (python-socketio AsyncClient, websocket transport, API token) sit in rooms of 10.
At each rate every client sends that many messages a second, open loop, each stamped with its
send time; every client records every new_message it gets. Deliveries are the copies that
reach the room's other members; the sender's own copy (its echo) is recorded apart. Targets:
Parley under `python wsgi.py` (threading), Parley under uWSGI + gevent, and a bare
python-socketio broadcast server under the same uWSGI + gevent (bench/ceiling_server.py), the
ceiling. Parley's messages are then looked up in the database by client_id.

The production path (issue 6): `nginx-1` and `nginx-2` are deploy/nginx.conf in front of one or
two uWSGI instances started from uwsgi.ini, with Redis. Clients connect from loopback addresses
that ip_hash spreads over the instances, the members of each room alternating between them:

    .venv/bin/python -m bench.socket_delivery --targets nginx-1,nginx-2 --rates 2,3 --search-rates 4,5,6
    .venv/bin/python -m bench.plot_scale_out bench/results/socket_delivery-<time>.json
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Room, RoomMembership
from app.models.room import room_name_key
from app.services import accounts, api_tokens
from app.services.presence import forget_prefix
from bench import socket_servers as servers
from bench.seed_db import RESULTS_DIR, BenchError, ensure_database, make_app, migrate_schema, save_results
from bench.socket_report import (
    GOAL_RATE,
    GOAL_TARGET,
    brief,
    goal,
    hot_frames,
    merge,
    print_report,
    summarize,
    sustainable,
)

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/parley_bench_ws?charset=utf8mb4"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
TARGETS = ("threading", "uwsgi", "ceiling", "ceiling-redis", "nginx-1", "nginx-2")
CLUSTERS = {"nginx-1": 1, "nginx-2": 2}  # uWSGI instances behind nginx, as deployed
PARLEY_TARGETS = ("threading", "uwsgi", *CLUSTERS)
USER_EMAIL = "ws-bench-{}@example.com"
START_DELAY_NS = 1_500_000_000  # the load processes get the step this long before it starts
IDLE_WINDOW = 5.0  # seconds over which the server's CPU with every client idle is measured
IDLE_CPU = 0.15  # CPU seconds in one second under which a server counts as idle
TRACE_EVERY = 1.0  # seconds between two writes of a traced server's counters
RATE_LIMITS = {
    "SOCKET_MESSAGE_LIMIT": "1000000/10",
    "SOCKET_EVENT_LIMIT": "1000000/10",
    "SOCKET_TYPING_LIMIT": "1000000/10",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--database-url", default=DEFAULT_URL, help="MariaDB URL; the database name must contain 'bench'")
    add("--redis-url", default=DEFAULT_REDIS, help="Redis for the message queue and presence")
    add("--targets", default="threading,uwsgi,ceiling", help=f"comma-separated, of {', '.join(TARGETS)}")
    add("--clients", type=int, default=100, help="connected clients (default 100)")
    add("--room-size", type=int, default=10, help="clients per room (default 10)")
    add("--rates", default="1,2,5,10", help="messages/s per client, every one measured")
    add("--search-rates", default="15,20,30,40,60", help="higher rates, stepped up while the last passed")
    add("--duration", type=float, default=20, help="seconds of sending per step")
    add("--quiet", type=float, default=2, help="a step's drain ends after this long without an arrival")
    add("--drain", type=float, default=15, help="a step's drain ends this long after the last send at most")
    add("--settle", type=float, default=180, help="seconds a step waits at most for the server to idle")
    add("--processes", type=int, default=2, help="load generator processes")
    add("--uwsgi-workers", type=int, default=1, help="uWSGI worker processes of Parley and the ceiling")
    add("--trace", action="store_true", help="count SQL, DB connections, Redis commands inside Parley")
    add("--engine-options", type=json.loads, help="what-if: JSON merged into the engine options")
    add("--profile", action="store_true", help=f"py-spy the {GOAL_TARGET} worker in an extra step")
    add("--profile-rate", type=float, default=GOAL_RATE, help="messages/s per client of the profiled step")
    add("--json", type=Path, help=f"results file (default {RESULTS_DIR.name}/socket_delivery-<time>.json)")
    add("--no-json", action="store_true", help="write no results file")
    add("--check", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if unknown := set(args.targets) - set(TARGETS):
        parser.error(f"unknown targets {sorted(unknown)}")
    args.rates = sorted({float(r) for r in args.rates.split(",") if r.strip()})
    args.search_rates = sorted({float(r) for r in args.search_rates.split(",") if r.strip()})
    if args.clients < args.room_size or args.room_size < 2:
        parser.error("--clients must be at least --room-size, which must be at least 2")
    return args


# ---------------------------------------------------------------- database and users


def seed(app: Flask, clients: int, room_size: int) -> list[dict]:
    """Users, rooms of room_size members and an API token each, in a fresh database; the client specs."""
    app.config["BCRYPT_ROUNDS"] = 4  # only the bench's own users and tokens
    specs = []
    with app.app_context():
        migrate_schema()
        password = secrets.token_urlsafe(24)
        users = [
            accounts.create_user(USER_EMAIL.format(i), password, f"WS bench {i}") for i in range(clients)
        ]
        rooms: list[int] = []
        for i, user in enumerate(users):
            if i % room_size == 0:
                name = f"ws-bench-{i // room_size}"
                room = Room(name=name, name_key=room_name_key(name), kind="public", created_by=user.id)
                db.session.add(room)
                db.session.flush()
                rooms.append(room.id)
            role = "owner" if i % room_size == 0 else "member"
            db.session.add(RoomMembership(room_id=rooms[-1], user_id=user.id, role=role))
        db.session.commit()
        for i, user in enumerate(users):
            _row, secret = api_tokens.create_token(user.email, password, "socket_delivery")
            specs.append({"index": i, "token": secret, "room_id": rooms[i // room_size]})
        db.session.remove()
    return specs


def stored_client_ids(app: Flask, tag: str) -> set[str]:
    """The client_ids of this step's messages that are in the database."""
    with app.app_context():
        rows = db.session.scalars(
            sa.text("SELECT client_id FROM messages WHERE client_id LIKE :pattern"), {"pattern": f"{tag}.%"}
        )
        found = {row.decode() if isinstance(row, bytes) else row for row in rows}
        db.session.remove()
    return found


# ---------------------------------------------------------------- servers


def make_cluster(target: str, args: argparse.Namespace, log_dir: Path) -> servers.Cluster:
    """nginx (deploy/nginx.conf) in front of CLUSTERS[target] uWSGI instances, not started."""
    from tests.test_deploy import nginx_command, write_nginx_conf  # the e2e test's rendering

    shared = {"SECRET_KEY": secrets.token_hex(32), "REDIS_PREFIX": f"wsbench-{secrets.token_hex(4)}"}
    instances = []
    for i in range(CLUSTERS[target]):
        server = make_server("uwsgi", args, log_dir)
        server.name, server.log_path = f"{target}.{i}", log_dir / f"{target}.{i}.log"
        server.command = servers.uwsgi_ini_command()
        server.env.update(shared, PARLEY_HTTP_SOCKET=f"127.0.0.1:{server.port}", TRUSTED_PROXIES="1")
        instances.append(server)
    folder = log_dir / f"{target}-nginx"
    (folder / "uploads" / "avatars").mkdir(parents=True, exist_ok=True)
    port = servers.free_port()
    ports = [s.port for s in instances] * (2 // len(instances))  # the site names two upstream servers
    conf = write_nginx_conf(folder, port, ports, folder / "uploads")
    nginx = servers.Server(
        f"{target}.nginx", nginx_command(conf), dict(os.environ), port, folder / "run.log", "/health"
    )
    return servers.Cluster(target, instances, nginx)


def make_server(target: str, args: argparse.Namespace, log_dir: Path) -> servers.Server | servers.Cluster:
    """The server of a target on a free port, not started."""
    if target in CLUSTERS:
        return make_cluster(target, args, log_dir)
    port = servers.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADMIN_", "MAIL_"))}
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "PYTHONUNBUFFERED": "1"})
    log_path = log_dir / f"{target}.log"
    prefix = f"wsbench-{secrets.token_hex(4)}"
    if target in PARLEY_TARGETS:
        env.update(
            PARLEY_ENV="production",
            SECRET_KEY=secrets.token_hex(32),
            DATABASE_URL=args.database_url,
            REDIS_URL=args.redis_url,
            REDIS_PREFIX=prefix,
            SOCKETIO_ASYNC_MODE="threading" if target == "threading" else "gevent_uwsgi",
            **RATE_LIMITS,
        )
        command = (
            servers.threading_command(hooks=args.trace or bool(args.engine_options))
            if target == "threading"
            else servers.uwsgi_command("bench.uwsgi_entry:app", port, args.uwsgi_workers)
        )
        if args.trace:
            env["BENCH_TRACE"] = str(log_dir / f"trace-{target}.json")
        if args.engine_options:
            env["BENCH_ENGINE_OPTIONS"] = json.dumps(args.engine_options)
        return servers.Server(target, command, env, port, log_path, ready_path="/health")
    env["SOCKETIO_ASYNC_MODE"] = "gevent_uwsgi"
    if target == "ceiling-redis":
        env.update(CEILING_REDIS_URL=args.redis_url, CEILING_REDIS_CHANNEL=prefix)
    command = servers.uwsgi_command("bench.ceiling_server:app", port, args.uwsgi_workers)
    return servers.Server(target, command, env, port, log_path)


# ---------------------------------------------------------------- steps


class RssSampler(threading.Thread):
    """The largest RSS of the server's processes while a step runs."""

    def __init__(self, server: servers.Server) -> None:
        super().__init__(daemon=True)
        self.pids = server.pids()
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.peak = max(self.peak, servers.rss_kib(self.pids))


def run_step(ctx: dict, rate: float, label: str = "") -> dict:
    """One rate: every client sends for --duration s; the step's numbers and verdict."""
    args, specs, server, loaders = ctx["args"], ctx["specs"], ctx["server"], ctx["loaders"]
    tag = f"{ctx['code']}{round(rate * 100)}{secrets.token_hex(3)}"  # no '.', '_' or '%': see LIKE
    per_client = round(rate * args.duration)
    room_of = {s["index"]: s["room_id"] for s in specs}
    members = Counter(room_of.values())
    expected = [sum((members[room_of[i]] - 1) * per_client for i in part) for part in ctx["parts"]]
    start_ns = time.time_ns() + START_DELAY_NS
    commands = [
        {"cmd": "run", "tag": tag, "rate": rate, "duration": args.duration, "start_ns": start_ns}
        | {"expected": e, "quiet": args.quiet, "drain": args.drain}
        for e in expected
    ]
    meter = servers.CpuMeter(ctx["cpu_groups"])
    sampler = RssSampler(server)
    trace_path = server.env.get("BENCH_TRACE")
    trace_before = read_trace(trace_path)
    for loader, command in zip(loaders, commands, strict=True):
        loader.send(command)
    time.sleep(max(0.0, (start_ns - time.time_ns()) / 1e9))  # CPU is measured from the first send
    meter.start()
    sampler.start()
    answers = [loader.receive() for loader in loaders]
    cpu = meter.stop()
    sampler.done.set()
    result = merge(answers)
    stored = stored_client_ids(ctx["app"], tag) if server.name in PARLEY_TARGETS else None
    step = summarize(result, rate, args, members, room_of, cpu, sampler.peak, stored)
    if trace_path:
        time.sleep(TRACE_EVERY + 0.3)  # the server writes its counters once a second
        trace_after = read_trace(trace_path)
        step["trace"] = trace_difference(trace_before, trace_after, step["sent"], start_ns / 1e9)
    step["server_exit"] = server.process.poll()  # None while it runs
    step["settle_s"] = settle(server, args.settle) if step["server_exit"] is None else 0.0
    return step | {"tag": tag, "label": label}


def settle(server: servers.Server, limit: float) -> float:
    """Wait until the server is idle (an overloaded one works off its backlog), so the next
    step, of this target or another, starts on a quiet machine; the seconds waited."""
    pids, started = server.pids(), time.perf_counter()
    while time.perf_counter() - started < limit:
        before = servers.cpu_seconds(pids)
        time.sleep(1)
        if servers.cpu_seconds(pids) - before < IDLE_CPU:
            break
    return round(time.perf_counter() - started, 1)


def read_trace(path: str | None) -> dict:
    """The counters a traced server last wrote (see bench/server_trace.py); {} if none yet."""
    try:
        return json.loads(Path(path).read_text()) if path else {}
    except (OSError, ValueError):
        return {}


def trace_difference(before: dict, after: dict, messages: int, since: float) -> dict:
    """What happened in a step: per kind, each key's count and milliseconds per message sent;
    the most events the server handled at once, in any second since `since`."""
    in_flight = [n for at, n in after.get("in_flight", []) if at >= since]
    per_message: dict[str, Any] = {"in_flight_max": max(in_flight, default=None)}
    for kind, cells in after.items():
        if kind == "in_flight":
            continue
        rows = []
        for key, (count, seconds) in cells.items():
            old_count, old_seconds = before.get(kind, {}).get(key, (0, 0.0))
            if count > old_count:
                n, ms = (count - old_count) / messages, 1000 * (seconds - old_seconds) / messages
                rows.append((key, round(n, 3), round(ms, 3)))
        per_message[kind] = sorted(rows, key=lambda row: -row[2])
    return per_message


# ---------------------------------------------------------------- one target


def connect_all(ctx: dict) -> dict:
    """Connect every client and join its room; fail unless all made it."""
    commands = [
        {"cmd": "connect", "url": ctx["server"].url, "clients": [ctx["specs"][i] for i in part]}
        for part in ctx["parts"]
    ]
    answers = servers.broadcast(ctx["loaders"], commands)
    connected = sum(a["connected"] for a in answers)
    if connected != len(ctx["specs"]):
        failures = [f for a in answers for f in a["failures"]]
        raise BenchError(f"{ctx['server'].name}: {connected}/{len(ctx['specs'])} connected; {failures}")
    return {"seconds": round(max(a["seconds"] for a in answers), 2), "events": answers[0]["other_events"]}


def measure_idle_rss(ctx: dict) -> dict:
    """RSS of the server with no client (after one warm-up connection), then with all of them idle."""
    server, specs, loaders = ctx["server"], ctx["specs"], ctx["loaders"]
    warm = [
        {"cmd": "connect", "url": server.url, "clients": specs[:1] if i == 0 else []}
        for i in range(len(loaders))
    ]
    servers.broadcast(loaders, warm)
    servers.broadcast(loaders, [{"cmd": "disconnect"} for _ in loaders])
    time.sleep(2)
    before = servers.rss_kib(server.pids())
    connection = connect_all(ctx)
    time.sleep(3)
    after = servers.rss_kib(server.pids())
    meter = servers.CpuMeter({"server": server.pids()})
    meter.start()
    time.sleep(IDLE_WINDOW)
    idle_cpu = meter.stop()["server"]
    return {
        "rss_none_kib": before,
        "rss_idle_kib": after,
        "per_connection_kib": round((after - before) / len(specs), 1),
        "idle_cpu_percent": idle_cpu,
        "connect_seconds": connection["seconds"],
        "connect_events": connection["events"],
    }


def ladder(args: argparse.Namespace) -> list[tuple[float, bool]]:
    """Every rate to try, ascending, with whether it is a search rate (run only while passing)."""
    top = max(args.rates)
    return [(r, False) for r in args.rates] + [(r, True) for r in args.search_rates if r > top]


def profile_step(ctx: dict, rate: float, out_dir: Path) -> dict:
    """One more step at `rate` while py-spy samples the server's worker; the hottest frames."""
    raw = out_dir / f"profile-{ctx['server'].name}-{rate:g}.txt"
    spy = subprocess.Popen(
        [
            str(servers.VENV_BIN / "py-spy"),
            "record",
            "--pid",
            str(ctx["server"].worker_pid()),
            "--duration",
            str(int(ctx["args"].duration) + 2),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    step = run_step(ctx, rate, label="profiled")
    _out, err = spy.communicate(timeout=60)
    if spy.returncode != 0 or not raw.exists():
        return {"step": step, "error": err.strip()[-500:]}
    return {"step": step, "raw": str(raw), **hot_frames(raw)}


def start_target(
    target: str, args: argparse.Namespace, app: Flask, specs: list[dict], stack: ExitStack
) -> dict:
    """Start the target's server and load processes, measure idle memory, warm up; the step context."""
    out_dir = args.out_dir
    server = make_server(target, args, out_dir)
    print(f"== {target}: starting on port {server.port}", file=sys.stderr)
    if "REDIS_PREFIX" in server.env:  # runs after server.stop: the keys it leaves behind
        stack.callback(forget_prefix, args.redis_url, server.env["REDIS_PREFIX"])
    server.start()
    stack.callback(server.stop)
    gen_log = stack.enter_context((out_dir / f"{target}-generators.log").open("w"))
    loaders = [servers.LoadProcess(i) for i in range(args.processes)]
    for loader in loaders:
        loader.start(gen_log)
        stack.callback(loader.stop)
    groups = {"server": server.pids(), "mariadb": servers.pids_named("mariadbd", "mysqld")}
    groups["redis"] = servers.pids_named("redis-server")
    if isinstance(server, servers.Cluster):
        groups["nginx"] = server.nginx.pids()
        specs = [spec | {"source": server.source_for(spec["index"])} for spec in specs]
    groups |= {f"gen{i}": [loader.process.pid] for i, loader in enumerate(loaders)}
    ctx = {"args": args, "app": app, "specs": specs, "server": server, "loaders": loaders}
    ctx |= {"parts": [[s["index"] for s in specs[i :: args.processes]] for i in range(args.processes)]}
    ctx |= {"cpu_groups": groups, "code": target[0] + target[-1], "steps": [], "failed": False, "exit": None}
    ctx["memory"] = measure_idle_rss(ctx)
    print(f"   idle RSS {ctx['memory']['per_connection_kib']} KiB a connection", file=sys.stderr)
    run_step(ctx, min(args.rates), label="warm-up")
    return ctx


def run_targets(args: argparse.Namespace, app: Flask, specs: list[dict]) -> list[dict]:
    """Every target up at once; at each rate the targets take turns, so noise on the machine hits all."""
    with ExitStack() as stack:
        contexts = [start_target(target, args, app, specs, stack) for target in args.targets]
        for rate, search in ladder(args):
            for ctx in contexts:
                if (search and ctx["failed"]) or ctx["exit"] is not None:
                    continue
                step = run_step(ctx, rate)
                if step["server_exit"] is not None:
                    ctx["exit"] = step["server_exit"]
                    print(f"!! {ctx['server'].name} exited with {ctx['exit']}", file=sys.stderr)
                ctx["steps"].append(step)
                ctx["failed"] = ctx["failed"] or not step["passed"]
                print(f"   {ctx['server'].name} {rate:g}/s: {brief(step)}", file=sys.stderr)
        results = []
        for ctx in contexts:
            target = ctx["server"].name
            profile = None
            if args.profile and target == GOAL_TARGET and ctx["exit"] is None:
                profile = profile_step(ctx, args.profile_rate, args.out_dir)
            result = {"target": target, "memory": ctx["memory"], "steps": ctx["steps"], "profile": profile}
            result["server_exit"] = ctx["exit"]
            results.append(result | sustainable(ctx["steps"]))
    return results


def main(argv: list[str] | None = None) -> int:
    """Seed, run every target, print the table, write the JSON."""
    args = parse_args(argv)
    url = sa.make_url(args.database_url)
    ensure_database(url, drop=True)
    app = make_app(args.database_url, "production")
    print(f"seeding {args.clients} users in rooms of {args.room_size} ...", file=sys.stderr)
    specs = seed(app, args.clients, args.room_size)
    args.out_dir = RESULTS_DIR / f"socket_delivery-{time.strftime('%Y%m%dT%H%M%S')}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    results = run_targets(args, app, specs)
    verdict = goal(results, args)
    print_report(results, verdict, args)
    with app.app_context():
        version = str(db.session.scalar(sa.text("SELECT VERSION()")))
    save_results(
        args, version, "socket_delivery", {"results": results, "goal": verdict, "logs": str(args.out_dir)}
    )
    return 1 if args.check and not verdict["met"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        sys.exit(f"socket_delivery: {error}")
