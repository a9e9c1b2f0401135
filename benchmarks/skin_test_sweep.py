"""The contact probe's skin test (controller/contact.py) over the simulator's patients and over
resistive paths: its signature, its verdict, and its false alarms.

Patients are drawn as ``simtools/campaign.py`` draws them (site, electrode area 0.8-1.2 x the
site's, load 500-10,000 ohm, DC or pulsed: the probe is DC either way), with the skin's
specific capacitance and the body's share of the load as given; resistive paths are swept over
the contact range with the hands out of the water. A false alarm is a patient the test calls
``resistive`` (the device would refuse to start); a miss is a resistive path it calls
``skin`` (``unknown`` is no verdict: the test cannot tell at that load, and the device starts).

    python benchmarks/skin_test_sweep.py [--runs 200] [--seed 1] [--skin-uf 0.05]
                                         [--body 0.2]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.limits import Prescription  # noqa: E402
from sim.patient import Patient  # noqa: E402
from simtools.simdevice import SimDevice  # noqa: E402

AREA = {"hands": 150.0, "feet": 200.0, "axillae": 50.0}


def verdict_of(site: str, area: float, patient: Patient, seed: int, child: bool = False):
    """Run to the contact check's verdict; returns (verdict, signature, started)."""
    rx = Prescription(site=site, target_ma=2.0 if site == "axillae" else 5.0, duration_min=5.0,
                      area_cm2=area, child=child)
    dev = SimDevice(rx, patient=patient, seed=seed)
    try:
        dev.run_until_state("IDLE", 5.0)
        dev.press()
        dev.run_until(lambda d: d.controller.delivery.contact.skin.verdict is not None
                      or d.state == "RAMP_UP", 8.0)
        skin = dev.controller.delivery.contact.skin
        return skin.verdict, skin.signature, dev.state == "RAMP_UP"
    finally:
        dev.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skin-uf", type=float, default=0.05, help="uF/cm2 of the model's skin")
    ap.add_argument("--body", type=float, default=0.2, help="the body's share of the load")
    ap.add_argument("--bridges", action="store_true", help="sweep resistive paths instead")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    counts: dict[str, int] = {}
    worst = None
    for i in range(a.runs):
        site = rng.choice(["hands", "hands", "feet", "axillae"])
        area = AREA[site] * rng.uniform(0.8, 1.2)
        load = round(rng.uniform(500, 10_000), 1) if not a.bridges else \
            round(300 * (20_000 / 300) ** rng.random(), 1)
        if a.bridges:
            p = Patient(load_ohm=2000.0, area_cm2=area, contact=0.0, short_ohm=load)
        else:
            p = Patient(load_ohm=load, area_cm2=area, body_fraction=a.body,
                        skin_uf_per_cm2=a.skin_uf)
        v, sig, started = verdict_of(site, area, p, seed=i)
        counts[v] = counts.get(v, 0) + 1
        print(f"{i:4d} {site:8s} area {area:6.1f} load {load:8.1f}  verdict {v!s:9s} "
              f"signature {sig if sig is None else round(sig, 4)!s:8s} started {started}")
        if v == ("skin" if a.bridges else "resistive"):
            worst = (site, area, load, sig)
    what = "misses (resistive called skin)" if a.bridges else "false alarms (patient refused)"
    bad = counts.get("skin" if a.bridges else "resistive", 0)
    print(f"verdicts: {counts}; {what}: {bad} of {a.runs} ({100 * bad / a.runs:.1f} %)"
          + (f"; last: {worst}" if worst else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
