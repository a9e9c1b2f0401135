"""What a press of SELECT does: the patient's "lower" during a session, and the choice of a
profile while the unit is idle.

SELECT never raises the current. START keeps its one meaning: a press stops the session
(a ramp down within 5 s), also while a lowering is under way.

**In IDLE** the controller only says that SELECT was pressed: ``Controller.select_listener``
(the device program's course, :meth:`firmware.course.CourseService.select_next`) chooses the
next profile. A unit without one says so (SELECT-REFUSED). For :data:`~controller.rating.QUIET_S`
after a DONE screen that asked for the sweating score, a press is ignored instead
(PRESS-IGNORED: it was meant for the score, :mod:`controller.rating`).

**During a session** a press lowers the level the session works to by
:data:`~controller.course.COMFORT_STEP_MA` (1 mA, :func:`~controller.course.comfort_step_down`),
to no lower than :data:`~controller.course.COMFORT_FLOOR_MA` (1 mA). The floor: below 1 mA the
current rules judge a current close to their floors (the channels agree within 0.3 mA, the
contact rules' 0.3 mA), and a treatment of under 1 mA gives little; a patient for whom 1 mA is
too much stops with START. A press at or under the floor lowers nothing and holds the current
where it is (a press early in the ramp up, under 1 mA, stops the ramp there). The session then
goes on at that level to its end: the duration is the prescription's, the dose is what flowed
(the lowered level is no shortfall of the device: the time is not extended for it, as it is
when the device has to settle for less; see ``SessionRecord.treat_done``).

The states, and why:

- RAMP_UP and TREAT: current flows and the patient feels it; the level goes down from the
  present reference, at the prescription's ramp rate, never in a step (the ceiling on the
  reference falls by the ramp rate each period until it reaches the level). In RAMP_UP the
  ramp ends at the lowered level.
- PAUSED and REVERSING: no current flows to lower (the 0.2 mA contact probe, or the ramp down
  before the polarity switch), but the session will ramp up again: the level it goes back to
  is lowered, one step under the level of the last treating period (or the level already
  chosen). The ramp up after the pause or the switch ends there.
- the session's own self-test and WAIT_CONTACT: nothing flows yet and the level has not been
  felt; refused (SELECT-REFUSED), the patient presses SELECT once the current is felt.
- RAMP_DOWN: the current already goes to zero; refused.
- DONE: where the course asks for the patient's sweating score, a press shows the next score
  (:mod:`.rating`); otherwise refused, as are
- FAULT, the power-on self-test and a technician's procedure (SERVICE): refused, each
  with a plain reason; the technician's procedure drives the test load, not the patient.

The lowest level chosen is the session's ``comfort_lowest_ma`` (the treatment log keeps it);
the course makes the next session of that profile start there and rise towards the
prescription by at most 1 mA a session (:func:`controller.course.comfort_after_session`).
"""

from __future__ import annotations

from .course import COMFORT_FLOOR_MA, comfort_step_down
from .states import State

#: the states in which a press lowers the session's level
LOWERS_IN = (State.RAMP_UP, State.TREAT, State.PAUSED, State.REVERSING)
#: the states in which the level goes down from the present current (a falling ceiling); in
#: the others of LOWERS_IN no current flows to the patient's level, and the next ramp up ends
#: at the lowered level
FLOWING = (State.RAMP_UP, State.TREAT)
REFUSED = "SELECT-REFUSED"
LOWER = "COMFORT-LOWER"
AT_FLOOR = "COMFORT-FLOOR"
#: why a press is refused, by state
REFUSALS = {
    State.OFF: "the unit is starting: SELECT does nothing yet",
    State.SELF_TEST: "the unit is testing itself: SELECT does nothing now; press it again when "
                     "the unit is ready",
    State.SERVICE: "the technician's procedure runs: SELECT does nothing now",
    State.WAIT_CONTACT: "no current flows yet: once the current is felt, SELECT lowers it "
                        "(START stops the session)",
    State.RAMP_DOWN: "the current is already going down to zero",
    State.DONE: "the session has ended: SELECT chooses a profile once the unit is ready",
    State.FAULT: "the unit has stopped on a fault: SELECT does nothing now",
}
NO_PROFILES = "SELECT chooses a profile, and this unit has none to choose from"


