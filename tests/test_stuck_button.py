"""A stuck START button: the patient's stop is lost, so the device stops and latches.

Found by the fault-injection matrix: START stuck down from the very press that started a
session (a jammed button) left the session running with no way for the patient to stop it,
because the stop acts on a press and a stuck button cannot be pressed again.
"""

from __future__ import annotations

import pytest

from conftest import device
from controller import Prescription
from controller.session import BUTTON_STUCK_S, HOLD_ACK_S

RX = Prescription(target_ma=12.0, duration_min=5.0, ramp_ma_s=1.0)


def stuck_reported(dev) -> bool:
    return any(e.code == "BUTTON-STUCK" for e in dev.controller.events.events)


@pytest.mark.hazard("H-STOP-1")
def test_a_button_stuck_from_the_start_press_stops_the_session_gently_and_latches():
    dev = device(RX)
    assert dev.run_until_state("IDLE", 5.0)
    dev.rig.set_button(True)          # pressed ...
    dev.rig.inject("button_stuck")    # ... and it never comes back up
    t_press = dev.clock.now()
    assert dev.run_until_state("RAMP_UP", 20.0)
    assert dev.run_until(lambda d: stuck_reported(d), 20.0)
    t_stuck = dev.clock.now()
    assert BUTTON_STUCK_S == 10.0                      # the documented figure
    assert 10.0 <= t_stuck - t_press <= 10.1
    assert dev.truth.last_ma > 1.0    # it was treating: the stop must ramp, not trip
    assert dev.run_until_state("FAULT", 6.0)
    dev.run(0.5)
    assert dev.controller.fault.code == "BUTTON-STUCK"
    truth = dev.rig.truth()
    assert abs(truth["patient_ma"]) < 0.1
    # the ground truth: a ramp, no step (the shock measure), and off within 5.2 s of the stop
    assert dev.truth.max_step_ma <= 0.5
    assert dev.rig.physics.last_above_t - t_stuck <= 5.2
    sess = dev.controller.sessions_done[-1]
    assert (sess.outcome, sess.fault_code) == ("fault", "BUTTON-STUCK")


@pytest.mark.hazard("H-STOP-1")
def test_a_button_stuck_while_idle_refuses_use_and_a_hold_does_not_clear_it():
    dev = device(RX)
    assert dev.run_until_state("IDLE", 5.0)
    dev.press()
    assert dev.run_until_state("TREAT", 60.0)
    dev.press()                       # the patient stops ...
    assert dev.run_until_state("DONE", 10.0)
    dev.rig.inject("button_stuck")    # ... and the button jams in DONE
    t0 = dev.clock.now()
    assert dev.run_until_state("FAULT", BUTTON_STUCK_S + 0.5)
    assert dev.controller.fault.code == "BUTTON-STUCK"
    assert dev.clock.now() - t0 >= BUTTON_STUCK_S - 0.1
    assert len(dev.controller.sessions_done) == 1  # no second session was started
    # cleared by the technician while the button is still jammed: it latches again
    assert dev.controller.clear_fault(dev.clock.now())
    assert dev.run_until_state("FAULT", 0.1)
    assert dev.controller.fault.code == "BUTTON-STUCK"
    dev.rig.repair("button_stuck")
    dev.run(0.2)
    dev.press(HOLD_ACK_S + 0.5)       # a hold acknowledges patient faults, not this one
    assert dev.state == "FAULT"
    assert abs(dev.rig.truth()["patient_ma"]) < 0.1


@pytest.mark.hazard("H-STOP-1")
def test_presses_and_the_three_second_hold_are_not_taken_for_a_stuck_button():
    dev = device(RX)
    assert dev.run_until_state("IDLE", 5.0)
    dev.press(BUTTON_STUCK_S - 0.5)   # a long press that starts the session, released in time
    assert dev.run_until_state("TREAT", 60.0)
    dev.run(BUTTON_STUCK_S)
    assert dev.state == "TREAT"
    assert not stuck_reported(dev)
