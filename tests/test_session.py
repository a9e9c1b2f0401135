"""The session state machine on the full stack (controller, HAL, simulator), judged on the
ground truth where it matters."""

from __future__ import annotations

import math

import pytest

from conftest import device
from controller import Prescription


def codes(dev, kind=None):
    return [e.code for e in dev.controller.events.events if kind is None or e.kind == kind]


def test_power_on_self_test_then_idle():
    dev = device()
    assert dev.run_until_state("IDLE", 2.0)
    assert "ST-PASS" in codes(dev, "selftest")
    assert abs(dev.rig.truth()["patient_ma"]) < 1e-6


@pytest.mark.hazard("H-DOSE-1")
def test_complete_session_through_every_state():
    rx = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0)
    dev = device(rx)
    assert dev.start_and_treat()
    assert dev.run_until_state("DONE", 400.0)
    states = codes(dev, "state")
    assert states[:4] == ["SELF_TEST", "IDLE", "SELF_TEST", "WAIT_CONTACT"]
    assert states[4:] == ["RAMP_UP", "TREAT", "RAMP_DOWN", "DONE"]
    sess = dev.controller.sessions_done[-1]
    assert sess.outcome == "completed"
    assert sess.treat_s == pytest.approx(300.0, abs=0.05)
    assert dev.truth.dose_ma_min == pytest.approx(5.0 * 5.0 + 2 * 5.0 * 5.0 / 2 / 60, rel=0.01)
    assert sess.dose_ma_min == pytest.approx(dev.truth.dose_ma_min, rel=0.01)
    truth = dev.rig.truth()
    assert abs(truth["patient_ma"]) < 1e-6 and not truth["patient_relay"]
    assert dev.run_until_state("IDLE", 15.0)


@pytest.mark.hazard("H-SHOCK-1")
def test_contact_check_waits_for_the_hands_then_starts():
    dev = device(contact=0.0)
    dev.run_until_state("IDLE", 2.0)
    dev.press()
    dev.run(10.0)
    assert dev.state == "WAIT_CONTACT"
    assert abs(dev.rig.truth()["patient_ma"]) < 1e-6
    dev.rig.immerse()
    assert dev.run_until_state("RAMP_UP", 3.0)
    # the test current of the contact check never exceeds 0.3 mA
    assert dev.truth.peak_ma <= 0.3


def test_contact_timeout_is_a_fault_the_patient_can_acknowledge():
    dev = device(contact=0.0)
    dev.run_until_state("IDLE", 2.0)
    dev.press()
    assert dev.run_until_state("FAULT", 130.0)
    assert dev.controller.fault.code == "CONTACT-TIMEOUT"
    dev.press(hold_s=1.0)  # a short press does not acknowledge
    assert dev.state == "FAULT"
    dev.press(hold_s=3.2)
    assert dev.state == "IDLE"


@pytest.mark.hazard("H-SHOCK-1")
def test_short_at_start_is_refused_and_told():
    dev = device()
    dev.rig.short(20.0)
    dev.run_until_state("IDLE", 2.0)
    dev.press()
    assert dev.run_until_state("FAULT", 10.0)
    assert dev.controller.fault.code == "SHORT-AT-START"
    assert "one tray" in dev.controller.fault.message
    assert dev.truth.peak_ma <= 0.3


@pytest.mark.hazard("H-SHOCK-1")
def test_patient_press_stops_with_a_ramp_down_of_at_most_5_s():
    rx = Prescription(target_ma=15.0, duration_min=5.0, ramp_ma_s=0.5)
    dev = device(rx)
    assert dev.start_and_treat()
    dev.run(2.0)
    t_press = dev.clock.now()
    dev.press(hold_s=0.1)
    assert dev.run_until(lambda d: abs(d.rig.physics.patient_ma) < 0.01, 6.0)
    assert dev.clock.now() - t_press <= 5.2
    assert dev.run_until_state("DONE", 2.0)
    assert dev.controller.sessions_done[-1].outcome == "stopped"


@pytest.mark.hazard("H-SHOCK-1")
def test_lift_pauses_at_once_and_resumes_with_a_ramp_from_zero():
    rx = Prescription(target_ma=10.0, duration_min=5.0, ramp_ma_s=1.0)
    dev = device(rx)
    assert dev.start_and_treat()
    treat_before = dev.controller.session.treat_s
    dev.rig.lift()
    dev.run(0.05)
    assert dev.state == "PAUSED"
    dev.run(5.0)
    assert dev.controller.session.treat_s <= treat_before + 0.02  # the timer stopped at once
    step_before = dev.truth.max_step_ma
    dev.rig.immerse()
    dev.run(1.0)
    assert dev.state == "PAUSED"  # contact must be stable for 2 s first
    assert dev.run_until_state("RAMP_UP", 1.5)
    assert dev.run_until_state("TREAT", 15.0)
    assert dev.truth.max_step_ma <= max(step_before, 0.5)
    assert dev.controller.session.pauses == 1


