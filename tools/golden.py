"""Recorded outputs of the simulator: every scenario and a fixed set of campaign runs.

    python tools/golden.py record --why TEXT [--jobs 2] [--only NAME ...]
    python tools/golden.py check [--jobs 2] [--only NAME ...]
    python tools/golden.py screens [--record]

``record`` plays every scenario in ``scenarios/`` and :data:`CAMPAIGN_RUNS` random campaign
scenarios (a fixed seed, short and full profile mixed) and writes ``tests/golden/outputs.json``:
for each run the SHA-256 of ``trace.csv`` and of ``summary.json`` without ``wall_s`` and
``speed`` (the only fields that depend on the machine), and the summary's figures in clear (all
but the event list, which is kept as a count and its own digest) so that a difference says what
changed. ``check`` plays them again and exits 1 naming each run whose outputs differ and the
first field that does. ``record --only`` records the named runs again and keeps every other
run's record: for a change that moves a few runs on purpose (a full ``check`` afterwards shows
that nothing else moved).

The record is what the device program and the simulator did: a change meant to be only faster
(the simulator's hot loops, the scenario runner) must leave every byte of it as it was. A
change of the physics model or of the device's behaviour that moves the results is recorded
again on purpose, with ``record``, in a commit of its own that says why.

``screens`` compares the patient's screens, as the emulated display's glass shows them, with
the images in ``tests/golden/screens/`` (``simtools/screenshots.py``); ``screens --record``
writes them again (after a change of a screen's words or layout, in a commit that says so).

In CI the check rides on the test suite, which already plays every scenario once:
``tests/test_scenarios.py`` compares each scenario's outputs with this record, and
``tests/test_golden.py`` plays the campaign runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECORD = ROOT / "tests" / "golden" / "outputs.json"
SCENARIOS = ROOT / "scenarios"
#: the summary's fields that depend on the machine, not on the simulation
MACHINE_FIELDS = ("wall_s", "speed")
CAMPAIGN_SEED = 20261202
CAMPAIGN_RUNS = 40


def campaign_runs() -> list[tuple[str, int, int, str]]:
    """(name, seed, index, profile) of the recorded campaign runs: 30 of the short profile
    (the CI gate's) and 10 whole sessions."""
    runs = [("short", i) for i in range(30)] + [("full", i) for i in range(10)]
    return [(f"campaign-{p}-{CAMPAIGN_SEED}-{i}", CAMPAIGN_SEED, i, p) for p, i in runs]


def stripped_summary(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in MACHINE_FIELDS}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def outputs_entry(out_dir: Path) -> dict:
    """The record of one run from its output folder (summary.json and trace.csv)."""
    summary = json.loads((Path(out_dir) / "summary.json").read_text())
    clean = stripped_summary(summary)
    text = json.dumps(clean, indent=1, sort_keys=True)
    events = clean.get("events", [])
    figures = {k: v for k, v in clean.items() if k != "events"}
    return {"summary_sha256": sha256(text.encode()),
            "trace_sha256": sha256((Path(out_dir) / "trace.csv").read_bytes()),
            "figures": figures, "events": len(events),
            "events_sha256": sha256(json.dumps(events, sort_keys=True).encode())}


def _flatten(d, prefix=""):
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out if d else {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): d}


def differences(name: str, recorded: dict | None, now: dict) -> list[str]:
    """What differs between a recorded run and this one, in words (empty: the same)."""
    if recorded is None:
        return [f"{name}: not in the record ({RECORD.relative_to(ROOT)}); record it on purpose"]
    bad = []
    if recorded["summary_sha256"] != now["summary_sha256"]:
        a, b = _flatten(recorded["figures"]), _flatten(now["figures"])
        first = next((k for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") !=
                      b.get(k, "<absent>")), None)
        if first is not None:
            what = f"first differing field {first}: {a.get(first, '<absent>')!r} recorded, " \
                   f"{b.get(first, '<absent>')!r} now"
        elif recorded["events"] != now["events"]:
            what = f"events: {recorded['events']} recorded, {now['events']} now"
        else:
            what = "the event list differs"
        bad.append(f"{name}/summary.json differs: {what}")
    if recorded["trace_sha256"] != now["trace_sha256"]:
        bad.append(f"{name}/trace.csv differs (sha256 {recorded['trace_sha256'][:12]} recorded,"
                   f" {now['trace_sha256'][:12]} now)")
    return bad


def play_scenario(path: str, out_dir: str) -> dict:
    from sim.scenario import load_scenario
    from simtools.simrun import run_scenario
    run_scenario(load_scenario(Path(path)), Path(out_dir), trace=True)
    return outputs_entry(Path(out_dir))


