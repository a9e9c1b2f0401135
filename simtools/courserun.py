"""``ionto sim COURSE.toml``: play a course of treatment against the complete device program.

A course (../shared/SCENARIOS.md, "Courses"; :mod:`sim.course` reads it) is weeks of visits on
one unit. Each visit is a power-on of the device program on a fresh simulated board, with the
unit's data folder kept from visit to visit (the treatment log, the profiles, the calibration)
and the real-time clock set to the visit's date and time: the days between visits are skipped,
not simulated (the unit is off). What the visit does goes through the device as a household and
a technician would use it:

- before day 0 the technician sets the profiles up (a power-on at 07:00 on day 0): each one
  through the device's own rules (:class:`controller.course.Profile`), its screening dated that
  day (or none), a drug's medication mode unlocked, its HDSS score at the start entered;
- ``session``: the technician's console selects the profile (``profile select``; with
  ``override = true`` also ``profile override``), the person's load that day and the water's
  part are the simulated patient's, START is pressed at :data:`PRESS_AT_S` and the visit's own
  events play as a scenario's (times from the power-on); the visit ends when the session has
  ended (or START was refused) and the unit has been idle for a few seconds; an HDSS score given
  with it is entered on the console after the session; ``panel_hdss`` is the score the
  patient enters on the panel when the DONE screen asks for it (SELECT that many times, then
  START: :meth:`CourseRun._rate_on_panel`), nothing pressed when it does not ask;
- ``hdss``: the score is entered on the console (``profile hdss``);
- ``baking_soda``: a teaspoon goes into each tray from that visit on (the household keeps
  adding it: :func:`sim.water.with_baking_soda`).

Each session's ``summary.json`` and ``trace.csv`` go into ``DIR/<profile>-dNN[-k]/``, as a
scenario's; ``course.json`` holds each profile's sessions (refusals with their codes), phase
changes, advice, HDSS scores and next due date, as of the end of ``end_day`` (a last power-on
at 23:59 that day reads them from the log).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from controller import Limits
from controller.course import Profile, Screening
from controller.states import State
from firmware import calibration as calmod
from firmware import settings
from firmware.console import set_pin
from firmware.course import counts, started_at
from firmware.run_device import SIM_PIN
from hardware import load_board
from sim.course import Course, is_course, load_course
from sim.scenario import Event, Scenario, ScenarioError, read_toml
from sim.water import extra_ohm, with_baking_soda

from .simrun import ScenarioRun, Unit, prescription_of

#: what ``ionto sim COURSE.toml`` needs of the course loader, reached through here so that the
#: shipped command line imports nothing of sim/ itself (tests/test_layers.py)
__all__ = ["ScenarioError", "check_course_expect", "is_course", "load_course", "read_toml",
           "run_course"]

#: when START is pressed, from the visit's power-on (s): after the power-on self-test (1 s)
PRESS_AT_S = 2.0
#: the console's lines before it (s): the login, the profile's selection, an override
CONSOLE_AT_S = 1.2
#: the unit idle this long after a session (or a refusal) ends the visit (s)
IDLE_END_S = 5.0
#: a visit with a refusal ends this long after the press at the latest (s)
REFUSED_END_S = 10.0
#: a visit's ``panel_hdss``: the patient's presses on the DONE screen, this far apart (s)
RATE_GAP_S = 1.0
#: who sets the course up before day 0, in the audit trail
TECHNICIAN = "technician"
REFUSAL_WARNINGS = {"NOT-SCREENED", "CONTRAINDICATED", "TOO-SOON", "CLOCK-LOST",
                    "MEDICATION-LOCKED", "NO-PROFILE", "PROFILE-INVALID"}


def _scenario(course: Course, visit, profile, *, events: list[Event], name: str) -> Scenario:
    """A visit as a scenario: the profile's prescription and body, the given events."""
    body = dict(profile.patient)
    if visit is not None and visit.load_ohm is not None:
        body["load_ohm"] = visit.load_ohm
    end = None if visit is None else visit.end_after_s
    return Scenario(path=course.path, name=name, seed=course.seed, end_after_s=end,
                    protocol=dict(profile.prescription), patient=body, events=events,
                    expect={})


