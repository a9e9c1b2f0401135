"""``ionto sim campaign``: random scenarios hunting for unsafe behaviour.

Draws N scenarios from a seed (patients, loads, drift, lifts, partial immersions, shorts,
presses, faults), plays each against the complete device program, and checks the safety
properties on the ground truth of every run:

- the true current never exceeds the site limit (the 31 mA series limiter under a component
  fault);
- while in contact, the true current never rises by more than 0.5 mA in 100 ms (except under a
  fault that itself moves the current: a shorted sink, a stuck setpoint, a sagging rail);
- the true current density exceeds the bound for at most 200 ms at a time;
- every fault the device latches is safe within its deadline, counted from the injection.

Every run that breaks a property is saved as a scenario file under ``DIR/violations/``, which
``ionto sim`` replays exactly (the simulator is deterministic for a given file).

The executor is pluggable: :func:`run_campaign` takes any ``concurrent.futures.Executor``. The
default is a local ``ProcessPoolExecutor(max_workers=jobs)``; a campaign too large for one
machine runs unchanged on a cluster engine that offers the same interface, for example a Dask
distributed client's executor (``client.get_executor()``)::

    from dask.distributed import Client
    from firmware.campaign import run_campaign
    with Client("scheduler:8786") as client:
        run_campaign(runs=100_000, seed=7, out=Path("big"), executor=client.get_executor())
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from sim.faults import CATALOGUE
from sim.scenario import parse_scenario

SITE_LIMIT = {"hands": 20.0, "feet": 25.0, "axillae": 5.0}
CHILD_LIMIT = 15.0
LIMITER_MA = 31.0
#: faults that move the current by themselves: a shorted sink, a stuck setpoint, a collapsing
#: rail (the current drops and rebounds as the skin capacitance settles). Under them the bound
#: is the limiter and the fault deadline, not the shock measure.
CURRENT_FAULTS = {"sink_short", "pwm_stuck", "hv_sag"}
#: deadline (ms from the injection to a safe true current) per fault code
DEADLINE_MS = {"R-OC-ABS": 20, "R-OC-REL": 60, "R-NOCMD": 60, "R-CH-AGREE": 110,
               "R-ADC-FAIL": 40, "R-ADC-FROZEN": 20, "R-ADC-STUCK": 2010, "R-HV": 110,
               "R-HW-TRIP": 20, "R-OVERRUN": 220, "R-POLARITY": 110}


def random_scenario(seed: int, index: int) -> dict:
    """One random scenario (as the TOML document's dict), reproducible from (seed, index)."""
    rng = random.Random(seed * 1_000_003 + index)
    site = rng.choice(["hands", "hands", "feet", "axillae"])
    child = site != "axillae" and rng.random() < 0.15
    limit = CHILD_LIMIT if child else SITE_LIMIT[site]
    area = {"hands": 150.0, "feet": 200.0, "axillae": 50.0}[site] * rng.uniform(0.8, 1.2)
    waveform = "pulsed" if rng.random() < 0.3 else "dc"
    duration = rng.choice([5.0, 5.0, 6.0, 10.0])
    protocol = {"site": site, "target_ma": round(rng.uniform(0.3, 1.0) * limit, 2),
                "duration_min": duration, "waveform": waveform, "child": child,
                "ramp_ma_s": rng.choice([0.5, 1.0]), "area_cm2": round(area, 1),
                "reverse_polarity": duration >= 10 and rng.random() < 0.5}
    if waveform == "pulsed":
        protocol.update(pulse_hz=rng.choice([1000, 5000, 10000]),
                        pulse_duty=rng.choice([0.3, 0.5, 0.8]))
    patient = {"load_ohm": round(rng.uniform(500, 10_000), 1),
               "load_drift_per_min": round(rng.uniform(-0.02, 0.0), 4),
               "area_cm2": round(area, 1), "in_water": rng.random() < 0.9}
    events = [{"at_s": 1.0, "do": "press"}]
    t = 3.0
    if not patient["in_water"]:
        t = rng.uniform(3, 20)
        events.append({"at_s": round(t, 3), "do": "immerse"})
    horizon = duration * 60
    for _ in range(rng.randint(0, 6)):
        t += rng.uniform(2.0, horizon / 4)
        kind = rng.choice(["lift", "immerse", "partial", "partial", "short", "unshort", "load"])
        if kind == "partial":
            events.append({"at_s": round(t, 3), "do": "partial",
                           "fraction": round(rng.uniform(0.1, 0.95), 3)})
        elif kind == "short":
            events.append({"at_s": round(t, 3), "do": "short",
                           "ohm": round(rng.uniform(5, 250), 1)})
        elif kind == "load":
            events.append({"at_s": round(t, 3), "do": "immerse"})
        else:
            events.append({"at_s": round(t, 3), "do": kind})
        if kind in ("lift", "short") and rng.random() < 0.7:
            t += rng.uniform(1.0, 20.0)
            events.append({"at_s": round(t, 3), "do": "immerse" if kind == "lift"
                           else "unshort"})
    if rng.random() < 0.35:
        fault = rng.choice(sorted(CATALOGUE))
        params = {}
        if fault == "loop_stall":
            params = {"ms": rng.choice([300, 1000])}
        events.append({"at_s": round(rng.uniform(2.0, horizon * 0.6), 3), "do": "fault",
                       "fault": fault, "params": params})
    if rng.random() < 0.1:
        events.append({"at_s": round(rng.uniform(20, horizon), 3), "do": "press"})
    return {"name": f"campaign-{seed}-{index}", "seed": seed * 1000 + index,
            "protocol": protocol, "patient": patient, "event": events}


def check_properties(doc: dict, summary: dict) -> list[str]:
    """The safety properties of one run: a list of what was broken."""
    p = doc["protocol"]
    faults = [e for e in doc["event"] if e["do"] == "fault"]
    fault_names = {e["fault"] for e in faults}
    limit = CHILD_LIMIT if p.get("child") else SITE_LIMIT[p["site"]]
    bound = LIMITER_MA if faults else limit + 0.3
    bad = []
    if summary["peak_ma"] > bound:
        bad.append(f"true current {summary['peak_ma']:.2f} mA above {bound} mA")
    if not (fault_names & CURRENT_FAULTS) and summary["max_step_ma"] > 0.5:
        bad.append(f"step of {summary['max_step_ma']:.3f} mA in 100 ms")
    if summary.get("density_over_s", 0.0) > 0.2 + 1e-9:
        bad.append(f"density above the bound for {summary['density_over_s']:.3f} s")
    f = summary.get("fault")
    if f and f.get("safe_after_ms") is not None:
        deadline = DEADLINE_MS.get(f["code"])
        if deadline is not None and f["safe_after_ms"] > deadline:
            bad.append(f"{f['code']}: safe after {f['safe_after_ms']} ms (deadline "
                       f"{deadline} ms)")
    return bad


def run_one(seed: int, index: int) -> dict:
    """Play one random scenario; returns its doc, summary figures and violations."""
    from .simrun import run_scenario
    doc = random_scenario(seed, index)
    sc = parse_scenario(doc, f"campaign/{doc['name']}.toml")
    t0 = time.perf_counter()
    summary = run_scenario(sc, None, trace=False)
    summary.pop("events", None)
    return {"doc": doc, "summary": summary, "violations": check_properties(doc, summary),
            "wall_s": time.perf_counter() - t0}


def run_campaign(runs: int, seed: int, out: Path, jobs: int = 1,
                 executor: Executor | None = None, progress: bool = False) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=jobs)
    t0 = time.perf_counter()
    results = []
    try:
        futures = [executor.submit(run_one, seed, i) for i in range(runs)]
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=runs, unit="run", disable=None)
        for fut in futures:
            results.append(fut.result())
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    finally:
        if own:
            executor.shutdown()
    wall = time.perf_counter() - t0
    outcomes: dict[str, int] = {}
    worst = {"peak_ma_over_limit": None, "max_step_ma": 0.0, "max_density_ma_cm2": 0.0,
             "safe_after_ms": 0.0}
    violations = []
    vdir = out / "violations"
    for r in results:
        s = r["summary"]
        outcomes[s["outcome"]] = outcomes.get(s["outcome"], 0) + 1
        p = r["doc"]["protocol"]
        limit = CHILD_LIMIT if p.get("child") else SITE_LIMIT[p["site"]]
        over = s["peak_ma"] - limit
        if worst["peak_ma_over_limit"] is None or over > worst["peak_ma_over_limit"]:
            worst["peak_ma_over_limit"] = round(over, 4)
        worst["max_step_ma"] = max(worst["max_step_ma"], s["max_step_ma"])
        worst["max_density_ma_cm2"] = max(worst["max_density_ma_cm2"], s["max_density_ma_cm2"])
        if s.get("fault") and s["fault"].get("safe_after_ms") is not None:
            worst["safe_after_ms"] = max(worst["safe_after_ms"], s["fault"]["safe_after_ms"])
        if r["violations"]:
            vdir.mkdir(exist_ok=True)
            sc = parse_scenario(r["doc"], f"{r['doc']['name']}.toml")
            (vdir / f"{r['doc']['name']}.toml").write_text(sc.to_toml())
            violations.append({"scenario": r["doc"]["name"], "violations": r["violations"]})
    report = {"runs": runs, "seed": seed, "jobs": jobs, "wall_s": round(wall, 2),
              "runs_per_min": round(runs / wall * 60, 2) if wall else None,
              "outcomes": outcomes, "worst": worst, "violations": violations}
    (out / "campaign.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
