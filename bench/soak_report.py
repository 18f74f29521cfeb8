"""Numbers, verdict, table and plot of bench/soak.py.

A delivery is a new_message that reaches one of the room's other members (the sender's own copy
is an echo, counted apart), live or, after a reconnect, through the catch-up of join_room.
Expected deliveries are, for every acknowledged message, the other members of its room: every
client is a member of its room and stays connected (or reconnects and catches up) all along.
"""

import argparse
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.socket_report import percentile

GROWTH_LIMIT = 10.0  # % of RSS growth from after the warm-up to the end of the run
SUMS = ("duplicates", "overlaps", "stale", "catch_ups", "reconnects", "disconnects", "connected_at_end")
COUNT_COLUMNS = [
    "sent",
    "acked",
    "failed",
    "retried",
    "expected deliveries",
    "delivered (live + catch-up)",
    "lost",
    "duplicates",
    "stored",
]
LATENCY_COLUMNS = [
    "latency p50",
    "p90",
    "p99",
    "max",
    "ack p50",
    "ack p99",
    "reconnects",
    "disconnects",
    "connect errors",
]
MINUTE_COLUMNS = [
    "minute",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "RSS MiB",
    "uWSGI %",
    "MariaDB %",
    "clients %",
    "machine %",
    "load",
]
COUNTERS = ("errors", "catch_up_errors", "disconnect_reasons", "connect_errors", "other_events")


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def merge(answers: list[dict]) -> dict:
    """The client processes' records as one."""
    merged: dict[str, Any] = {"sent": {}, "latencies": defaultdict(list)}
    merged |= {key: Counter() for key in ("receipts", "recovered", "echoes", *COUNTERS)}
    for answer in answers:
        merged["sent"].update(answer["sent"])
        for key in ("receipts", "recovered", "echoes", *COUNTERS):
            merged[key].update(answer[key])
        for bucket, values in answer["latencies"].items():
            merged["latencies"][int(bucket)].extend(values)
    merged |= {key: sum(a[key] for a in answers) for key in SUMS}
    merged["drain_seconds"] = max(a["drain_seconds"] for a in answers)
    return merged


def _latency(values: list[float]) -> dict:
    return {
        "p50_ms": _r(percentile(values, 50)),
        "p90_ms": _r(percentile(values, 90)),
        "p99_ms": _r(percentile(values, 99)),
        "max_ms": _r(max(values, default=None)),
    }


def phase(result: dict, room_of: dict[int, int], members: Counter, bucket: float) -> dict:
    """Counts and latencies of one chat (the warm-up or the measured run)."""
    sent, receipts, recovered = result["sent"], result["receipts"], result["recovered"]
    mates = {cid: members[room_of[int(cid.split(".")[1])]] - 1 for cid in sent}
    acked = {cid for cid, record in sent.items() if record[2]}
    live = {cid: min(receipts.get(cid, 0), mates[cid]) for cid in acked}
    caught = {cid: min(recovered.get(cid, 0), mates[cid] - live[cid]) for cid in acked}
    expected = sum(mates[cid] for cid in acked)
    delivered = sum(live.values()) + sum(caught.values())
    stored = result["stored"] & set(sent)
    everything = [v for values in result["latencies"].values() for v in values]
    acks = [(r[1] - r[0]) / 1e6 for r in sent.values() if r[2]]
    minutes = [
        {"minute": b + 1, "deliveries": len(v), "per_s": _r(len(v) / bucket)} | _latency(v)
        for b, v in sorted(result["latencies"].items())
    ]
    return {
        "sent": len(sent),
        "acked": len(acked),
        "failed_sends": len(sent) - len(acked),
        "retried_sends": sum(1 for r in sent.values() if r[4] > 1),
        "attempt_errors": dict(result["errors"]),
        "expected_deliveries": expected,
        "delivered": delivered,
        "delivered_live": sum(live.values()),
        "delivered_by_catch_up": sum(caught.values()),
        "lost": expected - delivered,
        "lost_sample": [(c, live[c] + caught[c], mates[c]) for c in acked if live[c] + caught[c] < mates[c]][
            :10
        ],
        "duplicates": result["duplicates"],
        "overlaps": result["overlaps"],
        "echoes": sum(result["echoes"].values()),
        "stored": len(stored),
        "acked_not_stored": len(acked - stored),
        "stored_not_acked": len(stored - acked),
        "ack_p50_ms": _r(percentile(acks, 50)),
        "ack_p99_ms": _r(percentile(acks, 99)),
        "mean_ms": _r(statistics.fmean(everything) if everything else None),
        **_latency(everything),
        "per_minute": minutes,
        "reconnects": result["reconnects"],
        "disconnects": result["disconnects"],
        "disconnect_reasons": dict(result["disconnect_reasons"]),
        "connect_errors": dict(result["connect_errors"]),
        "catch_ups": result["catch_ups"],
        "catch_up_errors": dict(result["catch_up_errors"]),
        "connected_at_end": result["connected_at_end"],
        "stale": result["stale"],
        "drain_s": result["drain_seconds"],
    }