class CourseRun:
    def __init__(self, course: Course, out_dir: Path, *, quiet: bool = True):
        self.course = course
        self.out = Path(out_dir)
        self.quiet = quiet
        self.board = load_board()
        self.data_dir = self.out / "device-data"
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.out.mkdir(parents=True, exist_ok=True)
        self.conductivity = course.conductivity_us_cm
        self.first = next(iter(course.profiles))
        self.sim_s = 0.0
        self.sessions: dict[str, list[dict]] = {pid: [] for pid in course.profiles}
        self._names: set[str] = set()

    # --- the unit ------------------------------------------------------------------------------
    def _unit(self, when: datetime) -> Unit:
        return Unit(self.data_dir, when, extra_ohm(self.conductivity), self.first)

    def _power_on(self, when: datetime, profile, visit=None, events=(), out=None,
                  name="visit") -> ScenarioRun:
        sc = _scenario(self.course, visit, profile, events=list(events), name=name)
        return ScenarioRun(sc, out, board=self.board, trace=out is not None,
                           unit=self._unit(when))

    def _type(self, run: ScenarioRun, line: str) -> str:
        run._type(line)
        return run.events[-1]["detail"] if run.events and run.events[-1]["kind"] == "console" \
            else ""

    def _idle(self, run: ScenarioRun, seconds: float) -> None:
        end = run.clock.now() + seconds
        while run.clock.now() < end:
            run.step()

    def _off(self, run: ScenarioRun) -> None:
        self.sim_s += run.clock.now()
        run.close()

    # --- set-up before day 0 -------------------------------------------------------------------
    def setup(self) -> None:
        c = self.course
        first = c.profiles[self.first]
        calmod.save(self.data_dir, calmod.Calibration.nominal(self.board), self.board)
        rx = prescription_of(_scenario(c, None, first, events=[], name="setup"))
        settings.save(self.data_dir, rx=rx, limits=Limits())
        set_pin(self.data_dir, SIM_PIN)
        day0 = datetime.combine(c.start_date, dtime(7, 0))
        run = self._power_on(day0, first)
        try:
            self._idle(run, 1.5)
            svc = run.program.course
            for pid, cp in c.profiles.items():
                prx = prescription_of(_scenario(c, None, cp, events=[], name=pid))
                screening = None if cp.screening is None else Screening(**cp.screening,
                                                                        on=c.start_date)
                kw = {}
                if cp.maintenance_days is not None:
                    kw["maintenance_days"] = cp.maintenance_days
                prof = Profile(id=pid, prescription=prx, child=cp.child, drug=cp.drug,
                               drug_mg_ml=cp.drug_mg_ml if cp.drug != "none" else None,
                               drug_tray=(cp.drug_tray or "A") if cp.drug != "none" else None,
                               screening=screening, **kw)
                extras = {"medication_unlocked": True} if cp.drug != "none" else {}
                svc.save(prof, extras, TECHNICIAN)
                if cp.hdss is not None:
                    svc.log.record_hdss(pid, c.start_date, cp.hdss, TECHNICIAN)
        finally:
            self._off(run)

    # --- the visits ----------------------------------------------------------------------------
    def _folder(self, pid: str, day: int) -> str:
        name, k = f"{pid}-d{day:02d}", 1
        while name in self._names:
            k += 1
            name = f"{pid}-d{day:02d}-{k}"
        self._names.add(name)
        return name

    def visit(self, v) -> None:
        c = self.course
        when = c.when(v)
        prof = c.profiles[v.profile]
        if v.do == "baking_soda":
            self.conductivity = with_baking_soda(self.conductivity)
            return
        if v.do == "hdss":
            run = self._power_on(when, prof)
            try:
                self._idle(run, 1.5)
                self._type(run, f"login {SIM_PIN}")
                self._type(run, f"profile hdss {v.profile} {v.hdss}")
            finally:
                self._off(run)
            return
        folder = self._folder(v.profile, v.day)
        lines = [f"login {SIM_PIN}", f"profile select {v.profile}"]
        if v.override:
            lines.append(f"profile override {v.profile}")
        events = [Event(CONSOLE_AT_S + 0.01 * i, "console", {"line": line})
                  for i, line in enumerate(lines)]
        events.append(Event(PRESS_AT_S, "press", {}))
        events += [replace(e) for e in v.events]
        events.sort(key=lambda e: e.at_s)
        run = self._power_on(when, prof, v, events, self.out / folder, name=folder)
        wall0 = time.perf_counter()
        try:
            refusal = None
            rated = v.panel_hdss is None
            while not run.finished():
                run.step()
                if not rated:
                    rated = self._rate_on_panel(run, v.panel_hdss)
                svc = run.program.course
                if svc.refusals and refusal is None:
                    refusal = svc.refusals[-1]["code"]
                if refusal is not None and run.player.done and \
                        run.clock.now() >= PRESS_AT_S + REFUSED_END_S:
                    break
            summary = run.summary(time.perf_counter() - wall0)
            # the session's own row (this power-on's): the target it started with and the
            # lowest level the patient chose with SELECT
            started = None
            if run.program.controller.sessions_done or run.program.controller.session:
                started = run.program.log.sessions_of(v.profile)[-1]
            if v.hdss is not None:
                self._type(run, f"profile hdss {v.profile} {v.hdss}")
        finally:
            self._off(run)
        (self.out / folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        fault = (summary["fault"] or {}).get("code")
        self.sessions[v.profile].append({
            "day": v.day, "at": v.at, "outcome": summary["outcome"],
            "refused": refusal or fault,
            "dose_ma_min": summary["dose_ma_min"], "peak_ma": summary["peak_ma"],
            "max_step_ma": summary["max_step_ma"],
            "polarity_reversals": summary["polarity_reversals"],
            "treatment_s": summary["treatment_s"],
            "start_ma": None if started is None
            else json.loads(started["prescription"])["target_ma"],
            "comfort_lowest_ma": None if started is None else started["comfort_lowest_ma"],
            "summary": f"{folder}/summary.json"})
        if not self.quiet:
            print(f"day {v.day:3d} {v.at} {v.profile:12s} {summary['outcome']:12s} "
                  f"{refusal or fault or '':16s} {summary['dose_ma_min']:7.1f} mA*min", flush=True)

    def _rate_on_panel(self, run: ScenarioRun, score: int) -> bool:
        """The patient enters ``score`` when the DONE screen asks for it ("SELECT: rate
        sweating": the controller's rating prompt, which the screen shows): SELECT ``score``
        times, a second apart, then START. Returns whether the presses were scheduled; a screen that
        does not ask is left alone (the session ended without one, or none is due)."""
        c = run.program.controller
        if c.state != State.DONE or not c.rating.open:
            return c.state == State.IDLE and bool(c.sessions_done)   # over: nothing was asked
        now = run.clock.now()
        presses = [Event(now + RATE_GAP_S * (k + 1), "select", {}) for k in range(score)]
        presses.append(Event(now + RATE_GAP_S * (score + 1), "press", {}))
        run.player.pending = sorted(run.player.pending + presses, key=lambda e: e.at_s)
        return True

    # --- the course's result -------------------------------------------------------------------
    def result(self, wall_s: float) -> dict:
        c = self.course
        end_date = c.start_date + timedelta(days=c.end_day)
        end = datetime.combine(end_date, dtime(23, 59))
        run = self._power_on(end, c.profiles[self.first])
        profiles = {}
        try:
            self._idle(run, 1.5)
            svc = run.program.course
            for pid in c.profiles:
                svc.refresh_phase(pid, end_date)
                log = svc.log
                events = log.course_events_of(pid)

                def day_of(text, _start=c.start_date):
                    return (date.fromisoformat(text[:10]) - _start).days

                counted = [started_at(r).isoformat(timespec="minutes")
                           for r in log.sessions_of(pid) if counts(r)]
                due = svc.due(pid, svc.calendar.now())
                profiles[pid] = {
                    "sessions": self.sessions[pid],
                    "phase": [{"day": day_of(e["detail"]["on"]), "phase": e["code"]}
                              for e in events if e["kind"] == "phase"],
                    "advice": [{"day": day_of(e["detail"]["at"]), "code": e["code"]}
                               for e in events if e["kind"] == "advice"],
                    "hdss": [{"day": day_of(h["date"]), "score": h["score"],
                              "by": h["entered_by"]} for h in log.hdss_of(pid)],
                    "refusals": [{"day": day_of(e["detail"]["at"]), "code": e["code"]}
                                 for e in events if e["kind"] == "refusal"],
                    "counted_sessions": counted,
                    "next_due": None if due.next_date is None else due.next_date.isoformat(),
                    "due_status": due.status,
                }
        finally:
            self._off(run)
        return {"course": c.name, "profiles": profiles, "sim_s": round(self.sim_s, 3),
                "wall_s": round(wall_s, 3)}


def run_course(course: Course, out_dir: Path, *, quiet: bool = True) -> dict:
    """Play the course; writes ``course.json`` (and each session's folder) in ``out_dir``."""
    wall0 = time.perf_counter()
    cr = CourseRun(course, out_dir, quiet=quiet)
    cr.setup()
    for v in course.visits:
        cr.visit(v)
    result = cr.result(time.perf_counter() - wall0)
    (Path(out_dir) / "course.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def check_course_expect(course: Course, result: dict) -> list[str]:
    """The course's [expect] against its result: what does not hold. A refused visit that
    delivered current never holds, whatever [expect] says."""
    bad = []
    for pid, prof in result["profiles"].items():
        for s in prof["sessions"]:
            if s["refused"] in REFUSAL_WARNINGS and s["peak_ma"] > 0.05:
                bad.append(f"{pid} day {s['day']}: refused ({s['refused']}) but "
                           f"{s['peak_ma']} mA flowed")
    e = course.expect
    for pid, codes in e.get("refused", {}).items():
        got = [s["refused"] for s in result["profiles"][pid]["sessions"] if s["refused"]]
        if got != codes:
            bad.append(f"{pid}: refused {got} (expected {codes})")
    for pid, n in e.get("completed", {}).items():
        got = sum(s["outcome"] == "completed" for s in result["profiles"][pid]["sessions"])
        if got != n:
            bad.append(f"{pid}: {got} sessions completed (expected {n})")
    for pid, phase in e.get("phase", {}).items():
        got = (result["profiles"][pid]["phase"] or [{"phase": None}])[-1]["phase"]
        if got != phase:
            bad.append(f"{pid}: phase {got} at the end (expected {phase})")
    for pid, codes in e.get("advice", {}).items():
        got = [a["code"] for a in result["profiles"][pid]["advice"]]
        if got != codes:
            bad.append(f"{pid}: advice {got} (expected {codes})")
    for pid, day in e.get("next_due", {}).items():
        got = result["profiles"][pid]["next_due"]
        if got != day:
            bad.append(f"{pid}: next due {got} (expected {day})")
    for pid, n in e.get("reversals_max", {}).items():
        got = max((s["polarity_reversals"] for s in result["profiles"][pid]["sessions"]),
                  default=0)
        if got > n:
            bad.append(f"{pid}: {got} polarity reversals in a session (at most {n})")
    for pid, levels in e.get("start_ma", {}).items():
        got = [s["start_ma"] for s in result["profiles"][pid]["sessions"]
               if s["start_ma"] is not None]
        if got != [float(x) for x in levels]:
            bad.append(f"{pid}: sessions started at {got} mA (expected {levels})")
    if "peak_ma_max" in e:
        got = max((s["peak_ma"] for p in result["profiles"].values() for s in p["sessions"]),
                  default=0.0)
        if got > e["peak_ma_max"]:
            bad.append(f"peak_ma {got} above {e['peak_ma_max']}")
    return bad