class ComfortControl:
    """The session's comfort level and the ceiling that brings the current down to it.

    ``level`` is the average current (mA) the patient chose, ``None`` until a press; the
    ceiling on the reference falls from the reference at the press to ``level`` at the
    prescription's ramp rate (:meth:`limit`, each period of RAMP_UP and TREAT)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """A new session: no level chosen."""
        self.level: float | None = None
        self.ceiling: float | None = None
        self._last_ref = 0.0

    def target(self, target_ma: float) -> float:
        """The level the session works to: ``target_ma`` or the lower level chosen."""
        return target_ma if self.level is None else min(target_ma, self.level)

    def limit(self, goal: float, ref: float, rate_ma_s: float, period: float) -> float:
        """One period of RAMP_UP or TREAT: ``goal`` (the guards' allowed current) under the
        ceiling, which falls by ``rate_ma_s * period`` towards the level; ``ref`` the
        reference before this period (the level a press in PAUSED or REVERSING lowers)."""
        self._last_ref = ref
        if self.ceiling is None:
            return goal
        self.ceiling = max(self.level, self.ceiling - rate_ma_s * period)
        return goal if goal < self.ceiling else self.ceiling

    def on_select(self, ctrl, now: float) -> None:
        """SELECT pressed (debounced) in the controller's present state."""
        st = ctrl.state
        if st == State.IDLE:
            if ctrl.rating.ignores(ctrl, now, "SELECT", "choose the next person"):
                return   # meant for the score just asked (controller/rating.py)
            if ctrl.select_listener is None:
                ctrl._emit(now, "warning", REFUSED, NO_PROFILES)
            else:
                ctrl.select_listener(now)
            return
        if st in LOWERS_IN and ctrl.session is not None:
            self._lower(ctrl, now)
            return
        if st == State.DONE and ctrl.rating.open:
            ctrl.rating.on_select(now)   # the next sweating score (controller/rating.py)
            return
        if st == State.SELF_TEST and ctrl.session is not None:
            why = REFUSALS[State.WAIT_CONTACT]
        else:
            why = REFUSALS.get(st, "SELECT does nothing now")
        ctrl._emit(now, "warning", REFUSED, f"SELECT pressed: {why}")

    def _lower(self, ctrl, now: float) -> None:
        flowing = ctrl.state in FLOWING
        basis = ctrl.delivery.ref if flowing else self._last_ref
        if self.level is not None:
            basis = min(basis, self.level)
        if basis <= 0.0:
            ctrl._emit(now, "warning", REFUSED, f"SELECT pressed: {REFUSALS[State.WAIT_CONTACT]}")
            return
        new = comfort_step_down(basis)
        rate = ctrl.rx.ramp_ma_s
        self.level = new
        # where no current flows, the next ramp up ends at the level: no ceiling to bring down
        top = min(ctrl.delivery.ref, basis) if flowing else new
        self.ceiling = top if self.ceiling is None else min(self.ceiling, top)
        sess = ctrl.session
        if sess.comfort_lowest_ma is None or new < sess.comfort_lowest_ma:
            sess.comfort_lowest_ma = new
        if new >= basis:
            ctrl._emit(now, "info", AT_FLOOR,
                       f"SELECT pressed: the current is held at {new:.1f} mA; it is not lowered "
                       f"below {COMFORT_FLOOR_MA:g} mA (START stops the session)")
            return
        how = (f"going down at {rate:g} mA/s" if flowing
               else "the current comes back to that level")
        ctrl._emit(now, "info", LOWER,
                   f"SELECT pressed: the current is lowered to {new:.1f} mA ({how}) for the rest "
                   f"of the session, prescribed {ctrl.rx.target_ma:g} mA; the time stays "
                   f"{ctrl.rx.duration_min:g} min (START stops the session)")
