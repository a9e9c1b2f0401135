"""The fault-injection matrix: every catalogue fault in every phase of a session.

Each cell plays the complete device program (as ``ionto sim`` does: HAL, real drivers,
controller, treatment log) on the simulator, lets a session reach the phase, injects the fault
there, and watches the ground truth (the true patient current from the physics, not what the
device believes) until the device has reacted. A cell passes when:

- the true current stayed within its bound all along: the site limit (+0.3 mA) for a fault
  that does not move the current by itself, the 31 mA series limiter for one that does (a
  shorted sink, a stuck setpoint, a collapsing rail);
- the device latched one of the fault codes expected for that fault (:data:`EXPECTED`), and the
  true current was below 0.1 mA within that code's deadline (the campaign's, with the same
  per-fault allowances), counted from the injection (from the detection for a fault that comes
  and goes, or that lies dormant until later in the session: :data:`DEFERRED`), and within
  20 ms of the detection; a stuck START is answered by a gentle stop instead (a patient stop or
  BUTTON-STUCK: the current off within 5.2 s of the stop's start);
- the treatment log recorded it: the session row ends as ``fault`` with that code (a self-test
  failure before the session is an event row), or ``stopped`` for a patient stop.

A fault with nothing to act on in a phase (a stuck polarity relay in a session without a
reversal) must leave the session running, with no false fault.

A fault that cannot show in a phase (a dead overcurrent comparator while treating, a welded
relay that is meant to be closed) is *latent*: the cell then ends the session as the patient
would (START), starts the next one, and expects the self-test before it to catch the fault.
The columns are the phases; a cell shows ``code detected/safe`` in ms from the injection.

Where a phase is entered from: SELF_TEST at the press of START (injected as it begins),
WAIT_CONTACT 0.5 s into the contact check, RAMP_UP at half the target current, TREAT 5 s into
the treatment, REVERSING as the ramp down to the polarity switch begins (a 10-min reversal
session: the switch comes after 5 min at target), RAMP_DOWN halfway down a patient stop,
PAUSED in the contact check of a pause (both hands lifted out 5 s into the treatment and put
back 1 s later: 0.5 s into the 2 s the contact must be stable, at the 0.2 mA probe), RESUME on
the ramp up after that pause at half the target, END_RAMP halfway down the ramp at the end of
the treatment, DONE 1 s into the DONE display after a patient stop (HV off, the patient
relay open; the patient presses START again once the device is idle). SERVICE_TEST and
SERVICE_CAL are a technician's procedures between sessions, over the console, with the hands
in the trays: the self-test on demand (``selftest``, 0.4 s into it) and the calibration
(``cal ref 10.0`` after ``cal zero``, 0.25 s into it, its 10 mA on the test load). The patient
relay is open then (and in DONE), so a fault there has no patient current to act on: what it
must not do is reach the patient's next session. A fault latched there is judged as in a
session (ST codes: no patient current at all); one that is not (a procedure refuses its step,
or nothing sees the fault) must be caught when the patient presses START afterwards: by that
session's self-test, or on its ramp below ``DEFERRED_MA``, judged
from the detection (``Cell.next_session``).

``python tools/fault_matrix.py`` writes ``docs/safety/fault-matrix.md``; ``--check`` (in CI)
fails on a failed cell or a stale document.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.rating import QUIET_S, RATE_ASK_S
from sim.faults import CATALOGUE
from sim.scenario import parse_scenario

from .campaign import (
    CURRENT_FAULTS,
    DEADLINE_MS,
    FAULT_DEADLINE_MS,
    INTERMITTENT_FAULTS,
    LIMITER_MA,
    REACT_MS,
)

PHASES = ("SELF_TEST", "WAIT_CONTACT", "RAMP_UP", "TREAT", "REVERSING", "RAMP_DOWN", "PAUSED",
          "RESUME", "END_RAMP", "DONE", "SERVICE_TEST", "SERVICE_CAL")
#: phases of a technician's procedure over the console, between sessions (the hands in the
#: trays, the patient relay open): a fault the procedure does not latch must be caught before
#: the patient's next session delivers current, by its self-test or early on its ramp
SERVICE_PHASES = ("SERVICE_TEST", "SERVICE_CAL")
#: phases between two sessions (DONE: 1 s into the DONE display after a patient stop, HV off):
#: the patient presses START again once the device is idle, and the cell goes on in that session
BETWEEN_PHASES = ("DONE",) + SERVICE_PHASES
#: when in the procedure the fault is injected (s into the SERVICE state): the self-test on
#: demand halfway through its 0.96 s (its test currents on the test load, before the trip
#: proof); 'cal ref' with its 10 mA on the test load, settled, before the readings are taken
SERVICE_AT_S = {"SERVICE_TEST": 0.4, "SERVICE_CAL": 0.25}
TARGET_MA = 12.0
SITE_LIMIT_MA = 20.0
#: parameters for faults whose catalogue defaults would make a weak cell
PARAMS = {"loop_stall": {"ms": 1000}}
#: self-test codes: no patient current flows during the self-test (the output is on the test
#: load, the patient relay open), so their deadline is the patient's current never rising.
SELF_TEST_DEADLINE_MS = 0.0
#: reactions that stop the session gently (ramp down within 5 s) instead of tripping
GENTLE = {"stopped", "BUTTON-STUCK"}
GENTLE_MS = 5000.0 + 200.0   # the stop ramp plus the relay sequence
#: (fault, phase) cells where the fault lies dormant until a later moment of the same session,
#: so that a deadline from the injection means nothing: it counts from the detection (20 ms to
#: a safe current), and, where given, the true current must not have passed a bound before it.
#: - a current-sense fault at the 0.2 mA contact probe: a 30 % gain error or a dead channel is
#:   a 0.06 to 0.2 mA difference, below the agreement rule's 0.3 mA floor; it must be caught
#:   early on the ramp, below DEFERRED_MA;
#: - a polarity relay that sticks as the reversal's ramp down begins acts only at the switch,
#:   seconds later, when no current flows.
DEFERRED_MA = 1.5
DEFERRED: dict[tuple[str, str], float | None] = {
    ("sense_a_gain", "WAIT_CONTACT"): DEFERRED_MA,
    ("sense_b_open", "WAIT_CONTACT"): DEFERRED_MA,
    ("sense_a_gain", "PAUSED"): DEFERRED_MA,
    ("sense_b_open", "PAUSED"): DEFERRED_MA,
    ("polarity_relay_stuck", "REVERSING"): None,
}
#: the longest a DONE screen and the quiet after it keep the unit from taking START (s): a
#: screen that asks for the sweating score and is not answered (controller/rating.py)
DONE_MAX_S = RATE_ASK_S + QUIET_S + 5.0
#: simulated seconds after the injection within which the reaction must come
WATCH_S = 30.0

#: fault -> the codes that may answer it. A fault in the self-test is caught by the self-test
#: step that meets it first, or by a rule when the rule is faster (the rules run in every
#: state); in a session by its rule. ``LATENT`` marks a fault that cannot show in the session
#: and must be caught by the next self-test (its codes are those of the self-test).
EXPECTED: dict[str, set[str]] = {
    "adc_absent": {"R-ADC-FAIL", "ST-ADC"},
    "adc_glitch": {"R-ADC-FAIL", "ST-ADC"},
    "adc_stuck": {"R-ADC-FROZEN", "R-ADC-STUCK", "ST-ADC", "ST-AGREE", "ST-SETPOINT"},
    "sense_a_gain": {"R-OC-REL", "R-CH-AGREE", "ST-AGREE", "ST-SETPOINT", "ST-VOLT"},
    "sense_b_open": {"R-CH-AGREE", "ST-AGREE"},
    "sink_short": {"R-OC-ABS", "R-OC-REL", "R-NOCMD", "ST-ZERO", "ST-HV", "ST-SETPOINT", "ST-TRIP",
                   "R-HW-TRIP", "ST-RELAY"},
    "pwm_stuck": {"R-OC-ABS", "R-OC-REL", "R-NOCMD", "ST-ZERO", "ST-HV", "ST-SETPOINT", "ST-TRIP",
                  "R-HW-TRIP", "ST-RELAY"},
    "polarity_relay_stuck": {"R-POLARITY"},
    "patient_relay_welded": {"ST-RELAY", "R-NOCMD"},
    "hv_sag": {"R-HV", "ST-HV"},
    "hv_over": {"R-HV", "ST-HV"},
    "loop_stall": {"R-OVERRUN", "R-HW-TRIP"},
    "button_stuck": {"stopped", "BUTTON-STUCK"},
    "trip_dead": {"ST-TRIP"},
}
#: codes that also answer a fault injected during a technician's procedure: a shorted sink
#: or a stuck setpoint on the 1 kohm test load, past the procedure's rail check, loads the HV
#: rail out of its band and the rule on the rail (the same check as the self-test's ST-HV,
#: which answers them in SELF_TEST) latches first; no patient current flows
SERVICE_EXPECTED: dict[str, set[str]] = {"sink_short": {"R-HV"}, "pwm_stuck": {"R-HV"}}
#: (fault, phase) cells where the fault cannot show before the next self-test; the self-test
#: on demand proves the comparator itself (after the injection point of SERVICE_TEST)
LATENT = {("trip_dead", p) for p in PHASES[1:] if p != "SERVICE_TEST"} | \
    {("patient_relay_welded", p) for p in PHASES}
#: (fault, phase) cells where the fault has nothing to act on: the cell checks that the session
#: carries on safely and reports no false fault
NO_EFFECT = {("polarity_relay_stuck", p) for p in PHASES if p != "REVERSING"}


@dataclass
class Cell:
    fault: str
    phase: str
    expected: str          # "codes", "latent" or "none"
    code: str | None       # the fault code latched, "stopped", or None
    detected_after_ms: float | None
    safe_after_ms: float | None
    peak_ma: float
    bound_ma: float
    logged: bool
    problems: list[str]
    #: caught in the patient's next session, not in the technician's procedure it was
    #: injected in (a service phase)
    next_session: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        if self.code is None:
            return "no effect" if self.expected == "none" else "—"
        det = "—" if self.detected_after_ms is None else f"{self.detected_after_ms:g}"
        safe = "—" if self.safe_after_ms is None else f"{self.safe_after_ms:g}"
        if self.expected == "latent":
            return f"{self.code} at the next self-test"
        return f"{self.code} {det}/{safe}"


def scenario_doc(phase: str) -> dict:
    reverse = phase == "REVERSING"
    return {"name": f"matrix-{phase.lower()}", "seed": 7,
            "protocol": {"site": "hands", "target_ma": TARGET_MA,
                         "duration_min": 10.0 if reverse else 5.0, "ramp_ma_s": 1.0,
                         "reverse_polarity": reverse},
            "patient": {"load_ohm": 2000.0, "area_cm2": 150.0, "in_water": True},
            "event": []}


class _Driver:
    """Drives a ScenarioRun step by step as the patient would."""

    def __init__(self, phase: str):
        from .simrun import ScenarioRun
        self.run = ScenarioRun(parse_scenario(scenario_doc(phase), "matrix.toml"), None,
                               trace=False)
        self.ctrl = self.run.program.controller
        self.entered: dict[str, float] = {}
        self.ctrl.events.listeners.append(self._on_event)
        #: the largest true current (pulse peaks) since the injection: the bound of a dormant
        #: fault counts from there, not from the treatment current before a pause
        self.watching = False
        self.peak_after = 0.0

    def _on_event(self, ev) -> None:
        if ev.kind == "state":
            self.entered[ev.code] = ev.t

    @property
    def now(self) -> float:
        return self.run.clock.now()

    @property
    def state(self) -> str:
        return self.ctrl.state

    def true_ma(self) -> float:
        return self.run.truth.last_ma

    def step(self) -> None:
        self.run.step()
        if self.watching:
            self.peak_after = max(self.peak_after, self.run.truth.last_peak_ma)

    def until(self, pred, timeout: float) -> bool:
        end = self.now + timeout
        while self.now < end:
            if pred():
                return True
            self.step()
        return pred()

    def allow_the_next_sitting(self) -> None:
        """The session after a latent fault is, on a real unit, the patient's next sitting: a
        session that ran past half its time counts for the plan, and the plan refuses another
        within 20 hours (``controller.course.MIN_GAP``). The matrix plays that sitting at once,
        with the technician's one-session override of the gap (what ``profile override``
        grants), so that the cell judges the self-test, not the plan."""
        course = self.run.program.course
        pid = course.active
        profile, extras = course.profile(pid)
        granted = course.calendar.now().isoformat(timespec="seconds")
        course.save(profile, {**extras, "override": {
            "granted_at": granted, "by": "fault matrix", "reason": "the next sitting"}},
            "fault matrix")

    def ready(self) -> bool:
        """IDLE and taking presses (a DONE screen that asked for the sweating score leaves
        START quiet for a moment after it: ``controller.rating.QUIET_S``)."""
        return self.state == "IDLE" and not self.ctrl.rating.quiet(self.now)

    def press(self, hold_s: float = 0.2) -> None:
        self.run.rig.set_button(True)
        self.until(lambda: False, hold_s)
        self.run.rig.set_button(False)

    def in_state_for(self, state: str, s: float) -> bool:
        return self.state == state and self.now - self.entered.get(state, self.now) >= s

    def type(self, line: str) -> None:
        """A line typed on the technician console."""
        self.run.player.type_line(line)

    def procedure_done(self) -> bool:
        return self.state != "SERVICE" and not self.run.console.pending

    def reach(self, phase: str) -> None:
        """Run a session to the injection point of ``phase``."""
        if not self.until(lambda: self.state == "IDLE", 10.0):
            raise RuntimeError(f"the device did not become IDLE (state {self.state})")
        self.until(lambda: False, 0.5)
        if phase in SERVICE_PHASES:
            # the technician logs in and runs the procedure; the hands stay in the trays
            self.type("login 123456")
            self.until(lambda: False, 0.5)
            if phase == "SERVICE_CAL":
                self.type("cal zero")
                self.until(lambda: self.state == "SERVICE", 1.0)
                self.until(self.procedure_done, 5.0)
                self.until(lambda: False, 0.5)
                self.type("cal ref 10.0")
            else:
                self.type("selftest")
            at = SERVICE_AT_S[phase]
            if not self.until(lambda: self.in_state_for("SERVICE", at), 5.0):
                raise RuntimeError(f"the procedure of {phase} did not start (state "
                                   f"{self.state})")
            return
        self.run.rig.set_button(True)
        if phase == "SELF_TEST":
            ok = self.until(lambda: self.state == "SELF_TEST", 1.0)
        else:
            self.until(lambda: False, 0.2)
            self.run.rig.set_button(False)
            if phase == "WAIT_CONTACT":
                ok = self.until(lambda: self.in_state_for("WAIT_CONTACT", 0.5), 20.0)
            elif phase == "RAMP_UP":
                ok = self.until(lambda: self.state == "RAMP_UP"
                                and self.true_ma() >= TARGET_MA / 2, 60.0)
            elif phase == "TREAT":
                ok = self.until(lambda: self.in_state_for("TREAT", 5.0), 60.0)
            elif phase == "REVERSING":
                ok = self.until(lambda: self.state == "REVERSING", 420.0)
            elif phase == "RAMP_DOWN":
                ok = self.until(lambda: self.in_state_for("TREAT", 5.0), 60.0)
                if ok:
                    self.press()
                    ok = self.until(lambda: self.state == "RAMP_DOWN"
                                    and self.true_ma() <= TARGET_MA / 2, 10.0)
            elif phase in ("PAUSED", "RESUME"):
                ok = self.until(lambda: self.in_state_for("TREAT", 5.0), 60.0)
                if ok:
                    self.run.rig.lift()
                    ok = self.until(lambda: self.state == "PAUSED", 1.0)
                    self.until(lambda: False, 1.0)
                    self.run.rig.immerse()
                    if phase == "PAUSED":
                        self.until(lambda: False, 0.5)
                        ok = ok and self.state == "PAUSED"
                    else:
                        ok = ok and self.until(lambda: self.state == "RAMP_UP"
                                               and self.true_ma() >= TARGET_MA / 2, 60.0)
            elif phase == "DONE":
                ok = self.until(lambda: self.in_state_for("TREAT", 5.0), 60.0)
                if ok:
                    self.press()
                    ok = self.until(lambda: self.in_state_for("DONE", 1.0), 15.0)
            elif phase == "END_RAMP":
                ok = self.until(lambda: self.state == "RAMP_DOWN"
                                and self.true_ma() <= TARGET_MA / 2, 400.0)
            else:
                raise ValueError(f"unknown phase {phase!r}; allowed: {', '.join(PHASES)}")
        if not ok:
            raise RuntimeError(f"the session did not reach {phase} (state {self.state})")
        if phase == "SELF_TEST":
            self.run.rig.set_button(False)

    def close(self) -> None:
        self.run.close()


def run_cell(fault: str, phase: str) -> Cell:
    """Inject ``fault`` at ``phase`` and judge the device's reaction on the ground truth."""
    if fault not in CATALOGUE:
        raise ValueError(f"unknown fault {fault!r}; allowed: {', '.join(CATALOGUE)}")
    d = _Driver(phase)
    try:
        d.reach(phase)
        t0 = d.now
        d.run.rig.inject(fault, **PARAMS.get(fault, {}))
        d.run.player.injected.append((t0, fault))
        d.watching = True
        expected = ("latent" if (fault, phase) in LATENT
                    else "none" if (fault, phase) in NO_EFFECT else "codes")
        sessions0 = len(d.ctrl.sessions_done)

        def reacted() -> bool:
            if fault == "button_stuck":  # a stop first, then the latch 10 s after it stuck
                return d.state == "FAULT"
            return d.state == "FAULT" or (len(d.ctrl.sessions_done) > sessions0
                                          and d.state in ("DONE", "IDLE"))
        next_t = None
        if phase in BETWEEN_PHASES:
            # the procedure ends (latched or refused, or done); then the patient's next
            # session, which must not start on the fault
            d.until(lambda: d.state == "FAULT" or d.procedure_done(), 10.0)
            d.until(lambda: d.state == "FAULT", 1.0)
            if d.state != "FAULT":
                d.until(d.ready, 20.0)
                next_t = d.now
                d.press()
        d.until(reacted, WATCH_S)
        if expected == "latent" and d.state != "FAULT":
            # the patient ends the session; the self-test before the next one must catch it
            if d.state not in ("DONE", "IDLE"):
                d.press()
                d.until(lambda: d.state in ("DONE", "IDLE", "FAULT"), 20.0)
            d.until(lambda: d.state == "FAULT" or d.ready(), DONE_MAX_S)
            if d.state == "IDLE":
                d.allow_the_next_sitting()
                d.press()
                d.until(lambda: d.state in ("FAULT", "WAIT_CONTACT", "RAMP_UP"), 20.0)
        d.until(lambda: False, 1.0)  # let the safe state settle and the log commit
        return _judge(d, fault, phase, expected, t0, next_t)
    finally:
        d.close()


