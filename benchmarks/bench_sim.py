"""Benchmarks of the controller and the whole device on the simulator (figures, not tests).

    python benchmarks/bench_sim.py [--campaign-runs 6] [--soak-hours 24] [--skip-soak | --soak-only]

Prints:
- us per control step of the controller alone (a live treating one: ``bench_limit.py``);
- us per control period of the full stack (device program, HAL, real drivers, simulator);
- a 20-minute hands session through the full stack: simulated seconds per wall second, with
  and without writing trace.csv;
- campaign throughput, runs per minute with 1 and 2 processes;
- resident memory over back-to-back sessions (--soak-hours of simulated time): after the first
  session and at the end (target: within +10 MB).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from firmware.treatlog import FIRST_PROFILE  # noqa: E402
from sim.scenario import parse_scenario  # noqa: E402
from simtools.campaign import run_campaign  # noqa: E402
from simtools.simrun import ScenarioRun, run_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hands_20min() -> dict:
    return {"name": "bench-hands-20", "protocol": {"site": "hands", "target_ma": 15.0,
                                                   "duration_min": 20.0},
            "patient": {"load_ohm": 2000}, "event": [{"at_s": 1.0, "do": "press"}]}


def bench_controller_alone() -> float:
    """µs a step of the controller alone: a live, treating one, the twin of a session's own
    controller on that session's inputs from its first period (``bench_limit.py``; an earlier
    version fed a fresh controller inputs taken in the middle of a session, and timed a
    controller that had latched R-NOCMD on the first of them)."""
    import bench_limit

    return bench_limit.measure(60.0, 3)["controller_us"]


def bench_session(trace: bool) -> tuple[float, float]:
    sc = parse_scenario(hands_20min(), "bench.toml")
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        s = run_scenario(sc, Path(d) if trace else None, trace=trace)
        wall = time.perf_counter() - t0
    return s["sim_s"] / wall, wall / (s["sim_s"] / 0.01) * 1e6


def bench_campaign(runs: int, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        rep = run_campaign(runs, seed=1, out=Path(d), jobs=jobs)
    return rep["runs_per_min"]


def bench_soak(hours: float) -> tuple[float, float, dict[str, int], float]:
    """Back-to-back 20-minute sessions on one device for `hours` of simulated time.

    Sessions are counted by a session listener, not by `sessions_done`, which keeps only the
    last 50."""
    doc = hands_20min()
    # a session: 30 s of ramp up, 20 min at target, 30 s of ramp down, then the DONE screen
    # that asks for the weekly score (30 s) and the quiet 3 s after it; a START before then is
    # not taken (controller/rating.py)
    session_s = 20 * 60 + 110
    n = max(2, int(hours * 3600 // session_s))
    # A session that counted makes the course refuse another within 20 hours (the patient's
    # next sitting is another day): before each later one, the technician grants the
    # one-session override over the console, as on a unit.
    # The first login computes the PIN's scrypt hash, whose 16 MiB of working memory the
    # allocator keeps: logged in once before the first session, that is in the first figure
    # and not taken for growth.
    doc["event"] = [{"at_s": 0.2, "do": "console", "line": "login 123456"},
                    {"at_s": 0.5, "do": "console", "line": "logout"},
                    {"at_s": 1.0, "do": "press"}]
    for i in range(1, n):
        t = 1.0 + i * session_s
        doc["event"] += [{"at_s": t - 4.0, "do": "console", "line": "login 123456"},
                         {"at_s": t - 3.0, "do": "console",
                          "line": f"profile override {FIRST_PROFILE}"},
                         {"at_s": t - 2.0, "do": "console", "line": "logout"},
                         {"at_s": t, "do": "press"}]
    doc["end_after_s"] = n * session_s
    run = ScenarioRun(parse_scenario(doc, "soak.toml"), None, trace=False)
    outcomes: dict[str, int] = {}
    run.program.controller.session_listeners.append(
        lambda sess: outcomes.__setitem__(sess.outcome, outcomes.get(sess.outcome, 0) + 1))
    first = None
    t0 = time.perf_counter()
    while not run.finished():
        run.step()
        if first is None and outcomes:
            gc.collect()
            first = rss_mb()
    gc.collect()
    end = rss_mb()
    sim = run.clock.now()
    run.close()
    return first, end, outcomes, sim / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--campaign-runs", type=int, default=6)
    ap.add_argument("--soak-hours", type=float, default=24.0)
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--skip-soak", action="store_true")
    which.add_argument("--soak-only", action="store_true",
                       help="only the soak (the 24-hour one takes 40 to 60 minutes)")
    args = ap.parse_args()
    if args.soak_only:
        return soak(args.soak_hours)
    print(f"controller alone:           {bench_controller_alone():8.1f} us per step")
    speed, per = bench_session(trace=False)
    print(f"full stack, 20-min session: {per:8.1f} us per period, {speed:.0f}x real time")
    speed_t, _ = bench_session(trace=True)
    print(f"  same, writing trace.csv:  {speed_t:.0f}x real time")
    r1 = bench_campaign(args.campaign_runs, 1)
    r2 = bench_campaign(args.campaign_runs, 2)
    print(f"campaign: {r1:.1f} runs/min with 1 process, {r2:.1f} with 2 "
          f"({r2 / r1:.2f}x)")
    if not args.skip_soak:
        soak(args.soak_hours)


def soak(hours: float) -> None:
    first, end, outcomes, sp = bench_soak(hours)
    ended = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    print(f"soak {hours:g} h simulated ({sum(outcomes.values())} sessions: {ended}; "
          f"{sp:.0f}x): RSS "
          f"{first:.1f} MB after the first session, {end:.1f} MB at the end "
          f"({end - first:+.1f} MB; target within +10 MB)")


if __name__ == "__main__":
    main()
