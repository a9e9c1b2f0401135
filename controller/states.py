"""The session's states, the triggers that move it, and the transition table the controller runs.

:class:`State` names every state of :class:`~controller.session.Controller` (the ``state``
column of a trace, the code of a ``state`` event). :data:`TRANSITIONS` is the whole state
machine: every change of state goes through ``Controller._enter``, which refuses a change that
is not a row of the table (:class:`IllegalTransition`). ``docs/state-machine.md`` is generated
from the table (``tools/state_table.py``; CI checks that it is current).

Rows whose target is their own state (``to == from``) are handled in place: they say what an
event does in that state without a change of state (no ``state`` event); ``_enter`` never
takes them.

``State`` is a :class:`~enum.StrEnum`: a state compares equal to its name as a string, so the
device program, the simulator and the logs may keep using plain strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class State(StrEnum):
    #: before the power-on self-test (only inside the controller's construction)
    OFF = "OFF"
    SELF_TEST = "SELF_TEST"
    IDLE = "IDLE"
    WAIT_CONTACT = "WAIT_CONTACT"
    RAMP_UP = "RAMP_UP"
    TREAT = "TREAT"
    REVERSING = "REVERSING"
    RAMP_DOWN = "RAMP_DOWN"
    PAUSED = "PAUSED"
    DONE = "DONE"
    FAULT = "FAULT"
    SERVICE = "SERVICE"


class Trigger(StrEnum):
    POWER_ON = "power-on"
    START_PRESS = "START press"
    START_HOLD = "START held 3 s"
    BUTTON_STUCK = "START stuck"
    SELF_TEST_PASSED = "self-test passed"
    CONNECTED = "relays closed, HV on"
    CONTACT_STABLE = "contact stable 2 s"
    TARGET_REACHED = "target reached"
    HALF_TIME = "half time"
    REVERSED = "polarity switched"
    CONTACT_LOST = "contact lost or short"
    STOP_RULE = "rule with reaction STOP"
    PAUSE_TIMEOUT = "pause timeout"
    TREATMENT_COMPLETE = "treatment complete"
    RAMP_ENDED = "ramp down ended"
    SELECT_PRESS = "SELECT press"
    DONE_SHOWN = "done shown"
    FAULT = "fault"
    TECH_CLEAR = "technician clear"
    SERVICE_START = "procedure started"
    SERVICE_END = "procedure ended"
    SERVICE_FAILED = "procedure failed while faulted"


class Transition(NamedTuple):
    src: State
    trigger: Trigger
    guard: str
    dst: State
    action: str


class IllegalTransition(RuntimeError):
    """A change of state that is not a row of :data:`TRANSITIONS`: a flaw of the code."""


#: The states of a session in which START stops it and a contact loss may pause it.
SESSION_STATES = (State.WAIT_CONTACT, State.RAMP_UP, State.TREAT, State.REVERSING,
                  State.RAMP_DOWN, State.PAUSED)
#: The states in which the contact rules (R-SHORT, R-OPEN) watch the load: every state in which
#: current can flow to the trays (see ``FaultLatch.react`` in :mod:`.faults` for the ramps down).
CONTACT_RULE_STATES = (State.WAIT_CONTACT, State.RAMP_UP, State.TREAT, State.PAUSED,
                       State.REVERSING, State.RAMP_DOWN)
#: The states from which a technician procedure may start.
SERVICE_FROM = (State.IDLE, State.FAULT, State.DONE)

S, T = State, Trigger
_STOP = "ramp down to zero within 5 s (STOP-BY-PATIENT)"

TRANSITIONS: tuple[Transition, ...] = (
    Transition(S.OFF, T.POWER_ON, "-", S.SELF_TEST, "run the power-on self-test"),
    Transition(S.SELF_TEST, T.SELF_TEST_PASSED, "power-on self-test", S.IDLE, "ST-PASS; ready"),
    Transition(S.IDLE, T.START_PRESS, "the START gate lets it (profile, plan, display)",
               S.SELF_TEST, "SESSION-START; run the self-test before the session"),
    Transition(S.IDLE, T.START_PRESS, "within 3 s of a DONE screen that asked for the score",
               S.IDLE, "PRESS-IGNORED (a press meant for the score starts nothing)"),
    Transition(S.SELF_TEST, T.START_PRESS, "session's self-test", S.SELF_TEST,
               "STOP-BY-PATIENT; the self-test runs to its end"),
    Transition(S.SELF_TEST, T.SELF_TEST_PASSED, "session's self-test, START not pressed",
               S.WAIT_CONTACT, "ST-PASS; close the patient relay, then HV on"),
    Transition(S.SELF_TEST, T.SELF_TEST_PASSED, "START pressed during the self-test", S.DONE,
               "ST-PASS; SESSION-END stopped (the patient was never connected)"),
    Transition(S.WAIT_CONTACT, T.CONNECTED, "-", S.WAIT_CONTACT,
               "hold the 0.2 mA contact probe"),
    Transition(S.WAIT_CONTACT, T.CONTACT_STABLE, "load in the contact range 2 s, skin test done",
               S.RAMP_UP, "CONTACT; take the reference load; ramp up from the probe"),
    Transition(S.WAIT_CONTACT, T.START_PRESS, "-", S.RAMP_DOWN, _STOP),
    Transition(S.WAIT_CONTACT, T.BUTTON_STUCK, "-", S.RAMP_DOWN,
               "BUTTON-STUCK warning; ramp down, latch BUTTON-STUCK at its end"),
    Transition(S.RAMP_UP, T.TARGET_REACHED, "reference at the allowed current, measured >= 90 %"
               " of it or compliance-limited", S.TREAT, "count the treatment time"),
    Transition(S.RAMP_UP, T.CONTACT_LOST, "R-OPEN / R-SHORT pause, or a shunt", S.PAUSED,
               "current to the probe at once"),
    Transition(S.RAMP_UP, T.STOP_RULE, "-", S.RAMP_DOWN, "ramp down within 5 s (incomplete)"),
    Transition(S.RAMP_UP, T.START_PRESS, "-", S.RAMP_DOWN, _STOP),
    Transition(S.RAMP_UP, T.BUTTON_STUCK, "-", S.RAMP_DOWN,
               "BUTTON-STUCK warning; ramp down, latch BUTTON-STUCK at its end"),
    Transition(S.TREAT, T.HALF_TIME, "polarity reversal prescribed, not yet done", S.REVERSING,
               "REVERSAL; ramp down at the prescribed rate"),
    Transition(S.TREAT, T.TREATMENT_COMPLETE, "time at target done (extended for the dose when"
               " the target was reduced)", S.RAMP_DOWN,
               "TREATMENT-COMPLETE; ramp down at the prescribed rate"),
    Transition(S.TREAT, T.CONTACT_LOST, "R-OPEN / R-SHORT pause, or a shunt", S.PAUSED,
               "current to the probe at once"),
    Transition(S.TREAT, T.STOP_RULE, "-", S.RAMP_DOWN, "ramp down within 5 s (incomplete)"),
    Transition(S.TREAT, T.START_PRESS, "-", S.RAMP_DOWN, _STOP),
    Transition(S.TREAT, T.BUTTON_STUCK, "-", S.RAMP_DOWN,
               "BUTTON-STUCK warning; ramp down, latch BUTTON-STUCK at its end"),
    Transition(S.PAUSED, T.CONTACT_STABLE, "load in the contact range 2 s", S.RAMP_UP,
               "CONTACT (resume); ramp up from the probe"),
    Transition(S.PAUSED, T.PAUSE_TIMEOUT, "paused over 5 min", S.RAMP_DOWN,
               "PAUSE-TIMEOUT; ramp down (incomplete)"),
    Transition(S.PAUSED, T.STOP_RULE, "-", S.RAMP_DOWN, "ramp down within 5 s (incomplete)"),
    Transition(S.PAUSED, T.START_PRESS, "-", S.RAMP_DOWN, _STOP),
    Transition(S.PAUSED, T.BUTTON_STUCK, "-", S.RAMP_DOWN,
               "BUTTON-STUCK warning; ramp down, latch BUTTON-STUCK at its end"),
    Transition(S.REVERSING, T.REVERSED, "current zero, dwell, polarity relay switched, HV on",
               S.RAMP_UP, "ramp up from zero"),
    Transition(S.REVERSING, T.CONTACT_LOST, "current above zero", S.REVERSING,
               "current to zero at once; the reversal goes on"),
    Transition(S.REVERSING, T.START_PRESS, "-", S.RAMP_DOWN, _STOP),
    Transition(S.REVERSING, T.BUTTON_STUCK, "-", S.RAMP_DOWN,
               "BUTTON-STUCK warning; ramp down, latch BUTTON-STUCK at its end"),
    Transition(S.RAMP_DOWN, T.START_PRESS, "-", S.RAMP_DOWN,
               "STOP-BY-PATIENT; the ramp made fast enough to end within 5 s"),
    Transition(S.RAMP_DOWN, T.CONTACT_LOST, "current above zero", S.RAMP_DOWN,
               "current to zero at once"),
    Transition(S.RAMP_DOWN, T.BUTTON_STUCK, "-", S.RAMP_DOWN,
               "BUTTON-STUCK warning; latch BUTTON-STUCK at the ramp's end"),
    Transition(S.RAMP_DOWN, T.RAMP_ENDED, "no fault waiting", S.DONE,
               "HV off, patient relay open; SESSION-END"),
    Transition(S.RAMP_DOWN, T.RAMP_ENDED, "a stuck START waiting", S.FAULT,
               "HV off, patient relay open; latch BUTTON-STUCK"),
    Transition(S.DONE, T.SELECT_PRESS, "a sweating score asked, neither saved nor refused", S.DONE,
               "the next score shown (1, 2, 3, 4, 1 ...); the screen kept 60 s more"),
    Transition(S.DONE, T.START_PRESS, "a score shown, not saved", S.DONE,
               "the score saved (HDSS-ENTERED), or HDSS-NOT-SAVED with why"),
    Transition(S.DONE, T.START_PRESS, "no score shown", S.DONE, "nothing"),
    Transition(S.DONE, T.DONE_SHOWN, "10 s after DONE, or after the score was saved or refused; "
               "while a score is asked, 30 s after DONE or 60 s after the last SELECT", S.IDLE,
               "ready; after a screen that asked: SELECT and START ignored for 3 s"),
    Transition(S.FAULT, T.START_HOLD, "CONTACT-TIMEOUT or SHORT-AT-START", S.IDLE,
               "FAULT-ACK; ready"),
    Transition(S.FAULT, T.START_HOLD, "any other fault", S.FAULT, "FAULT-NEEDS-TECHNICIAN"),
    Transition(S.FAULT, T.TECH_CLEAR, "-", S.IDLE, "FAULT-CLEARED; ready"),
    *(Transition(s, T.SERVICE_START, "no procedure running; not ST-RELAY", S.SERVICE,
                 "run the procedure inside the open-output guard") for s in SERVICE_FROM),
    Transition(S.SERVICE, T.SERVICE_END, "no fault latched", S.IDLE, "ready"),
    Transition(S.SERVICE, T.SERVICE_END, "started in FAULT or a fault latched", S.FAULT,
               "back to the latched fault"),
    Transition(S.SERVICE, T.SERVICE_FAILED, "a fault latched before", S.FAULT,
               "abort the procedure; the first fault stays"),
    *(Transition(s, T.FAULT, "a rule with reaction FAULT, a failed self-test, no contact in "
                 "120 s (CONTACT-TIMEOUT), a short at the contact check (SHORT-AT-START), START "
                 "stuck outside a session, the device program", S.FAULT,
                 "safe state at once; SESSION-END fault")
      for s in State if s not in (S.OFF, S.FAULT)),
)

_LEGAL = frozenset((t.src, t.trigger, t.dst) for t in TRANSITIONS if t.src != t.dst)


def check(src: str, trigger: Trigger, dst: State) -> None:
    """Raise :class:`IllegalTransition` unless ``src --trigger--> dst`` is a row of the table
    (rows that stay in their state are not changes and never pass here)."""
    if (src, trigger, dst) not in _LEGAL:
        raise IllegalTransition(f"{src} --{trigger}--> {dst} is not in the transition table "
                                "(controller/states.py)")