def _judge(d: _Driver, fault: str, phase: str, expected: str, t0: float,
           next_t: float | None = None) -> Cell:
    run = d.run
    problems: list[str] = []
    bound = LIMITER_MA if fault in CURRENT_FAULTS else SITE_LIMIT_MA + 0.3
    peak = run.truth.peak_ma
    if peak > bound:
        problems.append(f"true current {peak:.2f} mA above {bound} mA")
    ms = lambda t: round((t - t0) * 1000, 2)  # noqa: E731 - ms from the injection
    safe = ms(max(t0, run.rig.physics.last_above_t))
    rows = run.program.log.sessions()
    # the device's first reaction after the injection: a latched fault or a stop
    code = det = None
    for ev in run.events:
        if ev["t_s"] < t0 - 1e-9 or ev["kind"] not in ("fault", "warning", "info"):
            continue
        name = ev["detail"].split(":", 1)[0]
        if ev["kind"] == "fault" or (expected != "latent"  # the harness stops latent cells
                                     and name in ("STOP-BY-PATIENT", "BUTTON-STUCK")):
            code, det = name, ms(ev["t_s"])
            if name == "STOP-BY-PATIENT":
                code = "stopped"
            break
    if code is None:
        if expected != "none":
            problems.append(f"no reaction within {WATCH_S:g} s (state {d.state})")
        return Cell(fault, phase, expected, None, None, None, round(peak, 3), bound, True,
                    problems)
    # a fault that a technician's procedure left unlatched, caught in the patient's next
    # session: judged from the detection, and on the current the session let through before it
    later = next_t is not None and t0 + det / 1000.0 >= next_t - 1e-9
    allowed = EXPECTED[fault] | (SERVICE_EXPECTED.get(fault, set())
                                 if phase in SERVICE_PHASES else set())
    if code not in allowed:
        problems.append(f"{code} is not an expected code for {fault} "
                        f"(expected one of {', '.join(sorted(allowed))})")
    if expected == "none":
        problems.append(f"{code} where the fault has nothing to act on")
    if code == "stopped":
        # a press on the ramp at the end of the treatment ends it sooner; it stays completed
        ended = ("completed", "stopped") if phase == "END_RAMP" else ("stopped",)
        logged = bool(rows) and rows[-1]["outcome"] in ended
    else:
        logged = any(r["fault_code"] == code and r["outcome"] == "fault" for r in rows) or \
            (code.startswith("ST-") or code == "BUTTON-STUCK") and code in _event_codes(run) or \
            phase in BETWEEN_PHASES and not later and code in _event_codes(run, "fault")
    if not logged:
        problems.append("not in the treatment log")
    if fault == "button_stuck":
        latched = d.ctrl.fault.code if d.ctrl.fault else None
        if latched != "BUTTON-STUCK":
            problems.append(f"latched {latched}, not BUTTON-STUCK")
        elif (d.ctrl.fault.at_s - t0) * 1000 > DEADLINE_MS["BUTTON-STUCK"]:
            problems.append("BUTTON-STUCK latched after its deadline")
        if safe > DEADLINE_MS["BUTTON-STUCK"]:
            problems.append(f"safe after {safe:g} ms (deadline "
                            f"{DEADLINE_MS['BUTTON-STUCK']} ms)")
    if code in GENTLE:
        # a stop, not a trip: the current ramps down within 5 s of the stop's start
        if safe - det > GENTLE_MS:
            problems.append(f"safe {safe - det:g} ms after the stop began (deadline "
                            f"{GENTLE_MS:g} ms)")
    else:
        if expected == "latent":
            pass  # a normal session until the next self-test: the bound above is the check
        elif (fault, phase) in DEFERRED or later:
            before = DEFERRED_MA if later else DEFERRED[(fault, phase)]
            if before is not None and d.peak_after > before:
                problems.append(f"caught only at {d.peak_after:.2f} mA (bound {before} mA)")
        else:
            deadline = max(DEADLINE_MS.get(code, SELF_TEST_DEADLINE_MS),
                           FAULT_DEADLINE_MS.get(fault, 0.0) if code.startswith("R-") else 0.0)
            late = safe - det if fault in INTERMITTENT_FAULTS else safe
            if late > deadline:
                problems.append(f"safe after {late:g} ms (deadline {deadline:g} ms)")
        if safe - det > REACT_MS:
            problems.append(f"safe {safe - det:g} ms after the detection (deadline "
                            f"{REACT_MS} ms)")
    return Cell(fault, phase, expected, code, det, safe, round(peak, 3), bound, logged,
                problems, later)


def _event_codes(run, kind: str | None = None) -> set[str]:
    """The codes of the log's event rows (a fault latched outside a session is one, of kind
    ``fault``)."""
    if kind is None:
        return {r[0] for r in run.program.log.db.execute("SELECT code FROM events")}
    return {r[0] for r in run.program.log.db.execute("SELECT code FROM events WHERE kind = ?",
                                                     (kind,))}


def run_matrix(jobs: int = 1, faults=None, phases=None) -> list[Cell]:
    faults = list(faults or CATALOGUE)
    phases = list(phases or PHASES)
    pairs = [(f, p) for f in faults for p in phases]
    if jobs <= 1:
        return [run_cell(f, p) for f, p in pairs]
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        return list(ex.map(run_cell, *zip(*pairs, strict=True)))
