"""Servers and processes for bench/socket_delivery.py: start, wait, stop, and read /proc.

A server runs in its own session (process group), so stopping it stops its uWSGI workers too,
and only what the benchmark started is ever signalled. Memory and CPU come from /proc:
VmRSS of the server's process tree, utime + stime of a set of processes.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def uwsgi_command(module: str, port: int, workers: int = 1) -> list[str]:
    """uWSGI as Parley runs in production: the gevent loop, native WebSockets.

    With several workers, they share the listening socket and the kernel spreads the
    connections over them; the Redis message queue carries each event to every worker.

    --http-socket makes the worker speak HTTP itself; uWSGI's --http router would put a proxy
    process in between, whose delayed ACKs add about 40 ms to small frames. --lazy-apps loads
    the app in the worker after the fork, so no database or Redis connection crosses it.
    """
    return [
        str(VENV_BIN / "uwsgi"),
        "--master",
        f"--workers={workers}",
        "--gevent=1000",
        f"--http-socket=127.0.0.1:{port}",
        "--http-websockets",
        "--tcp-nodelay",
        "--lazy-apps",
        "--need-app",
        "--die-on-term",
        "--disable-logging",
        "--listen=1024",
        f"--home={VENV_BIN.parent}",
        f"--chdir={PROJECT_ROOT}",
        f"--module={module}",
    ]


def uwsgi_ini_command() -> list[str]:
    """uWSGI exactly as deployed: uwsgi.ini, listening where PARLEY_HTTP_SOCKET says."""
    return [str(VENV_BIN / "uwsgi"), "--ini", str(PROJECT_ROOT / "uwsgi.ini")]


def threading_command(hooks: bool = False) -> list[str]:
    """`python wsgi.py`: the development server, one thread per connection (hooks: see server_trace)."""
    return [sys.executable, *(["-m", "bench.server_trace"] if hooks else []), "wsgi.py"]


# ---------------------------------------------------------------- /proc


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    return text[text.rindex(")") + 2 :].split()  # fields from the state on; comm may hold spaces


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> list[int]:
    """The process and everything under it."""
    parents: dict[int, int] = {}
    for pid in _all_pids():
        try:
            parents[pid] = int(_stat_fields(pid)[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += children
        frontier = children
    return tree


def pids_named(*names: str) -> list[int]:
    """Processes whose command name is one of names (mariadbd, redis-server, ...): read only."""
    found = []
    for pid in _all_pids():
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip() in names:
                    found.append(pid)
        except OSError:
            continue
    return found


def rss_kib(pids: list[int]) -> int:
    """The summed VmRSS of the processes, in KiB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU time of each process still running, in seconds."""
    times = {}
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        times[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return times


def cpu_seconds(pids: list[int]) -> float:
    """The summed user + system CPU time of the processes, in seconds."""
    return sum(cpu_by_pid(pids).values())


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (everything but idle and iowait), in seconds."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICKS


@dataclass
class CpuMeter:
    """CPU use of named groups of processes between start() and stop(), as % of one core."""

    groups: dict[str, list[int]]
    started: dict[str, dict[int, float]] = field(default_factory=dict)
    machine: float = 0.0
    wall: float = 0.0

    def start(self) -> None:
        """Remember the CPU time of every process, and of the whole machine, now."""
        self.started = {name: cpu_by_pid(pids) for name, pids in self.groups.items()}
        self.machine = machine_busy_seconds()
        self.wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        """% of one core each group used since start() (processes that came or went in between are
        left out); "machine" is every process, "other" what the groups do not account for."""
        wall = time.perf_counter() - self.wall
        used = {}
        for name, pids in self.groups.items():
            now, then = cpu_by_pid(pids), self.started[name]
            used[name] = sum(now[pid] - then[pid] for pid in now.keys() & then.keys())
        used["machine"] = machine_busy_seconds() - self.machine
        used["other"] = max(0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine"))
        return {name: round(100 * seconds / wall, 1) for name, seconds in used.items()}


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    """A server process started by the benchmark, in its own process group."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_path: str = "/"
    process: subprocess.Popen | None = None
    log: IO[Any] | None = None

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process and wait until it answers HTTP."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it serves
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {READY_TIMEOUT:.0f} s; see {self.log_path}")

    def pids(self) -> list[int]:
        """The server's process tree (uWSGI: master and worker)."""
        return descendants(self.process.pid) if self.process else []

    def worker_pid(self) -> int:
        """The process that runs the application: the uWSGI worker, or the process itself."""
        tree = self.pids()
        return tree[-1] if tree else 0

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self.log:
            self.log.close()


