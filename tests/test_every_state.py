"""The contact rules and the patient's stop in every state of a session in which current can
flow: the ramps down (a stop, the end of the treatment, the one before the polarity switch), the
reversal, and the session's own self-test. Judged on the ground truth."""

from __future__ import annotations

import pytest

from conftest import device
from controller import Prescription

SHORT_OHM = 150.0


def codes(dev, kind=None):
    return [e.code for e in dev.controller.events.events if kind is None or e.kind == kind]


def _into_phase(phase: str):
    """A device on a slow ramp (0.2 mA/s), run to halfway into ``phase``."""
    reverse = phase == "REVERSING"
    rx = Prescription(target_ma=10.0, duration_min=10.0 if reverse else 5.0, ramp_ma_s=0.2,
                      reverse_polarity=reverse)
    dev = device(rx)
    assert dev.start_and_treat(120.0)
    if phase == "RAMP_DOWN-stop":
        dev.run(2.0)
        dev.press()
        # the patient's stop ramps down within 5 s: the short comes 1 s into it
        assert dev.state == "RAMP_DOWN"
        dev.run(0.8)
    else:
        state = "REVERSING" if reverse else "RAMP_DOWN"
        assert dev.run_until_state(state, 700.0)
        dev.run(10.0)  # 2 mA down of the 10 mA
    assert dev.state in ("RAMP_DOWN", "REVERSING")
    assert dev.rig.physics.patient_ma > 0.5
    return dev


PHASES = ("RAMP_DOWN-stop", "RAMP_DOWN-end", "REVERSING")


@pytest.mark.hazard("H-SHOCK-1")
@pytest.mark.parametrize("phase", PHASES)
def test_a_short_on_a_ramp_down_switches_the_current_off_before_it_goes(phase):
    dev = _into_phase(phase)
    state = dev.state
    dev.rig.short(SHORT_OHM)
    dev.run(0.06)  # R-SHORT's 20 ms and a period or two
    # the ramp ended: nothing is driven into the short any more (the sink's true current)
    assert dev.rig.truth()["sink_ma"] < 0.05
    assert "R-SHORT" in codes(dev, "warning")
    dev.run(1.0)
    dev.rig.unshort()  # the short goes: nothing may step into the patient
    dev.run(3.0)
    assert dev.truth.max_step_ma <= 0.5
    if state == "REVERSING":
        # the polarity switch went on, and the ramp up after it starts from zero
        assert dev.rig.truth()["polarity"] == -1 and dev.controller.session is not None
    else:
        assert dev.run_until_state("DONE", 5.0)
        assert dev.controller.sessions_done[-1].outcome == ("stopped" if phase.endswith("stop")
                                                           else "completed")


@pytest.mark.hazard("H-SHOCK-1")
@pytest.mark.parametrize("phase", PHASES)
def test_a_hand_lifted_on_a_ramp_down_and_dipped_again_gets_no_step(phase):
    dev = _into_phase(phase)
    dev.rig.lift()
    dev.run(0.5)
    dev.rig.immerse()
    dev.run(3.0)
    assert dev.truth.max_step_ma <= 0.5


@pytest.mark.hazard("H-STOP-1")
def test_a_press_during_the_sessions_self_test_stops_the_session_before_it_connects():
    dev = device()
    assert dev.run_until_state("IDLE", 5.0)
    dev.press(hold_s=0.1)
    assert dev.state == "SELF_TEST" and dev.controller.session is not None
    dev.run(0.2)
    dev.press(hold_s=0.1)  # 0.3 s after the press that began the session
    assert dev.run_until_state("DONE", 5.0)
    dev.run(20.0)
    assert dev.truth.peak_ma < 0.01  # nothing ever reached the patient
    assert not dev.rig.truth()["patient_relay"]
    assert dev.controller.sessions_done[-1].outcome == "stopped"
    assert "STOP-BY-PATIENT" in codes(dev, "info")


@pytest.mark.hazard("H-STOP-1", "H-SHOCK-1")
@pytest.mark.parametrize("phase", ("RAMP_DOWN-end", "REVERSING"))
def test_a_press_on_a_slow_ramp_down_ends_it_within_5_s(phase):
    rx = Prescription(target_ma=18.0, duration_min=10.0 if phase == "REVERSING" else 5.0,
                      ramp_ma_s=0.1, reverse_polarity=phase == "REVERSING")
    dev = device(rx)
    assert dev.start_and_treat(300.0)
    state = "REVERSING" if phase == "REVERSING" else "RAMP_DOWN"
    assert dev.run_until_state(state, 700.0)
    dev.run(5.0)  # 17.5 mA: 175 s more at the prescribed rate
    assert dev.rig.physics.patient_ma > 15.0
    t_press = dev.clock.now()
    dev.press(hold_s=0.1)
    assert dev.run_until(lambda d: abs(d.rig.physics.patient_ma) < 0.01, 8.0)
    # the press is recognised after the 40 ms debounce; the ramp then takes at most 5 s
    assert dev.clock.now() - t_press <= 5.1
    assert dev.truth.max_step_ma <= 0.5
    assert dev.run_until_state("DONE", 3.0)
    outcome = dev.controller.sessions_done[-1].outcome
    assert outcome == ("completed" if phase == "RAMP_DOWN-end" else "stopped")


@pytest.mark.hazard("H-STOP-1")
def test_a_press_on_the_period_the_treatment_completes_ends_the_ramp_within_5_s():
    rx = Prescription(target_ma=18.0, duration_min=5.0, ramp_ma_s=0.1)
    dev = device(rx)
    assert dev.start_and_treat(300.0)
    sess = dev.controller.session
    assert dev.run_until(lambda d: sess.treat_s >= 299.98, 310.0)
    t_press = dev.clock.now()
    dev.press(hold_s=0.1)
    assert dev.run_until(lambda d: abs(d.rig.physics.patient_ma) < 0.01, 8.0)
    assert dev.clock.now() - t_press <= 5.1
    assert dev.truth.max_step_ma <= 0.5
