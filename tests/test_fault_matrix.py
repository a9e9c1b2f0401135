"""The fault-injection matrix (firmware/faultmatrix.py): a few cells here, and that its judge can
fail. CI runs every cell with ``python tools/fault_matrix.py --check``."""

from __future__ import annotations

import pytest

from firmware import faultmatrix
from firmware.faultmatrix import run_cell


@pytest.mark.hazard("H-OC-2", "H-SENSE-2", "H-SUPPLY-1")
@pytest.mark.parametrize("fault,phase,code", [
    ("sink_short", "TREAT", "R-OC-ABS"),
    ("adc_absent", "RAMP_UP", "R-ADC-FAIL"),
    ("hv_over", "WAIT_CONTACT", "R-HV"),
    ("trip_dead", "SELF_TEST", "ST-TRIP"),
])
def test_a_fault_in_a_phase_is_caught_in_time_and_logged(fault, phase, code):
    c = run_cell(fault, phase)
    assert c.ok, c.problems
    assert (c.code, c.logged) == (code, True)
    assert c.safe_after_ms is not None and c.peak_ma <= c.bound_ma


@pytest.mark.hazard("H-RELAY-1")
def test_a_latent_fault_is_caught_by_the_next_self_test():
    c = run_cell("patient_relay_welded", "TREAT")
    assert c.ok, c.problems
    assert (c.expected, c.code) == ("latent", "ST-RELAY")
    assert c.detected_after_ms > 5000  # after the patient's stop and the next START


def test_the_judge_fails_a_wrong_code_a_late_reaction_and_a_false_one(monkeypatch):
    monkeypatch.setitem(faultmatrix.EXPECTED, "sink_short", {"R-HV"})
    c = run_cell("sink_short", "TREAT")
    assert not c.ok and "R-OC-ABS is not an expected code" in c.problems[0]
    # safe 5.55 ms after the injection: a 1 ms deadline must fail it
    monkeypatch.setitem(faultmatrix.DEADLINE_MS, "R-OC-ABS", 1)
    c = run_cell("pwm_stuck", "TREAT")
    assert any("deadline 1 ms" in p for p in c.problems), c.problems
    # a fault declared to have nothing to act on, which does act, fails too
    monkeypatch.setattr(faultmatrix, "NO_EFFECT", {("hv_sag", "TREAT")})
    c = run_cell("hv_sag", "TREAT")
    assert any("nothing to act on" in p for p in c.problems)