@dataclass
class LoadProcess:
    """One bench.socket_load process, spoken to in JSON lines."""

    index: int
    process: subprocess.Popen | None = None

    def start(self, log: IO[Any]) -> None:
        """Start the generator process."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.socket_load"],
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )

    def send(self, command: dict) -> None:
        """Send one command; the answer is read by receive()."""
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict:
        """The answer to the last command."""
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator {self.index} exited with {self.process.poll()}")
        return json.loads(line)

    def stop(self) -> None:
        """Ask it to exit; kill it if it does not."""
        if self.process is None:
            return
        try:
            self.send({"cmd": "exit"})
            self.process.wait(STOP_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def broadcast(loaders: list[LoadProcess], commands: list[dict]) -> list[dict]:
    """Send each generator its command, then collect every answer (they work in parallel)."""
    for loader, command in zip(loaders, commands, strict=True):
        loader.send(command)
    return [loader.receive() for loader in loaders]


@dataclass
class Cluster:
    """The production path: nginx running deploy/nginx.conf in front of uWSGI instances.

    Quacks like Server where the benchmark needs it: url is nginx's, pids() and worker_pid()
    are the instances' (nginx's CPU is counted apart), process is an instance that exited, if any.
    """

    name: str
    instances: list[Server]
    nginx: Server
    sources: list[str] = field(default_factory=list)  # client addresses, spread over the instances

    @property
    def url(self) -> str:
        return self.nginx.url

    @property
    def port(self) -> int:
        return self.nginx.port

    @property
    def env(self) -> dict[str, str]:
        return self.instances[0].env

    @property
    def process(self) -> subprocess.Popen | None:
        exited = [s.process for s in self.instances if s.process and s.process.poll() is not None]
        return exited[0] if exited else self.instances[0].process

    def start(self) -> None:
        """Start every instance, then nginx; find client addresses that reach each instance."""
        for instance in self.instances:
            instance.start()
        self.nginx.start()
        self.sources = self._spread_sources()

    def pids(self) -> list[int]:
        return [pid for instance in self.instances for pid in instance.pids()]

    def worker_pid(self) -> int:
        return self.instances[0].worker_pid()

    def stop(self) -> None:
        self.nginx.stop()
        for instance in self.instances:
            instance.stop()

    def source_for(self, index: int) -> str:
        """Client index's address: consecutive clients (one room) alternate between instances."""
        return self.sources[index % len(self.sources)]

    def _spread_sources(self, each: int = 5) -> list[str]:
        """Loopback addresses, each in its own /24 (ip_hash keys on three octets), `each` per
        instance, interleaved; which instance one reaches is read from the instances' logs."""
        found: list[list[str]] = [[] for _ in self.instances]
        for k in range(1, 250):
            source, token = f"127.0.{k}.1", f"probe-{k}-{os.getpid()}"
            connection = http.client.HTTPConnection(
                "127.0.0.1", self.nginx.port, timeout=5, source_address=(source, 0)
            )
            connection.request("GET", f"/health?{token}")
            connection.getresponse().read()
            connection.close()
            time.sleep(0.05)  # uWSGI writes the request line after the response
            for i, instance in enumerate(self.instances):
                if f'?{token}"' in instance.log_path.read_text(errors="replace") and len(found[i]) < each:
                    found[i].append(source)
            if all(len(sources) == each for sources in found):
                return [source for group in zip(*found, strict=True) for source in group]
        raise RuntimeError(f"{self.name}: no {each} addresses reach every instance: {found}")
