"""A path beside the patient that comes while the shunt guard cannot see a fall: during a pause
or its contact check, with a hand partly out of the water, on the ramp's first milliamp after a
resume, at a current held under 1 mA. Each is judged on the simulator's ground truth (the true
patient current): taking the path away must not step it by more than 0.5 mA in 100 ms, and the
treatment must return to the target once the path has gone (controller/contact.py)."""

from __future__ import annotations

import pytest

from conftest import device
from controller import Prescription
from controller.contact import STEP_MAX_MA

RX15 = Prescription(target_ma=15.0, duration_min=10.0, ramp_ma_s=1.0)


def codes(dev):
    return [e.code for e in dev.controller.events.events]


def true_ma(dev):
    return abs(dev.rig.physics.patient_ma)


def total_ma(dev):
    return abs(dev.rig.physics.sink_a) * 1000.0


def held(dev, shunt_ohm, patient_ohm):
    """The total is held so that the path's share of it, once the path goes, is no step."""
    share = patient_ohm / (patient_ohm + shunt_ohm)   # the path's share of the total
    return total_ma(dev) * share <= STEP_MAX_MA + 0.05


@pytest.mark.hazard("H-SHUNT-1")
def test_a_path_that_comes_during_a_pause_is_held_until_it_goes():
    """Both electrodes in one tray (R-SHORT: a pause), then a 1 kOhm film of water left between
    the trays as the hand goes back: the contact check saw 667 ohm and the ramp went to 15 mA
    with two thirds of it through the water; wiping it stepped the patient by 10 mA."""
    dev = device(RX15, load_ohm=2000.0)
    assert dev.start_and_treat()
    dev.run(3.0)
    dev.rig.short(50.0)
    dev.run(1.0)
    assert dev.controller.state == "PAUSED"
    dev.rig.unshort()
    dev.run(0.5)
    dev.rig.short(1000.0)                     # the water stays as the hand goes back
    dev.run(20.0)
    found, hold = "SHUNT-FOUND" in codes(dev), held(dev, 1000.0, 2000.0)
    dev.rig.unshort()
    dev.run(30.0)
    assert dev.truth.max_step_ma <= 0.5, dev.truth.max_step_ma  # the wiping is no shock
    assert found and hold                     # seen, and the total held
    assert "SHUNT-GONE" in codes(dev)
    assert true_ma(dev) >= 14.5               # and the treatment goes on at the target


@pytest.mark.hazard("H-SHUNT-1")
def test_a_path_that_comes_with_the_hands_out_and_a_hand_back_partly_is_no_step():
    """The hands lifted (a pause), a 1.5 kOhm film of water between the trays, one hand back
    in only partly: the load (1.2 kOhm) is below the full immersion's, and the device took the
    area as whole and ramped to 15 mA; the path's removal left the patient with all of it (the
    compliance limit: 10 mA, from 3 mA)."""
    dev = device(RX15, load_ohm=2000.0)
    assert dev.start_and_treat()
    dev.run(3.0)
    dev.rig.lift()
    dev.run(1.0)
    assert dev.controller.state == "PAUSED"
    dev.rig.short(1500.0)
    dev.run(1.0)
    dev.rig.set_contact(0.3)
    dev.run(20.0)
    found = "SHUNT-FOUND" in codes(dev)
    hold = total_ma(dev) <= STEP_MAX_MA + 0.05     # the split is unknown: the whole load
    dev.rig.unshort()
    dev.run(30.0)
    assert dev.truth.max_step_ma <= 0.5, dev.truth.max_step_ma
    assert found and hold
    assert "SHUNT-GONE" in codes(dev)
    assert true_ma(dev) >= 2.0                # back to what the density guard allows


@pytest.mark.hazard("H-SHUNT-1")
def test_a_path_that_comes_on_the_ramps_first_milliamp_after_a_resume_is_no_step():
    """The hands back in after a lift, the ramp from the probe begun, and a 1 kOhm path at
    0.3 mA: the guard, which judged only from 1 mA, began with the load already low and took
    it for the hands'; the ramp went to 15 mA."""
    dev = device(RX15, load_ohm=2000.0)
    assert dev.start_and_treat()
    dev.run(3.0)
    dev.rig.lift()
    dev.run(1.0)
    dev.rig.immerse()
    assert dev.run_until_state("RAMP_UP", 10.0)
    assert dev.run_until(lambda d: true_ma(d) >= 0.3, 5.0)
    dev.rig.short(1000.0)
    dev.run(20.0)
    found, hold = "SHUNT-FOUND" in codes(dev), held(dev, 1000.0, 2000.0)
    dev.rig.unshort()
    dev.run(30.0)
    assert dev.truth.max_step_ma <= 0.5, dev.truth.max_step_ma
    assert found and hold
    assert "SHUNT-GONE" in codes(dev)
    assert true_ma(dev) >= 14.5


@pytest.mark.hazard("H-SHUNT-1")
def test_a_path_that_comes_at_a_current_under_1_ma_is_no_step():
    """Axillae at 0.9 mA: the guard judged from 1 mA; a 1 kOhm path beside an 8 kOhm patient
    took 89 % of the current, and its removal stepped the patient by 0.8 mA."""
    rx = Prescription(site="axillae", target_ma=0.9, duration_min=10.0, ramp_ma_s=0.5)
    dev = device(rx, load_ohm=8000.0, area_cm2=50.0)
    assert dev.start_and_treat()
    dev.run(5.0)
    before = true_ma(dev)
    dev.rig.short(1000.0)
    dev.run(20.0)
    # found as a path beside the patient, or (the skin test's hold at this load) as a fall
    # beside a path of unknown split: held at the cap either way
    found = "SHUNT-FOUND" in codes(dev) or "BRIDGE" in codes(dev)
    hold = held(dev, 1000.0, 8000.0)
    dev.rig.unshort()
    dev.run(30.0)
    assert dev.truth.max_step_ma <= 0.5, dev.truth.max_step_ma
    assert found and hold
    if "SHUNT-FOUND" in codes(dev):
        assert "SHUNT-GONE" in codes(dev)
    # else the skin test's hold found the fall (at this load it cannot judge the skin): a path
    # of unknown split stays held at the cap, the price of the doubt (H-BRIDGE-1)
    assert true_ma(dev) >= 0.95 * before
