"""Numbers and tables of bench/socket_delivery.py: merging the load processes' records,
one step's summary and verdict, the sustainable rate, the goal, the printed report.
"""

import argparse
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from bench.seed_db import format_rows

GOAL_TARGET, GOAL_RATE, GOAL_P99_MS, GOAL_SHARE = "uwsgi", 5.0, 100.0, 0.5
SCALE_TARGETS, SCALE_GOAL = ("nginx-1", "nginx-2"), 1.6  # two instances deliver >= 1.6x one
GENERATOR_BUSY = 90.0  # % of a core: above this a load process may be what limits the step
LAG_LIMIT_MS = 20.0  # p99 of how late sends left their schedule: above this, the generator lags


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100), nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _slow_by_second(slow: list, send_times: list[int]) -> dict[int, int]:
    """Deliveries over 100 ms by the second of the step their message was sent in: a stall
    shows as a few crowded seconds, an overloaded server as every second."""
    if not slow or not send_times:
        return {}
    start = min(send_times)
    return dict(sorted(Counter(int((stamp - start) // 10**9) for stamp, _ in slow).items()))


def merge(answers: list[dict]) -> dict:
    """The generators' records as one."""
    merged: dict[str, Any] = {"sent": {}, "receipts": Counter(), "echoes": Counter()}
    for key in ("latencies", "echo_latencies", "lags", "slow"):
        merged[key] = [v for a in answers for v in a[key]]
    for key in ("duplicates", "stale", "disconnects"):
        merged[key] = sum(a[key] for a in answers)
    for answer in answers:
        merged["sent"].update(answer["sent"])
        merged["receipts"].update(answer["receipts"])
        merged["echoes"].update(answer["echoes"])
    merged["drain_seconds"] = max(a["drain_seconds"] for a in answers)
    merged["late_ms"] = max(a["late_ms"] for a in answers)
    return merged


def summarize(
    result: dict,
    rate: float,
    args: argparse.Namespace,
    members: Counter,
    room_of: dict[int, int],
    cpu: dict[str, float],
    peak_rss: int,
    stored: set[str] | None,
) -> dict:
    """Rates, latencies, losses and the database check of one step."""
    sent = result["sent"]
    mates = {cid: members[room_of[int(cid.split(".")[1])]] - 1 for cid in sent}
    expected = sum(mates.values())
    delivered = sum(min(result["receipts"].get(cid, 0), n) for cid, n in mates.items())
    acked_ok = {cid for cid, record in sent.items() if record[2]}
    failures = Counter(record[3] or "no ack" for record in sent.values() if not record[2])
    acks = [(r[1] - r[0]) / 1e6 for r in sent.values() if r[1] is not None]
    latencies = result["latencies"]
    generators = {k: v for k, v in cpu.items() if k.startswith("gen")}
    step = {
        "rate": rate,
        "offered_per_s": round(len(sent) / args.duration, 1),
        "sent": len(sent),
        "expected_deliveries": expected,
        "delivered": delivered,
        "delivered_per_s": round(delivered / args.duration, 1),
        "lost": expected - delivered,
        "lost_sample": [
            (cid, result["receipts"].get(cid, 0), n)
            for cid, n in mates.items()
            if result["receipts"].get(cid, 0) < n
        ][:5],
        "duplicates": result["duplicates"],
        "failed_sends": sum(failures.values()),
        "failures": failures.most_common(5),
        "p50_ms": _rounded(percentile(latencies, 50)),
        "p90_ms": _rounded(percentile(latencies, 90)),
        "p99_ms": _rounded(percentile(latencies, 99)),
        "max_ms": _rounded(max(latencies, default=None)),
        "mean_ms": _rounded(statistics.fmean(latencies) if latencies else None),
        "echoes": sum(result["echoes"].values()),
        "echo_p99_ms": _rounded(percentile(result["echo_latencies"], 99)),
        "ack_p50_ms": _rounded(percentile(acks, 50)),
        "ack_p99_ms": _rounded(percentile(acks, 99)),
        "send_lag_p99_ms": _rounded(percentile(result["lags"], 99)),
        "slow_by_second": _slow_by_second(result["slow"], [record[0] for record in sent.values()]),
        "stale": result["stale"],
        "disconnects": result["disconnects"],
        "drain_s": round(result["drain_seconds"], 1),
        "late_start_ms": round(result["late_ms"], 1),
        "cpu_percent": cpu,
        "generator_cpu_max": max(generators.values(), default=0.0),
        "server_peak_rss_kib": peak_rss,
    }
    if stored is not None:
        step["in_db"] = len(stored & set(sent))
        step["acked_not_in_db"] = len(acked_ok - stored)
        step["in_db_not_acked"] = len((stored & set(sent)) - acked_ok)
    complete = step["lost"] == 0 and step["failed_sends"] == 0 and step["duplicates"] == 0
    stored_all = stored is None or step["in_db"] == len(sent)
    step["passed"] = bool(
        complete and stored_all and step["p99_ms"] is not None and step["p99_ms"] < GOAL_P99_MS
    )
    step["generator_bound"] = bool(
        step["generator_cpu_max"] > GENERATOR_BUSY
        or (step["send_lag_p99_ms"] or 0) > LAG_LIMIT_MS
        or step["late_start_ms"] > 0
    )
    return step


def hot_frames(raw: Path, top: int = 25) -> dict:
    """From py-spy's collapsed stacks: the frames with the most samples (inclusive and self), the
    self time by top-level package, and the inclusive time of the application's own frames."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    packages: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = [f.strip() for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
        where = frames[-1].rpartition("(")[2]
        packages[where.split("/")[0].split(".py")[0] or "?"] += samples

    def share(counter: Counter, keep: int = top) -> list[tuple[str, float]]:
        return [(f, round(100 * n / max(total, 1), 1)) for f, n in counter.most_common(keep)]

    app_frames = Counter({f: n for f, n in inclusive.items() if "(app/" in f})
    return {
        "samples": total,
        "inclusive": share(inclusive),
        "self": share(own),
        "packages": share(packages, 12),
        "app": share(app_frames, 30),
    }


def sustainable(steps: list[dict]) -> dict:
    """The highest rate stepped up to with every step so far passing (p99 < 100 ms, nothing lost)."""
    best = None
    for step in steps:
        if not step["passed"]:
            break
        best = step
    return {
        "sustainable_rate": best["rate"] if best else 0.0,
        "sustainable_msgs_per_s": best["offered_per_s"] if best else 0.0,
        "sustainable_capped": best is steps[-1] if best else False,  # passed the highest rate tried
    }


def brief(step: dict) -> str:
    """One line of a step for the progress log."""
    return (
        f"p50 {step['p50_ms']} p99 {step['p99_ms']} ms, lost {step['lost']}, failed {step['failed_sends']}, "
        f"db {step.get('in_db', '-')}/{step['sent']}, cpu {step['cpu_percent']}"
        + (" PASS" if step["passed"] else " FAIL")
        + (f"; over 100 ms by second sent: {step['slow_by_second']}" if step.get("slow_by_second") else "")
    )


# ---------------------------------------------------------------- report

COLUMNS = (
    "target",
    "rate",
    "offered/s",
    "delivered/s",
    "p50",
    "p99",
    "max",
    "lost",
    "failed",
    "ack_p99",
    "in_db",
    "srv%",
    "db%",
    "redis%",
    "nginx%",
    "gen%",
    "other%",
    "ok",
)


def table_rows(results: list[dict]) -> list[dict]:
    """One row a step."""
    rows = []
    for result in results:
        for step in result["steps"]:
            cpu = step["cpu_percent"]
            gen = sum(v for k, v in cpu.items() if k.startswith("gen"))
            rows.append(
                {
                    "target": result["target"],
                    "rate": f"{step['rate']:g}",
                    "offered/s": f"{step['offered_per_s']:g}",
                    "delivered/s": f"{step['delivered_per_s']:g}",
                    "p50": step["p50_ms"],
                    "p99": step["p99_ms"],
                    "max": step["max_ms"],
                    "lost": step["lost"],
                    "failed": step["failed_sends"],
                    "ack_p99": step["ack_p99_ms"],
                    "in_db": f"{step['in_db']}/{step['sent']}" if "in_db" in step else "-",
                    "srv%": cpu["server"],
                    "db%": cpu["mariadb"],
                    "redis%": cpu["redis"],
                    "nginx%": cpu.get("nginx", "-"),
                    "gen%": f"{gen:g}" + ("!" if step["generator_bound"] else ""),
                    "other%": cpu["other"],
                    "ok": "yes" if step["passed"] else "NO",
                }
            )
    return rows


def goal(results: list[dict], args: argparse.Namespace) -> dict:
    """The issue's target: at 5 msgs/s per client on uWSGI, p99 < 100 ms, nothing lost, all stored,
    and a sustainable rate of at least half the ceiling's."""
    by_target = {r["target"]: r for r in results}
    verdict: dict[str, Any] = {"rate": GOAL_RATE, "target": GOAL_TARGET}
    parley = by_target.get(GOAL_TARGET)
    step = next((s for s in parley["steps"] if s["rate"] == GOAL_RATE), None) if parley else None
    if step:
        verdict["step_passed"] = step["passed"]
    ceiling = by_target.get("ceiling")
    if parley and ceiling and ceiling["sustainable_msgs_per_s"]:
        share = parley["sustainable_msgs_per_s"] / ceiling["sustainable_msgs_per_s"]
        verdict["share_of_ceiling"] = round(share, 2)
        verdict["ceiling_capped"] = ceiling["sustainable_capped"]
    verdict["met"] = bool(verdict.get("step_passed")) and verdict.get("share_of_ceiling", 0) >= GOAL_SHARE
    if scaled := scale_out(by_target):
        verdict["scale_out"] = scaled
        verdict["met"] = scaled["met"] and (verdict["met"] or parley is None)
    return verdict


def scale_out(by_target: dict[str, dict]) -> dict | None:
    """Issue 6's target: two instances behind nginx deliver at least SCALE_GOAL times what one
    delivers, each at its highest rate with p99 under the same bound and nothing lost."""
    one, two = (by_target.get(name) for name in SCALE_TARGETS)
    if not (one and two):
        return None

    def delivered(result: dict) -> float:
        passing = [s for s in result["steps"] if s["passed"] and s["rate"] <= result["sustainable_rate"]]
        return max((s["delivered_per_s"] for s in passing), default=0.0)

    ratio = delivered(two) / delivered(one) if delivered(one) else 0.0
    return {
        "p99_bound_ms": GOAL_P99_MS,
        "one_delivered_per_s": delivered(one),
        "two_delivered_per_s": delivered(two),
        "ratio": round(ratio, 2),
        "two_capped": two["sustainable_capped"],
        "met": ratio >= SCALE_GOAL,
    }


def print_report(results: list[dict], verdict: dict, args: argparse.Namespace) -> None:
    """The table, memory and sustainable rates, the verdict and the profile."""
    print(
        f"\nSocket delivery: {args.clients} clients in rooms of {args.room_size}, "
        f"{args.duration:g} s a step, {args.processes} load processes. Latency in ms, over the deliveries "
        "to the other members of the room; CPU in % of one core (the machine has "
        f"{os.cpu_count()}), other% = every process the benchmark did not start\n"
    )
    print(format_rows(table_rows(results), COLUMNS))
    print()
    for result in results:
        memory = result["memory"]
        capped = " (the highest rate tried)" if result["sustainable_capped"] else ""
        print(
            f"{result['target']:<14} idle RSS {memory['per_connection_kib']:>7} KiB a connection "
            f"({memory['rss_none_kib']} -> {memory['rss_idle_kib']} KiB); sustainable "
            f"{result['sustainable_rate']:g} msgs/s a client = {result['sustainable_msgs_per_s']:g} msgs/s"
            + capped
            + f"; idle CPU {memory['idle_cpu_percent']}%"
        )
        if result.get("server_exit") is not None:
            print(f"{'':<14} !! the server exited with {result['server_exit']} during the last step")
    if scaled := verdict.get("scale_out"):
        capped = " (two passed every rate tried: the ratio is a floor)" if scaled["two_capped"] else ""
        print(
            f"\nscale-out: delivered/s at p99 < {scaled['p99_bound_ms']:g} ms, nothing lost: "
            f"one instance {scaled['one_delivered_per_s']:g}, two {scaled['two_delivered_per_s']:g}, "
            f"ratio {scaled['ratio']:g} "
            f"(>= {SCALE_GOAL:g} asked) -> {'met' if scaled['met'] else 'NOT met'}{capped}"
        )
    if GOAL_TARGET not in {result["target"] for result in results}:
        return
    share = verdict.get("share_of_ceiling")
    print(
        f"\ngoal: {GOAL_TARGET} at {GOAL_RATE:g} msgs/s a client, p99 < {GOAL_P99_MS:g} ms, nothing lost, "
        f"all stored: {'passed' if verdict.get('step_passed') else 'FAILED'}; sustainable rate "
        f"{share if share is not None else '-'} of the ceiling's (>= {GOAL_SHARE:g} asked) -> "
        + ("met" if verdict["met"] else "NOT met")
    )
    for result in results:
        print_trace(result)
        if profile := result.get("profile"):
            print_profile(result["target"], profile)


def print_trace(result: dict) -> None:
    """What a traced Parley server did per message sent, in the step at the goal rate (or the last)."""
    traced = [step for step in result["steps"] if "trace" in step]
    if not traced:
        return
    step = next((s for s in traced if s["rate"] == GOAL_RATE), traced[-1])
    trace = step["trace"]
    rows = [
        {"kind": kind, "what": key[:90], "per_msg": count, "wall_ms_per_msg": ms}
        for kind in ("event", "pool", "db", "sql", "redis", "emit")
        for key, count, ms in trace.get(kind, [])[:12]
    ]
    sql = sum(count for _key, count, _ms in trace.get("sql", []))
    db = sum(count for key, count, _ms in trace.get("db", []) if key != "close")
    print(
        f"\ntrace of {result['target']} at {step['rate']:g}/s: {sql:.1f} SQL statements and "
        f"{sql + db:.1f} database round trips a message sent (wall times include waiting); at most "
        f"{trace.get('in_flight_max')} events handled at once"
    )
    print(format_rows(rows, ("kind", "what", "per_msg", "wall_ms_per_msg")))


def print_profile(target: str, profile: dict) -> None:
    """The hottest frames of a profiled step, or why there are none."""
    if "inclusive" not in profile:
        print(f"\nprofile of {target} failed: {profile.get('error')}")
        return
    rate, samples = profile["step"]["rate"], profile["samples"]
    print(f"\nprofile of {target} at {rate:g}/s ({samples} samples of the worker), % of the samples:")
    for title, key in (("self, by package", "packages"), ("self", "self"), ("app frames, inclusive", "app")):
        print(f"  {title}:")
        for frame, pct in profile[key][:15]:
            print(f"  {pct:5.1f}  {frame}")