def _cpu_used(before: dict, after: dict, group: str) -> float:
    """CPU seconds the group's processes used between two readings (those alive at both)."""
    then, now = before["cpu_s"][group], after["cpu_s"][group]
    return sum(now[pid] - then[pid] for pid in now.keys() & then.keys())


def resources(samples: list[dict], start_ns: int, bucket: float) -> dict:
    """RSS at the start and end, its growth and trend; CPU %, load and RSS by bucket."""
    for sample in samples:
        sample["t"] = round((sample["wall_ns"] - start_ns) / 1e9, 1)
    total = [s["rss_master_kib"] + s["rss_worker_kib"] for s in samples]
    first, last = samples[0], samples[-1]
    growth = 100 * (total[-1] - total[0]) / total[0]
    times = [s["t"] for s in samples]
    slope = statistics.linear_regression(times, total).slope * 60 if len(samples) > 2 else 0.0
    rows = []
    for b in range(int(max(times) // bucket) + 1):
        window = [s for s in samples if b * bucket <= s["t"] <= (b + 1) * bucket + 0.5]
        if len(window) < 2:
            continue
        lo, hi = window[0], window[-1]
        wall = hi["t"] - lo["t"]
        cpu = {name: round(100 * _cpu_used(lo, hi, name) / wall, 1) for name in hi["cpu_s"]}
        cpu["machine"] = round(100 * (hi["machine_s"] - lo["machine_s"]) / wall, 1)
        rows.append(
            {"minute": b + 1, "rss_kib": hi["rss_master_kib"] + hi["rss_worker_kib"]}
            | {"load1": hi["load"][0], "cpu_percent": cpu}
        )
    return {
        "rss_start_kib": {
            "master": first["rss_master_kib"],
            "worker": first["rss_worker_kib"],
            "total": total[0],
        },
        "rss_end_kib": {
            "master": last["rss_master_kib"],
            "worker": last["rss_worker_kib"],
            "total": total[-1],
        },
        "rss_peak_kib": max(total),
        "rss_growth_percent": round(growth, 2),
        "rss_trend_kib_per_min": round(slope, 1),
        "worker_pids": sorted({pid for s in samples for pid in s["workers"]}),
        "load1_mean": round(statistics.fmean(s["load"][0] for s in samples), 2),
        "load1_max": max(s["load"][0] for s in samples),
        "per_minute": rows,
        "samples": samples,
    }


def summarize(raw: dict, specs: list[dict], args: argparse.Namespace) -> dict:
    """Everything the report shows, from the raw records of bench/soak.py."""
    room_of = {s["index"]: s["room_id"] for s in specs}
    members = Counter(room_of.values())
    run = phase(raw["run"], room_of, members, args.bucket)
    report = {
        "setup": {"clients": len(specs), "rooms": len(members), "room_size": args.room_size}
        | {"interval_s": args.interval, "duration_s": args.duration, "warmup_s": args.warmup}
        | {"bucket_s": args.bucket},
        "connect": raw["connect"],
        "run": run,
        "warmup": phase(raw["warmup"], room_of, members, args.bucket) if raw["warmup"] else None,
        "memory": resources(raw["samples"], raw["run"]["start_ns"], args.bucket),
    }
    report["run"]["sent_per_s"] = _r(run["sent"] / args.duration, 2)
    report["run"]["delivered_per_s"] = _r(run["delivered"] / args.duration, 1)
    return report


def verdict(report: dict) -> dict:
    """The soak's conditions, each with whether it held."""
    phases = [report["run"]] + ([report["warmup"]] if report["warmup"] else [])
    checks = {
        "nothing lost": sum(p["lost"] for p in phases) == 0,
        "no duplicates": sum(p["duplicates"] for p in phases) == 0,
        "every send acknowledged": sum(p["failed_sends"] for p in phases) == 0,
        "every acknowledged message stored": sum(p["acked_not_stored"] for p in phases) == 0,
        "the uWSGI worker never restarted": len(report["memory"]["worker_pids"]) == 1,
        f"RSS growth under {GROWTH_LIMIT:g}%": report["memory"]["rss_growth_percent"] < GROWTH_LIMIT,
    }
    return {"checks": checks, "passed": all(checks.values())}


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def _table(columns: list[str], rows: list[list]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows] + [""]


def _minute_rows(run: dict, memory: dict) -> list[list]:
    usage = {row["minute"]: row for row in memory["per_minute"]}
    rows = []
    for row in run["per_minute"]:
        use = usage.get(row["minute"], {"cpu_percent": {}})
        cpu = use["cpu_percent"]
        clients = round(sum(v for k, v in cpu.items() if k.startswith("clients")), 1)
        rss = _mib(use["rss_kib"]) if "rss_kib" in use else "-"
        latency = [row["p50_ms"], row["p99_ms"], row["max_ms"]]
        usage_cells = [cpu.get("server", "-"), cpu.get("mariadb", "-"), clients, cpu.get("machine", "-")]
        rows.append([row["minute"], row["per_s"], *latency, rss, *usage_cells, use.get("load1", "-")])
    return rows


def markdown(report: dict, args: argparse.Namespace) -> str:
    """The results as a short markdown report."""
    setup, run, memory = report["setup"], report["run"], report["memory"]
    low, high = setup["interval_s"]
    intro = (
        f"{setup['clients']} websocket clients in {setup['rooms']} rooms of {setup['room_size']}, each "
        f"sending a message every {low:g}-{high:g} s (uniform), for {setup['duration_s']:g} s after a "
        f"{setup['warmup_s']:g} s warm-up; Parley under `uwsgi --ini uwsgi.ini` (one gevent worker), "
        f"production configuration, {report['database']}, Redis message queue; {args.processes} client "
        f"processes. Load average (1 min) during the run: mean {memory['load1_mean']}, "
        f"max {memory['load1_max']}."
    )
    delivered = f"{run['delivered']} ({run['delivered_live']} + {run['delivered_by_catch_up']})"
    counts = [run["sent"], run["acked"], run["failed_sends"], run["retried_sends"]]
    counts += [run["expected_deliveries"], delivered, run["lost"], run["duplicates"], run["stored"]]
    latency = [f"{run[k]} ms" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "ack_p50_ms", "ack_p99_ms")]
    latency += [run["reconnects"], run["disconnects"], sum(run["connect_errors"].values())]
    rss = [
        [label, *(_mib(memory[key][part]) for part in ("master", "worker", "total"))]
        for label, key in (("after warm-up", "rss_start_kib"), ("end", "rss_end_kib"))
    ]
    trend = f"trend {memory['rss_trend_kib_per_min']} KiB/min, peak {_mib(memory['rss_peak_kib'])} MiB"
    rss.append(["growth", "", "", f"{memory['rss_growth_percent']}% ({trend})"])
    checks = report["verdict"]["checks"]
    held = ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks.items())
    lines = [f"## Soak: {setup['clients']} clients, {setup['duration_s']:g} s", "", intro, ""]
    lines += _table(COUNT_COLUMNS, [counts])
    lines += _table(LATENCY_COLUMNS, [latency])
    lines += _table(["uWSGI RSS (MiB)", "master", "worker", "total"], rss)
    lines += _table(MINUTE_COLUMNS, _minute_rows(run, memory))
    verdict_word = "PASS" if report["verdict"]["passed"] else "FAIL"
    return "\n".join([*lines, f"Verdict: {verdict_word} ({held})"])