def test_pause_longer_than_5_min_ends_the_session_incomplete():
    dev = device()
    assert dev.start_and_treat()
    dev.rig.lift()
    assert dev.run_until_state("DONE", 310.0)
    assert dev.controller.sessions_done[-1].outcome == "incomplete"


@pytest.mark.hazard("H-POL-1")
def test_polarity_reversal_at_half_time_switches_at_zero_current():
    rx = Prescription(target_ma=5.0, duration_min=10.0, ramp_ma_s=1.0, reverse_polarity=True)
    dev = device(rx)
    assert dev.start_and_treat()
    relay_moves = []
    last = [dev.rig.physics.k_polarity]

    def watch(*_):
        k = dev.rig.physics.k_polarity
        if k != last[0]:
            relay_moves.append((dev.clock.now(), abs(dev.rig.physics.patient_ma),
                                dev.rig.physics.v_rail))
            last[0] = k

    dev.loop.observers.append(watch)
    assert dev.run_until_state("REVERSING", 301.0)
    zero_since = None
    while dev.state == "REVERSING" or dev.controller.seqs.seq is not None:
        dev.loop.step()
        dev.loop.sleep_to_next()
        if abs(dev.rig.physics.patient_ma) < 0.01 and zero_since is None:
            zero_since = dev.clock.now()
        if relay_moves:
            break
    assert len(relay_moves) == 1
    t_switch, current, rail = relay_moves[0]
    assert current < 0.01 and rail < 5.0
    assert t_switch - zero_since >= 0.5
    assert dev.run_until_state("TREAT", 20.0)
    dev.run(1.0)
    assert dev.rig.physics.patient_ma == pytest.approx(-5.0, rel=0.01)
    assert dev.run_until_state("DONE", 400.0)
    sess = dev.controller.sessions_done[-1]
    assert sess.reversals == 1 and sess.outcome == "completed"
    assert sess.treat_s == pytest.approx(600.0, abs=0.1)


@pytest.mark.hazard("H-SHOCK-1")
def test_the_patient_relay_opens_dead_at_the_end_of_a_session():
    """The end of a session opens the patient relay only once the current is zero and the rail
    has fallen for the board's 5 time constants (`hardware/README.md`, switching rules):
    `Controller._disconnect`'s 0.1 s wait, judged on the simulator's ground truth at the moment
    the contacts move."""
    rx = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0)
    dev = device(rx)
    assert dev.start_and_treat()
    rail_working = dev.rig.physics.v_rail
    opened = []
    before = [rail_working, 0.0]

    def watch(*_):
        # The contacts moved somewhere in the period just played; the rail only falls after HV
        # is off, so its value at the end of the period before bounds it at that moment.
        ph = dev.rig.physics
        if not ph.k_patient and not opened:
            opened.append(tuple(before))
        before[:] = [ph.v_rail, abs(ph.patient_ma)]

    dev.loop.observers.append(watch)
    assert dev.run_until_state("DONE", 400.0)
    assert len(opened) == 1
    rail, current = opened[0]
    assert rail_working > 20.0
    assert current < 0.01
    assert rail <= rail_working * math.exp(-5)


@pytest.mark.hazard("H-AUTH-1")
def test_technician_faults_are_not_cleared_by_the_patient():
    dev = device()
    dev.rig.inject("trip_dead")
    dev.run_until_state("FAULT", 2.0)
    assert dev.controller.fault.code == "ST-TRIP"
    dev.press(hold_s=3.5)
    assert dev.state == "FAULT"
    assert "FAULT-NEEDS-TECHNICIAN" in codes(dev)


@pytest.mark.hazard("H-AUTH-1")
def test_prescription_changes_are_refused_during_a_session():
    dev = device()
    assert dev.start_and_treat()
    with pytest.raises(RuntimeError, match="treatment is running"):
        dev.controller.set_prescription(Prescription(target_ma=10))


def test_a_press_while_done_does_not_start_a_second_session():
    dev = device()
    assert dev.start_and_treat()
    dev.press(0.1)  # the patient stops
    assert dev.run_until_state("DONE", 10.0)
    dev.press()  # "acknowledging" the green blink
    dev.run(1.0)
    assert dev.state in ("DONE", "IDLE") and dev.controller.session is None