def play_campaign(seed: int, index: int, profile: str, out_dir: str) -> dict:
    from sim.scenario import parse_scenario
    from simtools.campaign import random_scenario
    from simtools.simrun import run_scenario
    doc = random_scenario(seed, index, profile)
    run_scenario(parse_scenario(doc, f"campaign/{doc['name']}.toml"), Path(out_dir), trace=True)
    return outputs_entry(Path(out_dir))


def _job(kind: str, args: tuple, out_dir: str) -> dict:
    return play_scenario(*args, out_dir) if kind == "scenario" else play_campaign(*args, out_dir)


def all_runs(only: list[str] | None = None) -> list[tuple[str, str, tuple]]:
    runs = [(p.stem, "scenario", (str(p),)) for p in sorted(SCENARIOS.glob("*.toml"))]
    runs += [(name, "campaign", (seed, i, prof)) for name, seed, i, prof in campaign_runs()]
    if only:
        runs = [r for r in runs if r[0] in only]
    return runs


def play_all(jobs: int, only: list[str] | None = None) -> dict[str, dict]:
    runs = all_runs(only)
    with tempfile.TemporaryDirectory(prefix="ionto-golden-") as tmp, \
            ProcessPoolExecutor(max_workers=jobs) as ex:
        futs = {name: ex.submit(_job, kind, args, str(Path(tmp) / name))
                for name, kind, args in runs}
        out = {}
        for name, fut in futs.items():
            out[name] = fut.result()
            print(f"  {name}", file=sys.stderr, flush=True)
        return out


def load_record() -> dict:
    return json.loads(RECORD.read_text())


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["record", "check", "screens"])
    ap.add_argument("--record", action="store_true", help="screens: write the images again")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--only", nargs="*", help="check (or record again) only these runs "
                                              "(scenario stems or campaign run names); the "
                                              "others keep their record")
    ap.add_argument("--why", default="", help="record: why the outputs are recorded again")
    a = ap.parse_args(argv)
    if a.action == "screens":
        from simtools import screenshots
        if a.record:
            names = screenshots.record()
            print(f"recorded {len(names)} screens in "
                  f"{screenshots.GOLDEN_DIR.relative_to(ROOT)}")
            return 0
        bad = screenshots.differences()
        for line in bad:
            print(line)
        print(f"{len(screenshots.VIEWS)} screens: "
              f"{f'{len(bad)} differences' if bad else 'all as recorded'}")
        return 1 if bad else 0
    if a.record:
        ap.error("--record is for screens; record the outputs with: record --why TEXT")
    if a.only:
        unknown = sorted(set(a.only) - {name for name, _, _ in all_runs()})
        if unknown:
            ap.error(f"--only: no such run: {', '.join(unknown)} (scenario stems in scenarios/ "
                     "or campaign run names)")
    if a.action == "record":
        if not a.why.strip():
            ap.error("record needs --why: the reason the outputs are recorded again")
        if a.only:
            # a run named on purpose is recorded again; every other keeps its record (and the
            # next full check still plays them all)
            try:
                doc = load_record()
            except FileNotFoundError:
                ap.error("no record yet: record everything first (without --only)")
            runs = play_all(a.jobs, a.only)
            doc["runs"].update(runs)
            doc["runs"] = dict(sorted(doc["runs"].items()))
            doc["why"] = f"{doc.get('why', '')}; {_commit()}: {', '.join(sorted(runs))}: {a.why}"
        else:
            runs = play_all(a.jobs)
            doc = {"recorded_on": _commit(), "why": a.why,
                   "campaign": {"seed": CAMPAIGN_SEED, "runs": CAMPAIGN_RUNS},
                   "runs": dict(sorted(runs.items()))}
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"recorded {len(runs)} runs in {RECORD.relative_to(ROOT)}")
        return 0
    try:
        rec = load_record()["runs"]
    except FileNotFoundError:
        print(f"no record at {RECORD.relative_to(ROOT)}: run `python tools/golden.py record` "
              "first", file=sys.stderr)
        return 2
    runs = play_all(a.jobs, a.only)
    bad = [line for name, now in runs.items() for line in differences(name, rec.get(name), now)]
    if not a.only:
        bad += [f"{name}: recorded but no longer played" for name in sorted(set(rec) - set(runs))]
    for line in bad:
        print(line)
    verdict = f"{len(bad)} differences" if bad else "all outputs as recorded"
    print(f"{len(runs)} runs played: {verdict}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
