"""Plot a socket_delivery run of nginx-1 and nginx-2: p99 latency and CPU against the offered
rate, one line per target (issue 6's scale-out figure).

    .venv/bin/python -m bench.plot_scale_out bench/results/socket_delivery-<time>.json [--out FILE]
"""

import argparse
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server
import matplotlib.pyplot as plt

from bench.socket_report import GOAL_P99_MS, SCALE_TARGETS

DEFAULT_OUT = Path(__file__).resolve().parent / "scale_out.png"
LABELS = {"nginx-1": "one uWSGI instance", "nginx-2": "two uWSGI instances"}


def load_steps(path: Path) -> dict[str, list[dict]]:
    """The measured steps of each scale-out target (warm-up and profiling steps left out)."""
    results = json.loads(path.read_text())["results"]
    return {
        r["target"]: [s for s in r["steps"] if not s.get("label")]
        for r in results
        if r["target"] in SCALE_TARGETS
    }


def best_delivered(rows: list[dict]) -> float:
    """Delivered/s of the highest passing step before the first failure."""
    best = 0.0
    for step in rows:
        if not step["passed"]:
            break
        best = step["delivered_per_s"]
    return best


def plot(steps: dict[str, list[dict]], title: str, out: Path) -> None:
    """Two panels over the offered rate: p99 with the pass bound, and where the CPU went."""
    figure, (latency, cpu) = plt.subplots(1, 2, figsize=(11, 4.5))
    for target, rows in steps.items():
        offered = [s["offered_per_s"] for s in rows]
        label = f"{LABELS.get(target, target)}: {best_delivered(rows):,.0f} delivered/s"
        line = latency.plot(offered, [s["p99_ms"] for s in rows], marker="o", label=label)[0]
        failed = [(o, s["p99_ms"]) for o, s in zip(offered, rows, strict=True) if not s["passed"]]
        if failed:
            latency.scatter(*zip(*failed, strict=True), marker="x", s=80, color=line.get_color(), zorder=3)
        color = line.get_color()
        name = LABELS.get(target, target)
        cpu.plot(
            offered,
            [s["cpu_percent"]["machine"] for s in rows],
            marker="o",
            color=color,
            label=f"{name}: machine",
        )
        cpu.plot(
            offered,
            [s["cpu_percent"]["server"] for s in rows],
            marker=".",
            linestyle="--",
            color=color,
            label=f"{name}: uWSGI",
        )
    latency.axhline(GOAL_P99_MS, color="grey", linestyle="--", label=f"bound: {GOAL_P99_MS:g} ms")
    latency.set(
        xlabel="messages sent per second (each to 9 members)",
        ylabel="p99 delivery latency (ms)",
        yscale="log",
    )
    latency.set_title("p99 latency (x: step failed)")
    cpu.axhline(100 * (os.cpu_count() or 1), color="grey", linestyle=":", label="every core")
    cpu.set(xlabel="messages sent per second", ylabel="CPU, % of one core")
    cpu.set_title("CPU: the whole machine, and Parley's uWSGI")
    for axes in (latency, cpu):
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> None:
    """Read the results file, write the PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    steps = load_steps(args.results)
    if not steps:
        raise SystemExit(f"{args.results}: no nginx-1 or nginx-2 results")
    plot(steps, f"Parley behind nginx, Redis queue, MariaDB ({args.results.name})", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
