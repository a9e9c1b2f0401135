"""The session's state machine driven directly: a :class:`Controller` and synthetic
:class:`Inputs`, no HAL and no simulator.

The plant below is the least the controller needs to believe in: an ideal current sink into the
1 kohm test load or into a resistive patient, a 60 V rail while HV is on, a trip line that
asserts over 33 mA into the test load, and a little deterministic jitter so that the readings
are not frozen (R-ADC-STUCK). Each test checks the states the controller goes through (its
``state`` events and its ``state`` attribute) against the transition table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from controller import Controller
from controller.io import Command, Inputs
from controller.limits import Prescription
from controller.session import PERIOD
from controller.states import TRANSITIONS, IllegalTransition, State, Trigger


@dataclass
class Sample:
    t: float
    current_a_ma: float
    current_b_ma: float
    electrode_v: float
    hv_v: float
    raw: tuple[int, int, int, int]


class Plant:
    """An ideal output stage: the command of one period is read back in the next."""

    def __init__(self, load_ohm: float | None = 1000.0, test_ohm: float = 1000.0):
        self.load_ohm = load_ohm     # the patient; None: hands out of the water
        self.test_ohm = test_ohm
        self.n = 0
        self.trip = False
        self.trip_t: float | None = None

    def sample(self, now: float, cmd: Command) -> Sample:
        self.n += 1
        jitter = 1.0 + 0.002 * ((self.n % 5) - 2)
        hv = 60.0 if cmd.hv else 0.0
        i = v = 0.0
        on = cmd.hv and cmd.gate != "off" and cmd.setpoint_ma > 0.0
        if cmd.trip_reset:
            self.trip, self.trip_t = False, None
        if on and cmd.test_load:
            i = min(cmd.setpoint_ma, hv / self.test_ohm * 1000.0)
            v = i * self.test_ohm / 1000.0
            if i > 33.0 and not self.trip:
                # the edge 1 ms after the command was applied (one period ago)
                self.trip, self.trip_t = True, now - PERIOD + 0.001
        elif on and cmd.patient_relay and self.load_ohm is not None:
            avg = cmd.setpoint_ma * (cmd.pulse_duty if cmd.gate == "pulsed" else 1.0)
            i = min(avg, hv / self.load_ohm * 1000.0 * 0.8)
            v = cmd.polarity * i * self.load_ohm / 1000.0
        elif cmd.hv and cmd.patient_relay and self.load_ohm is None:
            v = cmd.polarity * hv * 0.5
        i *= jitter
        raw = (100 + int(i * 1000) + self.n % 3, 200 + int(i * 1000) + self.n % 2,
               300 + int(v * 100), 400 + int(hv * 10))
        return Sample(now, i, i, v, hv, raw)


class Rig:
    def __init__(self, rx: Prescription | None = None, plant: Plant | None = None):
        self.rx = rx or Prescription(site="hands", target_ma=10.0, duration_min=5.0,
                                     ramp_ma_s=0.5)
        self.c = Controller(self.rx)
        self.plant = plant or Plant()
        self.t = 0.0
        self.cmd = Command()
        self.pressed = False
        self.seen: list[str] = [self.c.state]
        self.c.events.listeners.append(self._on_event)
        self.changes: list[str] = []

    def _on_event(self, ev) -> None:
        if ev.kind == "state":
            self.changes.append(ev.code)

    def step(self) -> Command:
        self.t = round(self.t + PERIOD, 6)
        s = self.plant.sample(self.t, self.cmd)
        inp = Inputs(now=self.t, sample=s, start_pressed=self.pressed,
                     hw_trip=self.plant.trip, trip_edge_t=self.plant.trip_t)
        self.cmd = self.c.step(inp)
        if self.c.state != self.seen[-1]:
            self.seen.append(self.c.state)
        return self.cmd

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / PERIOD)):
            self.step()

    def until(self, state: str, timeout: float) -> None:
        for _ in range(round(timeout / PERIOD)):
            if self.c.state == state:
                return
            self.step()
        raise AssertionError(f"no {state} within {timeout} s: {self.seen}, "
                             f"fault {self.c.fault}")

    def press(self, seconds: float = 0.2) -> None:
        self.pressed = True
        self.run(seconds)
        self.pressed = False


def ready() -> Rig:
    rig = Rig()
    rig.until(State.IDLE, 5.0)
    return rig


def treating() -> Rig:
    rig = ready()
    rig.press()
    rig.until(State.TREAT, 60.0)
    return rig


def test_power_on_self_test_ends_idle():
    rig = ready()
    assert rig.seen == [State.SELF_TEST, State.IDLE]
    assert rig.c.fault is None
    assert rig.cmd.is_safe()


def test_a_whole_session_walks_the_table():
    rig = ready()
    rig.press()
    rig.until(State.DONE, 400.0)
    assert rig.seen == [State.SELF_TEST, State.IDLE, State.SELF_TEST, State.WAIT_CONTACT,
                        State.RAMP_UP, State.TREAT, State.RAMP_DOWN, State.DONE]
    sess = rig.c.sessions_done[-1]
    assert sess.outcome == "completed"
    assert sess.treat_s >= 300.0
    assert rig.cmd.is_safe()
    rig.until(State.IDLE, 11.0)
    # every change the controller made is a row of the table
    legal = {(t.src, t.dst) for t in TRANSITIONS}
    assert all(pair in legal for pair in zip(rig.seen, rig.seen[1:], strict=False))


def test_current_flows_only_in_the_current_carrying_states():
    rig = ready()
    rig.press()
    for _ in range(round(30.0 / PERIOD)):
        cmd = rig.step()
        if cmd.setpoint_ma > 0.3 and cmd.patient_relay:
            assert rig.c.state in (State.RAMP_UP, State.TREAT, State.RAMP_DOWN)


@pytest.mark.parametrize("state", [State.WAIT_CONTACT, State.RAMP_UP, State.TREAT,
                                   State.PAUSED])
def test_a_press_in_a_current_carrying_state_ramps_down_within_5_s(state):
    rig = ready()
    if state == State.PAUSED:
        rig.press()
        rig.until(State.TREAT, 60.0)
        rig.plant.load_ohm = None      # hands out of the water
        rig.until(State.PAUSED, 2.0)
    else:
        rig.press()
        rig.until(state, 60.0)
    rig.run(0.5)
    assert rig.c.state == state
    rig.press(0.1)
    assert rig.c.state == State.RAMP_DOWN
    rig.until(State.DONE, 5.5)
    assert rig.c.sessions_done[-1].outcome == "stopped"
    assert rig.cmd.is_safe()


def test_a_press_on_the_ramp_down_ends_it_within_5_s():
    rig = treating()
    rig.c.rx = replace(rig.c.rx, ramp_ma_s=0.1)   # a slow ramp down from here on
    rig.until(State.RAMP_DOWN, 310.0)   # the treatment completes; 100 s down at 0.1 mA/s
    rig.press(0.1)
    rig.until(State.DONE, 5.5)
    assert rig.c.sessions_done[-1].outcome == "completed"


def test_a_press_during_the_sessions_self_test_never_connects_the_patient():
    rig = ready()
    rig.press(0.1)
    assert rig.c.state == State.SELF_TEST
    rig.run(0.1)
    rig.press(0.1)
    relay = False
    for _ in range(round(3.0 / PERIOD)):
        relay = relay or rig.step().patient_relay
    assert rig.c.state == State.DONE
    assert not relay
    assert rig.c.sessions_done[-1].outcome == "stopped"


def test_the_polarity_reversal_goes_through_reversing():
    rx = Prescription(site="hands", target_ma=10.0, duration_min=10.0, ramp_ma_s=0.5,
                      reverse_polarity=True)
    rig = Rig(rx)
    rig.until(State.IDLE, 5.0)
    rig.press()
    rig.until(State.DONE, 700.0)
    assert rig.seen[3:] == [State.WAIT_CONTACT, State.RAMP_UP, State.TREAT, State.REVERSING,
                            State.RAMP_UP, State.TREAT, State.RAMP_DOWN, State.DONE]


def test_contact_lost_pauses_and_contact_back_ramps_up_again():
    rig = treating()
    rig.plant.load_ohm = None
    rig.until(State.PAUSED, 2.0)
    assert rig.cmd.setpoint_ma <= 0.3
    rig.plant.load_ohm = 1000.0
    rig.until(State.RAMP_UP, 10.0)
    rig.until(State.TREAT, 30.0)


def test_a_stuck_button_in_a_session_stops_it_and_latches_button_stuck():
    rig = ready()
    rig.pressed = True   # the press that starts the session, and the button stays down
    rig.until(State.FAULT, 20.0)
    assert rig.c.fault.code == "BUTTON-STUCK"
    assert rig.seen[-2:] == [State.RAMP_DOWN, State.FAULT]
    assert State.DONE not in rig.seen
    assert rig.cmd.is_safe()


def test_every_state_change_is_announced_once_with_its_state():
    rig = ready()
    rig.press()
    rig.until(State.DONE, 400.0)
    assert rig.changes == [str(s) for s in rig.seen[1:]]   # the first came in the constructor


def test_an_illegal_transition_raises_and_changes_nothing():
    rig = ready()
    with pytest.raises(IllegalTransition, match="IDLE --treatment complete--> DONE"):
        rig.c._enter(rig.t, State.DONE, Trigger.TREATMENT_COMPLETE)
    assert rig.c.state == State.IDLE
    with pytest.raises(IllegalTransition):
        rig.c._enter(rig.t, State.TREAT, Trigger.START_PRESS)
    assert rig.c.state == State.IDLE
    rig.press()
    rig.until(State.WAIT_CONTACT, 5.0)
    assert rig.c.state == State.WAIT_CONTACT   # the session still runs as it should


def test_the_table_names_every_state_and_only_real_states():
    assert {t.src for t in TRANSITIONS} | {t.dst for t in TRANSITIONS} == set(State)
    for t in TRANSITIONS:
        assert isinstance(t.src, State) and isinstance(t.dst, State)
    # every state but the latched fault can fault; only the power-on leaves OFF
    assert {t.src for t in TRANSITIONS if t.trigger is Trigger.FAULT} == \
        set(State) - {State.OFF, State.FAULT}
    assert [t.dst for t in TRANSITIONS if t.src == State.OFF] == [State.SELF_TEST]
