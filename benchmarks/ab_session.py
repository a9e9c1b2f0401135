"""A/B: a whole 20-minute hands session in this tree against another commit, interleaved.

    python benchmarks/ab_session.py --against 141d549 [--rounds 5] [--base REV] [--also REV]
        [--scenario scenarios/hands-typical.toml] [--no-trace]

Exports ``--against`` (and ``--base``, if given; else this work tree as it is, edits included)
with ``git archive`` into a temporary folder and plays the same scenario file in each tree
alternately (A B, B A, A B, ...; ``--also`` adds more commits to every round, e.g. the code
before a speed-up, so that before and after are measured in one run), each run in a fresh
interpreter (``ionto sim FILE --quiet``, no plot, trace.csv written, as the command is used), so
that the trees share the machine's state (load from others, CPU clock, caches) as evenly as it
can be shared. Prints each round's wall and CPU time and, at the end, the median of the
per-round ratios (against / this), of the wall time, of the CPU time and of the CPU time a
simulated second (the figure to quote when the two sessions play unequal lengths): above 1
means this tree is faster. The ratio is the figure to quote; absolute times are the machine's.
On a machine shared with other work the CPU ratios are the steadier.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export(rev: str, dest: Path) -> Path:
    """``git archive REV`` unpacked in ``dest``."""
    dest.mkdir(parents=True)
    arc = dest.with_suffix(".tar")
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(arc), rev],
                   check=True)
    with tarfile.open(arc) as tf:
        tf.extractall(dest, filter="data")
    arc.unlink()
    return dest


def play(tree: Path, scenario: Path, out: Path, trace: bool) -> dict:
    """One session in a fresh interpreter in ``tree``: wall and CPU seconds, and sim_s."""
    if trace:
        code = ("import sys; from firmware.cli import main; "
                "sys.exit(main(['sim', sys.argv[1], '--out', sys.argv[2], '--quiet']))")
    else:
        # the scenario runner's module: simtools.simrun since the folder split, firmware.simrun
        # in the older trees an A/B compares against
        runner = "simtools" if (tree / "simtools" / "simrun.py").exists() else "firmware"
        code = ("import sys, json; from pathlib import Path; "
                f"from {runner}.simrun import run_scenario; "
                "from sim.scenario import load_scenario; "
                "s = run_scenario(load_scenario(Path(sys.argv[1])), Path(sys.argv[2]), "
                "trace=False); "
                "Path(sys.argv[2], 'summary.json').write_text(json.dumps(s))")
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, str(scenario), str(out)], cwd=tree, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1):   # 1: the scenario's [expect] not met (still a session)
        sys.exit(f"{tree}: the session failed (exit {r.returncode}):\n{r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads((out / "summary.json").read_text())
    return {"wall": wall, "cpu": cpu, "sim_s": summary["sim_s"]}


def run_ab(against: str, rounds: int, *, scenario: Path, trace: bool = True,
           base: str | None = None, also: tuple[str, ...] = (), say=print) -> dict:
    """The interleaved A/B; returns, for each tree but ``against``, the medians of its per-round
    ratios: ``{"wall": .., "cpu": .., "cpu_per_sim_s": ..}``."""
    with tempfile.TemporaryDirectory(prefix="ionto-ab-") as tmp:
        tmp = Path(tmp)
        trees = [(base or "this tree", export(base, tmp / "base") if base else ROOT)]
        trees += [(rev, export(rev, tmp / f"also-{i}")) for i, rev in enumerate(also)]
        trees.append((against, export(against, tmp / "against")))
        names = [n for n, _ in trees]
        say(f"A/B on {scenario.name}: {', '.join(names[:-1])} against {against}, "
            f"{rounds} rounds (trace.csv {'' if trace else 'not '}written)")
        ratios: dict[str, list[float]] = {n: [] for n in names[:-1]}
        cpu_ratios: dict[str, list[float]] = {n: [] for n in names[:-1]}
        # CPU a simulated second: a tree whose session plays longer (the DONE screen that asks
        # for the weekly score holds 20 s more) is judged on the same work
        rate_ratios: dict[str, list[float]] = {n: [] for n in names[:-1]}
        for i in range(rounds):
            k = i % len(trees)
            order = trees[k:] + trees[:k] if i % 2 == 0 else (trees[k:] + trees[:k])[::-1]
            res = {}
            for j, (name, tree) in enumerate(order):
                res[name] = play(tree, scenario, tmp / f"out-{i}-{j}", trace)
            ref = res[against]
            parts = []
            for name in names:
                r = res[name]
                if r["sim_s"] != ref["sim_s"]:
                    say(f"  note: {name} played {r['sim_s']} s, {against} {ref['sim_s']} s")
                part = f"{name} {r['wall']:6.2f} s wall {r['cpu']:6.2f} s CPU"
                if name != against:
                    ratios[name].append(ref["wall"] / r["wall"])
                    cpu_ratios[name].append(ref["cpu"] / r["cpu"])
                    rate_ratios[name].append(ref["cpu"] / ref["sim_s"] / (r["cpu"] / r["sim_s"]))
                    part += f" (ratio {ratios[name][-1]:.3f}, CPU {cpu_ratios[name][-1]:.3f})"
                parts.append(part)
            say(f"round {i + 1}: " + " | ".join(parts))
    out = {}
    for name in names[:-1]:
        out[name] = {"wall": statistics.median(ratios[name]),
                     "cpu": statistics.median(cpu_ratios[name]),
                     "cpu_per_sim_s": statistics.median(rate_ratios[name]),
                     "cpu_rounds": cpu_ratios[name]}
        say(f"median ratio {against} / {name}: {out[name]['wall']:.3f} wall, "
            f"{out[name]['cpu']:.3f} CPU, {out[name]['cpu_per_sim_s']:.3f} CPU a simulated "
            f"second ({rounds} rounds; above 1: {name} is faster)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", required=True, metavar="REV", help="the commit to compare with")
    ap.add_argument("--base", metavar="REV", help="a commit instead of this work tree")
    ap.add_argument("--also", action="append", default=[], metavar="REV",
                    help="also play this commit in every round (before/after in one run)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scenario", default="scenarios/hands-typical.toml")
    ap.add_argument("--no-trace", action="store_true", help="do not write trace.csv")
    a = ap.parse_args(argv)
    run_ab(a.against, a.rounds, scenario=(ROOT / a.scenario).resolve(), trace=not a.no_trace,
           base=a.base, also=tuple(a.also), say=lambda text: print(text, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
