"""The calibration's error budget: a reference meter that reads off is refused by the test
load's I x R, and what an accepted calibration may still be off cannot take the current over
a site's limit. Judged on the simulator's ground truth (the true patient current); the meter
is the simulator's (sim.rig.ReferenceMeter: the true test-load current times its factor)."""

from __future__ import annotations

import pytest

from controller.session import CAL_BUDGET
from firmware import calibration as calmod
from sim.rig import ReferenceMeter
from sim.scenario import parse_scenario
from simtools.simrun import ScenarioRun

HANDS_LIMIT_MA = 20.0


def calibrate_then_treat(factor, *, end_s=60.0):
    """The technician calibrates against a meter reading ``factor`` x the truth (a first
    reference step to read the meter, discarded; then the calibration from the reading), saves
    it, and the patient treats at the hands' limit. Returns the summary and the console."""
    lines = ["login 123456", "cal zero", "cal ref 10.0", "cal discard", "cal zero",
             "cal ref {meter}", "cal save"]
    events = [{"at_s": 2.0, "do": "meter", "factor": factor}]
    events += [{"at_s": 3.0 + 1.5 * k, "do": "console", "line": x} for k, x in enumerate(lines)]
    events.append({"at_s": 16.0, "do": "press"})
    raw = {"name": "cal-budget", "end_after_s": end_s,
           # the technician entered the patient's measured area (150 cm2, as the simulated
           # patient's), so that the density guard does not bind below the site's limit
           "protocol": {"site": "hands", "target_ma": HANDS_LIMIT_MA, "duration_min": 5.0,
                        "ramp_ma_s": 1.0, "area_cm2": 150.0},
           "patient": {"load_ohm": 2000, "area_cm2": 150.0}, "event": events}
    run = ScenarioRun(parse_scenario(raw), None, trace=False)
    try:
        summary = run.run()
        cal = calmod.load(run.data_dir, run.board)
    finally:
        run.close()
    console = [e["detail"] for e in summary["events"] if e["kind"] == "console"]
    return summary, console, cal


@pytest.mark.hazard("H-CAL-2")
@pytest.mark.parametrize("factor", [0.971, 1.029, 0.985, 1.015])
def test_a_calibration_against_a_meter_that_reads_off_is_refused(factor):
    summary, console, cal = calibrate_then_treat(factor)
    refusal = [c for c in console if c.startswith("ERR REJECTED: the meter reads")]
    assert refusal and "I x R" in refusal[0] and "check the reference meter" in refusal[0]
    assert any("ERR STATE: nothing to save" in c for c in console)
    assert cal.a_gain == 1.0 and cal.b_gain == 1.0  # the factory record stands
    assert summary["peak_avg_ma"] <= HANDS_LIMIT_MA
    assert summary["fault"] is None


@pytest.mark.hazard("H-CAL-2")
@pytest.mark.parametrize("factor", [0.991, 1.0, 1.009])
def test_an_accepted_calibration_cannot_take_the_current_over_the_site_limit(factor):
    """Within the cross-check the calibration is accepted; the current at the limit is held
    CAL_BUDGET under it, so the meter's remaining error does not take the TRUE current over."""
    summary, console, cal = calibrate_then_treat(factor)
    assert any(c == "cal save -> calibration saved | OK" for c in console)
    assert cal.a_gain == pytest.approx(factor, abs=1e-3)
    assert summary["fault"] is None
    assert summary["peak_avg_ma"] <= HANDS_LIMIT_MA
    assert summary["peak_ma"] <= HANDS_LIMIT_MA
    # and the patient is treated, not starved: the budget costs at most its own share
    assert summary["peak_avg_ma"] >= HANDS_LIMIT_MA * (1 - CAL_BUDGET) * min(1.0, 1 / factor) \
        - 0.05


def test_the_reference_meter_reads_the_true_current_times_its_factor():
    meter = ReferenceMeter(factor=0.971)
    assert meter.reading is None
    for ma in (0.0, 4.0, 9.99, 10.0, 10.0):
        meter.sample(ma)
    assert meter.reading == pytest.approx(9.71)
    meter.sample(0.0)  # the current stops: the display holds the last steady reading
    assert meter.reading == pytest.approx(9.71)
