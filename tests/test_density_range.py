"""The density guard across the physiological range of its assumptions, on the ground truth.

The guard infers the immersed area from the load, with a share of the load taken as not scaling
with the area (:func:`controller.immersion.body_fraction_bound`) and a site area that must be no
larger than the real one (:data:`controller.limits.SITE_AREA_CM2`, ``CHILD_AREA_CM2``). Here the
simulated patient has exactly the device's default area (the smallest anatomy the defaults
stand for: any real patient has at least as much) and a share at the corners of the stated
range (a body interior up to 1300 ohm, a share up to 0.8), and a hand or foot goes partly out
of the water at the site's highest current, DC and pulsed. The true density, averaged over
100 ms as in the scenario contract, must stay within the limit.
"""

from __future__ import annotations

import pytest

from controller.immersion import BODY_FRACTION_MAX, BODY_OHM_MAX, body_fraction_bound
from controller.limits import CHILD_AREA_CM2, SITE_AREA_CM2
from sim.scenario import parse_scenario
from simtools.simrun import run_scenario

#: (site, child, DC target mA): each at its highest current
SITES = [("hands", False, 20.0), ("hands", True, 15.0), ("feet", False, 25.0)]
#: (full-immersion load ohm, share that does not scale): the corners of the stated range
SHARES = [(BODY_OHM_MAX / BODY_FRACTION_MAX, BODY_FRACTION_MAX),
          (2600.0, BODY_OHM_MAX / 2600.0)]
FRACTIONS = [0.1, 0.3, 0.5, 0.7, 0.9]
#: the time a hand takes to leave the water (s): a few centimetres at a slow hand's pace. A step
#: in no time (a tenth of the area left in one control period) puts one period's current on the
#: smaller area before the guard can see it: tests/test_regulation.py bounds that time
#: (density_over_s).
LIFT_S = 0.3


def lift(at_s, fraction, seconds=LIFT_S):
    """A hand (foot) going from full immersion to ``fraction`` at an even speed, in steps of a
    control period."""
    n = round(seconds / 0.01)
    return [{"at_s": round(at_s + i * 0.01, 3), "do": "partial",
             "fraction": round(1.0 - (1.0 - fraction) * i / n, 4)} for i in range(1, n + 1)]


def half_out(site, child, target, load, share, fraction, waveform):
    area = (CHILD_AREA_CM2 if child else SITE_AREA_CM2)[site]
    pulsed = {"pulse_hz": 1000, "pulse_duty": 0.8} if waveform == "pulsed" else {}
    doc = {"name": "partly-out", "seed": 3, "end_after_s": 40.0,
           "protocol": {"site": site, "child": child, "target_ma": target, "duration_min": 5.0,
                        "ramp_ma_s": 1.0, "waveform": waveform, **pulsed},
           "patient": {"load_ohm": load, "load_drift_per_min": -0.01, "area_cm2": area,
                       "body_fraction": share},
           "event": [{"at_s": 1.0, "do": "press"}] + lift(33.0, fraction)}
    return run_scenario(parse_scenario(doc, "partly-out.toml"), None, trace=False)


def test_the_stated_range_is_inside_the_bound():
    for load, share in SHARES:
        assert share * load <= BODY_OHM_MAX + 1e-9
        assert share <= body_fraction_bound(load) + 1e-9


@pytest.mark.hazard("H-DENS-1", "H-SITE-1")
@pytest.mark.parametrize("waveform", ["dc", "pulsed"])
@pytest.mark.parametrize("load,share", SHARES, ids=[f"{lo:.0f}ohm-{b:.2f}" for lo, b in SHARES])
@pytest.mark.parametrize("site,child,target", SITES,
                         ids=[f"{s}{'-child' if c else ''}" for s, c, _ in SITES])
def test_partly_out_of_the_water_the_true_density_stays_within_the_limit(
        site, child, target, load, share, waveform):
    for fraction in FRACTIONS:
        s = half_out(site, child, target, load, share, fraction, waveform)
        assert s["treatment_s"] > 0.0, fraction               # it treated before the lift
        assert s["max_density_ma_cm2"] <= 0.2, fraction        # 100 ms means, ground truth
        assert s["density_over_s"] <= 0.02, fraction           # the period before the cut