def plot(report: dict, out: Path) -> None:
    """p50/p99 by minute and the server's RSS over the run, as a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (bench/requirements.txt): no plot")
        return
    rows = report["run"]["per_minute"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    width = report["setup"]["bucket_s"] / 60
    minutes = [(row["minute"] - 0.5) * width for row in rows]
    top.plot(minutes, [row["p99_ms"] for row in rows], marker="o", label="p99")
    top.plot(minutes, [row["p50_ms"] for row in rows], marker="o", label="p50")
    top.set_ylabel("delivery latency (ms)")
    top.set_ylim(bottom=0)
    top.legend()
    top.grid(alpha=0.3)
    samples = report["memory"]["samples"]
    times = [s["t"] / 60 for s in samples]
    rss = [(s["rss_master_kib"] + s["rss_worker_kib"]) / 1024 for s in samples]
    bottom.plot(times, rss, color="tab:green", label="uWSGI RSS (master + worker)")
    bottom.set_ylabel("RSS (MiB)")
    bottom.set_ylim(0, max(rss) * 1.25)
    bottom.set_xlabel("minute of the run")
    bottom.grid(alpha=0.3)
    load = bottom.twinx()  # the machine is shared: its load explains most latency swings
    load.plot(times, [s["load"][0] for s in samples], color="tab:gray", linestyle="--", label="load average")
    load.set_ylabel("load average (1 min)")
    load.set_ylim(bottom=0)
    handles = [*bottom.get_legend_handles_labels()[0], *load.get_legend_handles_labels()[0]]
    bottom.legend(handles=handles, loc="lower right")
    setup = report["setup"]
    figure.suptitle(f"Soak: {setup['clients']} clients, {setup['rooms']} rooms, {setup['duration_s']:g} s")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
