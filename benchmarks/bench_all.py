"""Every figure of the README's performance table, from one command.

    python benchmarks/bench_all.py [--soak-hours 2] [--campaign-runs 40] [--ab-rounds 3]
        [--suite] [--readme]

Gathers the hardware-loop figures (``bench_foundation.py``), the controller alone and the
architecture's limit (``bench_limit.py``), the full-stack figures (``bench_sim.py``), the
session's A/B against the code the speed work began from (``ab_session.py``), the reaction
time of every safety rule (the treatment column of the fault-injection matrix: simulated
milliseconds, identical on any machine), the campaign throughput (the CI gate's short profile
and whole sessions, 1 and 2 processes), resident memory over back-to-back sessions and, with
``--suite``, the wall time of the README's test command. Prints a Markdown table;
``--readme`` also writes it into README.md between the ``bench:begin``/``bench:end`` markers.
Times are wall-clock figures of the machine it runs on: quote them with the machine, never
assert them in a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import ab_session  # noqa: E402
import bench_display as bd  # noqa: E402
import bench_foundation as bf  # noqa: E402
import bench_sim as bs  # noqa: E402

from simtools.campaign import run_campaign  # noqa: E402
from simtools.faultmatrix import DEADLINE_MS, run_matrix  # noqa: E402

README = ROOT / "README.md"
#: the code when the speed work began (the session's A/B is measured against it)
AB_AGAINST = "141d549"
#: the targets measured here: a session 1.5 times as fast as on AB_AGAINST (the goal 2), the
#: test suite in a third of its 12 minutes then (CI's, two thirds of its 31 minutes, is measured
#: by a fresh-clone run of .ci/run: README.md, "Performance")
SESSION_TARGET, SUITE_TARGET_S = 1.5, 240
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def campaign_rate(runs: int, jobs: int, profile: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        rep = run_campaign(runs, seed=1, out=Path(d), jobs=jobs, profile=profile)
        wall = time.perf_counter() - t0
    if rep["violations"]:
        print(f"note: {len(rep['violations'])} campaign run(s) broke a property",
              file=sys.stderr)
    return runs / wall * 60


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--soak-hours", type=float, default=2.0)
    ap.add_argument("--campaign-runs", type=int, default=40,
                    help="runs of the short profile per measurement (a fifth as many whole "
                    "sessions)")
    ap.add_argument("--ab-rounds", type=int, default=3,
                    help="rounds of the session A/B against the issue's starting commit "
                    f"{AB_AGAINST} (0: not measured)")
    ap.add_argument("--suite", action="store_true",
                    help="also time the README's test command (10 to 20 minutes on 2 cores)")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = ap.parse_args(argv)
    rows: list[tuple[str, str]] = []

    def row(what: str, value: str) -> None:
        rows.append((what, value))
        print(f"{what}: {value}", file=sys.stderr, flush=True)

    sample_us = bf.best(lambda: bf.bench_sample(5000), 3)
    row("four-channel sample, real adafruit driver on the emulator", f"{sample_us:.0f} µs")
    setpoint_us = bf.best(lambda: bf.bench_setpoint(20000), 3)
    row("setpoint write (gpiozero PWM device, simulated pin)", f"{setpoint_us:.1f} µs")
    _wall, speed, period_us = max((bf.bench_loop(60.0) for _ in range(3)), key=lambda r: r[1])
    row("bare 100 Hz hardware loop (sample, setpoint, WDI)",
        f"{period_us:.0f} µs a period, {speed:.0f}x real time")
    # in a fresh interpreter: in this one, after the benchmarks above, the same replay measured
    # 153 µs a period, against 104 to 111 µs in a fresh one (more for the garbage collector to
    # scan, most likely); the Pi's program is a fresh interpreter too
    lim = json.loads(subprocess.run([sys.executable, str(HERE / "bench_limit.py"), "--json"],
                                    check=True, capture_output=True, text=True).stdout)
    row("control step, the controller alone (a live, treating one: `bench_limit.py`)",
        f"{lim['controller_us']:.1f} µs")
    row("the architecture's limit: the production code of a period (controller, HAL, "
        "adafruit driver, gpiozero) on a bus and pins that cost nothing (`bench_limit.py`)",
        f"{lim['us']:.0f} µs a period: at most **{lim['limit_x']:.0f}x real time** for any "
        "simulator under these drivers in CPython")
    speed, per = bs.bench_session(trace=False)
    speed_t, _ = bs.bench_session(trace=True)
    row("full stack, 20-minute hands session",
        f"{per:.0f} µs a period: **{speed:.0f}x real time** ({speed_t:.0f}x writing "
        f"trace.csv); the control core's production code, {lim['us']:.0f} µs in a fresh "
        f"interpreter, would be {100 * lim['us'] / per:.0f} % of it; the rest is the "
        f"simulator, the recorder and the device program's own per-period work (its log, "
        f"course, display and indicator: production code too); in one round of "
        f"`bench_limit.py` the control core is {100 * lim['share']:.0f} % of its period on "
        "the simulator")
    if args.ab_rounds:
        ab = ab_session.run_ab(AB_AGAINST, args.ab_rounds,
                               scenario=ROOT / "scenarios" / "hands-typical.toml",
                               say=lambda text: print(text, file=sys.stderr, flush=True))
        r = ab["this tree"]
        row(f"session speed against `{AB_AGAINST}` (`ab_session.py`, {args.ab_rounds} "
            "interleaved rounds, trace.csv written)",
            f"**{r['cpu']:.2f}x** CPU a session ({r['cpu_per_sim_s']:.2f}x a simulated "
            f"second; rounds {', '.join(f'{x:.2f}' for x in r['cpu_rounds'])}), wall "
            f"{r['wall']:.2f}x; target {SESSION_TARGET:g}x: {r['cpu'] / SESSION_TARGET:.2f}")

    row("the patient's display, first minute of a hands session (`bench_display.py`)",
        bd.readme_value(bd.measure(5, 60.0, say=lambda text: print(text, file=sys.stderr))))

    cells = run_matrix(jobs=2, phases=["TREAT"])
    parts = []
    for c in sorted(cells, key=lambda c: (c.code or "~", c.fault)):
        if c.code and c.code.startswith("R-"):
            parts.append(f"{c.code} ({c.fault}) {c.detected_after_ms:g}/{c.safe_after_ms:g}"
                         f" ≤ {DEADLINE_MS[c.code]}")
    row("reaction per rule, fault injected while treating: detected/safe ms (simulated) ≤ "
        "deadline", "; ".join(parts))

    n = args.campaign_runs
    s1, s2 = campaign_rate(n, 1, "short"), campaign_rate(n, 2, "short")
    f1, f2 = campaign_rate(max(2, n // 5), 1, "full"), campaign_rate(max(2, n // 5), 2, "full")
    row("campaign, short profile (the CI gate)",
        f"{s1:.1f} runs/min with 1 process, {s2:.1f} with 2 ({s2 / s1:.2f}x): "
        f"**{s2 / 2:.1f} runs a minute a core**, so CI's 1000 runs take "
        f"{1000 / s2:.0f} min on 2 cores")
    row("campaign, whole sessions", f"{f1:.1f} runs/min with 1 process, {f2:.1f} with 2 "
        f"({f2 / f1:.2f}x)")
    if args.soak_hours > 0:
        first, end, outcomes, sp = bs.bench_soak(args.soak_hours)
        row(f"resident memory, back-to-back sessions ({args.soak_hours:g} h simulated, "
            f"{sum(outcomes.values())} sessions)",
            f"{first:.1f} MB after the first session, {end:.1f} MB at the end "
            f"({end - first:+.1f} MB; target within +10 MB)")

    if args.suite:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                              cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"
        row("the test suite, the README's command (`python -m pytest`, 2 workers)",
            f"{wall:.0f} s ({tail.strip('= ')}); target {SUITE_TARGET_S} s: "
            f"{SUITE_TARGET_S / wall:.2f}")

    cpu = platform.processor() or platform.machine()
    opts = f" --ab-rounds {args.ab_rounds}" + (" --suite" if args.suite else "")
    head = (f"Measured with `python benchmarks/bench_all.py --soak-hours {args.soak_hours:g} "
            f"--campaign-runs {n}{opts}` on {os.cpu_count()} cores ({cpu}, Python "
            f"{platform.python_version()}), {time.strftime('%Y-%m-%d')}, code {_code()}.")
    table = "\n".join([head, "", "| figure | value |", "| --- | --- |"] +
                      [f"| {w} | {v} |" for w, v in rows])
    print(table)
    if args.readme:
        text = README.read_text(encoding="utf-8")
        if BEGIN not in text or END not in text:
            print(f"README.md has no {BEGIN} ... {END} block", file=sys.stderr)
            return 1
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END),
                      lambda _m: f"{BEGIN}\n{table}\n{END}", text, flags=re.S)
        README.write_text(text, encoding="utf-8")
        print("wrote README.md", file=sys.stderr)
    return 0


def _code() -> str:
    """The commit the figures belong to (``-dirty`` when the working tree has changes)."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"],
                             cwd=README.parent, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "`unknown` (no git)"
    return f"`{out.stdout.strip()}`" if out.returncode == 0 else "`unknown` (not a git checkout)"


if __name__ == "__main__":
    sys.exit(main())
