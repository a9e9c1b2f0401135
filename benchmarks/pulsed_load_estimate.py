"""The load estimate in pulsed DC against the truth: averaged electrode voltage over averaged
current, at full immersion and after a lift to part of it, on the complete device program and
the simulator.

    PYTHONPATH=. python benchmarks/pulsed_load_estimate.py

Prints, per case (duty, frequency, load, immersed fraction): the estimate over the true load at
full immersion, the estimate's ratio (partial over full) over the true ratio, and the largest
true density of the run; then the lowest and highest per duty. About 2 minutes on one core.
``controller.session.pulsed_load_bias`` quotes its figures.
"""

from __future__ import annotations

import csv
import itertools
import statistics
import tempfile
from pathlib import Path

from sim.scenario import parse_scenario
from simtools.simrun import run_scenario

DUTIES = (0.3, 0.5, 0.8)


def case(duty: float, hz: int, load: float, frac: float, out: Path):
    doc = {"name": "bias", "seed": 3, "end_after_s": 45.0,
           "protocol": {"site": "hands", "target_ma": 6.0, "duration_min": 5.0,
                        "waveform": "pulsed", "pulse_hz": hz, "pulse_duty": duty,
                        "ramp_ma_s": 1.0, "area_cm2": 150.0},
           "patient": {"load_ohm": load, "load_drift_per_min": 0.0, "area_cm2": 150.0},
           "event": [{"at_s": 1.0, "do": "press"},
                     {"at_s": 30.0, "do": "partial", "fraction": frac}]}
    summary = run_scenario(parse_scenario(doc, "bias.toml"), out, trace=True)
    with open(out / "trace.csv", newline="") as f:
        trace = list(csv.DictReader(f))

    def estimate(a: float, b: float) -> tuple[float, float] | None:
        rows = [r for r in trace if a <= float(r["t_s"]) <= b and float(r["measured_ma"]) > 0.5]
        if not rows:
            return None
        est = statistics.mean(abs(float(r["electrode_v"])) / float(r["measured_ma"]) * 1000.0
                              for r in rows)
        return est, statistics.mean(float(r["load_ohm"]) for r in rows)

    full, part = estimate(25.0, 29.5), estimate(40.0, 44.9)
    if full is None or part is None:
        return None
    (m1, t1), (m2, t2) = full, part
    return m1 / t1, (m2 / m1) / (t2 / t1), summary["max_density_ma_cm2"]


def main() -> None:
    rows = []
    print("duty hz load fraction full_est/true ratio_est/ratio_true max_density")
    with tempfile.TemporaryDirectory() as tmp:
        for duty, hz, load, frac in itertools.product(DUTIES, (1000, 10000), (600.0, 3000.0),
                                                      (0.5, 0.15, 0.05)):
            r = case(duty, hz, load, frac, Path(tmp, f"{duty}-{hz}-{load}-{frac}"))
            if r is None:
                print(duty, hz, load, frac, "no current above 0.5 mA after the lift")
                continue
            rows.append((duty, *r))
            print(duty, hz, load, frac, *(f"{x:.3f}" for x in r), flush=True)
    for d in DUTIES:
        sel = [r for r in rows if r[0] == d]
        print(f"duty {d}: full estimate/true {min(r[1] for r in sel):.3f} to "
              f"{max(r[1] for r in sel):.3f}; ratio estimate/true {min(r[2] for r in sel):.3f} "
              f"to {max(r[2] for r in sel):.3f}")


if __name__ == "__main__":
    main()
