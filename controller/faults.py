"""The latched fault: what it is (:class:`Fault`), and the session's reactions to the rules
that fire, its latching and its clearing (:class:`FaultLatch`).

A fault goes to the safe state within the period it is found in and stays latched until it is
cleared: by the technician after a passing self-test, or by the patient (a 3 s hold of START)
where the fault's definition allows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .button import BUTTON_STUCK_S
from .rules import FaultDef, Reaction, Rule
from .selftest import HINTS
from .states import State, Trigger


@dataclass(frozen=True, slots=True)
class Fault:
    """A latched fault: its code (a rule's id, a self-test's code, or the device's own), the
    words that say what happened, and when it latched (s)."""

    code: str
    message: str
    at_s: float
    #: the patient may clear it with a 3 s hold of START (its definition says so: the rule's row,
    #: the contact check's fault, or the table below); False: only the technician
    patient_clearable: bool = False


#: The faults the session latches under codes of their own. A rule's fault is defined by its row
#: of the rule table (:mod:`.rules`: its own, and the one it latches at the contact check), the
#: self-test's by :mod:`.selftest`, and the device program's (SW-ERROR) by the program: none of
#: those the patient may clear.
CONTACT_TIMEOUT = FaultDef("CONTACT-TIMEOUT", "no contact: the hands did not reach the water in "
                           "time; hold START 3 s, then press START again", patient_clearable=True)
BUTTON_STUCK = FaultDef("BUTTON-STUCK", f"START held for {BUTTON_STUCK_S:g} s without a release: "
                        "the button is stuck and the patient cannot stop a session; have the "
                        "button checked")


class FaultLatch:
    """The session's (``ctl``, :class:`~controller.session.Controller`) latched fault
    (``fault``), and the fault a gentle stop leaves waiting until its ramp has ended
    (``waiting``)."""

    def __init__(self, ctl):
        self.ctl = ctl
        self.fault: Fault | None = None
        self.waiting: FaultDef | None = None

    def react(self, now: float, rule: Rule) -> None:
        """What ``rule``, fired this period, does in the session's state: its reaction, or the
        one its table row names for the state (the self-test's code, the contact check's
        fault, the words of a pause)."""
        ctl = self.ctl
        state = ctl.state
        if state == State.FAULT:
            return  # latched already; the first fault is the one that counts
        if ctl._service is not None and self.fault is not None:
            # A procedure run while faulted (the technician's self-test) fails: abort it and
            # stay in the fault that is already latched.
            if rule.reaction is Reaction.FAULT:
                done = ctl._service.done
                ctl._service = None
                # back to the fault latched before, without a state event (as it always was)
                ctl._enter(now, State.FAULT, Trigger.SERVICE_FAILED, announce=False)
                ctl._emit(now, "rule", rule.id, rule.text)
                done(None, RuntimeError(f"{rule.id}: {rule.text}"))
            return
        delivery = ctl.delivery
        if rule.reaction is Reaction.FAULT:
            ctl._emit(now, "rule", rule.id, rule.text)
            if state == State.SELF_TEST and rule.self_test_code is not None:
                code = rule.self_test_code
                self.latch(now, code, f"{rule.text}; {HINTS[code]}")
            else:
                self.latch(now, rule.id, rule.text, patient_clearable=rule.patient_clearable)
        elif rule.reaction is Reaction.PAUSE:
            if state in (State.RAMP_UP, State.TREAT):
                ctl._emit(now, "rule", rule.id, rule.text)
                delivery.pause(now, rule)
            elif state in (State.RAMP_DOWN, State.REVERSING) and delivery.ref > 0.0:
                # On the way down a pause would only delay the end: the current goes to zero now
                # and the ramp's sequence (the disconnect, or the polarity switch and a fresh ramp
                # up that the contact rules watch again) follows as it would have.
                ctl._emit(now, "rule", rule.id, rule.text)
                delivery.cut_ramp_down(now, rule)
            elif state == State.WAIT_CONTACT and rule.contact_check_fault is not None:
                ctl._emit(now, "rule", rule.id, rule.text)
                self.latch_def(now, rule.contact_check_fault)
        elif rule.reaction is Reaction.STOP and \
                state in (State.RAMP_UP, State.TREAT, State.PAUSED):
            ctl._emit(now, "rule", rule.id, rule.text)
            delivery.begin_stop(now, "incomplete", Trigger.STOP_RULE, quick=True)

    def latch(self, now: float, code: str, message: str, *, patient_clearable: bool = False,
              trigger: Trigger = Trigger.FAULT) -> None:
        """Latch a fault and go to the safe state."""
        ctl = self.ctl
        if ctl.state == State.FAULT:
            return
        if ctl._service is not None:
            done = ctl._service.done
            ctl._service = None
            done(None, RuntimeError(f"{code}: {message}"))
        self.fault = Fault(code, message, now, patient_clearable)
        # first: whatever a listener does, the outputs go safe (the state event comes last)
        ctl._enter(now, State.FAULT, trigger, announce=False)
        self.waiting = None
        ctl.delivery.off()
        ctl.seqs.seq = None
        ctl._emit(now, "fault", code, message)
        ctl._end_session(now, "fault", code)
        ctl._emit(now, "state", State.FAULT.value, f"{code}: {message}")

    def latch_def(self, now: float, d: FaultDef, *, trigger: Trigger = Trigger.FAULT) -> None:
        """Latch the fault ``d`` defines."""
        self.latch(now, d.code, d.message, patient_clearable=d.patient_clearable,
                   trigger=trigger)

    def latch_waiting(self, now: float) -> bool:
        """A gentle stop's ramp has ended: latch the fault it left waiting, if any."""
        if self.waiting is None:
            return False
        d, self.waiting = self.waiting, None
        self.latch_def(now, d, trigger=Trigger.RAMP_ENDED)
        return True

    def acknowledge(self, now: float) -> None:
        """A 3 s hold of START: clears the fault where the patient may, else says who may."""
        ctl = self.ctl
        if ctl.state != State.FAULT or self.fault is None:
            return
        if self.fault.patient_clearable:
            ctl._emit(now, "info", "FAULT-ACK", f"fault {self.fault.code} acknowledged "
                      "by a 3 s hold of START")
            self.fault = None
            ctl.rules.clear()
            ctl._enter(now, State.IDLE, Trigger.START_HOLD, "ready")
        else:
            ctl._emit(now, "warning", "FAULT-NEEDS-TECHNICIAN",
                      f"fault {self.fault.code} must be cleared by the technician")

    def clear(self, now: float) -> bool:
        """Technician clear (after a passing self-test); returns whether a fault was cleared."""
        ctl = self.ctl
        if ctl.state != State.FAULT:
            return False
        ctl._emit(now, "info", "FAULT-CLEARED", f"fault {self.fault.code if self.fault else ''}"
                  " cleared by the technician")
        self.fault = None
        ctl.rules.clear()
        ctl.button.rearm_stuck()  # a button still jammed latches again at once
        ctl._enter(now, State.IDLE, Trigger.TECH_CLEAR, "ready")
        return True

