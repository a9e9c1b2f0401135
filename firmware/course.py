"""The course of treatment on the unit: the profiles in the log, the active one, the gate at
START, the dates from the real-time clock, and what the device says after a session.

The rules are :mod:`controller.course` (pure, dates passed in); this module gives them their
inputs from the treatment log (:mod:`firmware.treatlog`: the profiles, the sessions, the HDSS
scores, the course events) and from the clock, and records what they decide.

- **Dates** (:class:`RtcCalendar`): the battery-backed clock (:mod:`hal.rtc`) is read once,
  at the program's start (on the Pi) or at the first need (the scenario runner: the first START,
  so that a scenario's control periods are those of a unit without a course), and the date is
  carried on by the program's own clock from there; ``clock set`` reads it again. A clock that
  lost its time gives no date: every START is refused with ``CLOCK-LOST`` until it is set. The
  treatment log's rows are stamped with this time (the clock's local time, no time zone) once it
  is known; before it is (or while the clock has none), with the system's UTC.
- **The gate** (:meth:`CourseService.gate`, the controller's ``start_gate``): START in IDLE is
  refused with ``DISPLAY`` while the patient's display does not show the screen
  (:mod:`firmware.panelscreen`, hazard H-DISPLAY-1); otherwise it is judged by
  :func:`controller.course.check_visit` for the active profile: the clock, the
  screening, the medication mode's lock, and the plan (TOO-SOON, which a technician's override
  lets through once). A refusal is a warning event with its code (the controller's), a course
  event in the log, and the unit stays idle. A session that may start runs the profile's
  effective prescription (:func:`controller.course.session_setup`: the comfort level, the
  drug's 8 mA and no reversal, a child's limits).
- **What counts** (:data:`COUNTS_SHARE`): a session counts as a treatment of the plan (for
  due, too soon and the sixth in seven days) when it treated at least half of its prescribed
  duration; a session stopped in its first minutes leaves the patient free to start again.
- **After the session** (:func:`controller.course.water_advice`): the load at the contact
  check (the last estimate of its probe, as the contact is confirmed), the load on the ramp
  (at its highest setpoint), whether the target was reached, and the other profiles' recent
  loads give SOFT-WATER or NO-SALT: a course event, a row in the log's events and
  :attr:`CourseService.advice` (for the course runner). It is not one of the controller's
  events, so that a scenario's event list stays what it was.
- **SELECT** (:meth:`CourseService.select_next`, the controller's ``select_listener``): a press
  in IDLE selects the next profile in the log's order (the prescription in force follows, as
  with ``profile select``; audited as from the ``panel``), and says which (PROFILE-SELECTED).
- **The sweating score** (:mod:`controller.rating`): as a session that counts ends and the
  profile's HDSS score is due (:meth:`CourseService.hdss_due`: the course's first day, then a
  week after the last score), the DONE screen asks for it; SELECT shows the scores, START saves
  the one shown (:meth:`CourseService.rating_entered`: the log's HDSS row as entered by the
  ``panel``, an audit row, the plan's phase brought up to date). Nothing is asked of a session
  stopped early or ended on a fault.
- **Comfort** (:func:`controller.course.comfort_after_session`): after a session the profile's
  comfort level is what the next session starts from: the lowest level the patient chose with
  SELECT plus 1 mA, rising by 1 mA a session that counts, back to the prescription. Each change
  is saved with the profile (audited as the ``device``), a ``comfort`` course event and an info
  event that says why (COMFORT-LOWERED, COMFORT-RISES, COMFORT-BACK); a session that starts
  below the prescription says so at its start (COMFORT-START). ``profile set ID comfort=reset``
  starts the next session at the prescription again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from controller import Event
from controller import course as rules
from controller.course import Override, Profile, Refusal, Screening
from controller.limits import Prescription, PrescriptionError
from hal import ClockLostError

from . import settings, store
from .treatlog import ProfileError

#: the file that keeps which profile is selected
ACTIVE_FILE = "active-profile.json"
#: a session counts as a treatment when it treated at least this share of its duration
COUNTS_SHARE = 0.5
#: the others' sessions that speak for the water: this many days back
OTHERS_DAYS = 14
#: what a profile's record holds besides :class:`~controller.course.Profile`'s fields
EXTRA_KEYS = ("medication_unlocked", "decisions", "override")
#: who records what the device does by itself (an override used), in the audit trail
DEVICE = "device"
#: who selects a profile with the SELECT button, in the audit trail
PANEL = "panel"
#: who screened the simulated unit's first profile (``ionto device --sim``, scenarios)
PROVISIONING = "provisioning"
NO_PROFILE = "NO-PROFILE"
#: START refused: the display does not show the screen (hazard H-DISPLAY-1)
DISPLAY = "DISPLAY"


class RtcCalendar:
    """The real-time clock's date and time, read once and carried on by the program's clock.

    :param rtc: :class:`hal.rtc.RealTimeClock` (``trusted_now()``).
    :param clock: the program's clock (``now()`` in seconds: monotonic, or the simulator's).
    """

    def __init__(self, rtc, clock):
        self.rtc = rtc
        self.clock = clock
        self._base: tuple[datetime, float] | None = None
        self.problem: str | None = None
        self.reads = 0

    @property
    def read_yet(self) -> bool:
        return self._base is not None or self.problem is not None

    def read(self) -> None:
        """Read the clock (again): at the start, and after ``clock set``."""
        self.reads += 1
        try:
            when = self.rtc.trusted_now()
        except ClockLostError as exc:
            self._base, self.problem = None, str(exc)
            return
        self._base, self.problem = (when, self.clock.now()), None

    def now(self) -> datetime:
        """The local date and time; reads the clock at the first call.
        :raises ClockLostError: the clock has no time to plan by."""
        if not self.read_yet:
            self.read()
        if self._base is None:
            raise ClockLostError(self.problem or "the clock has not been read")
        when, t0 = self._base
        return when + timedelta(seconds=self.clock.now() - t0)

    def stamp(self) -> str | None:
        """The time as a log's stamp (ISO, to the second), or None when it is not known yet
        (not read, or lost); never reads the clock."""
        if self._base is None:
            return None
        return self.now().isoformat(timespec="seconds")


def split_record(record: dict) -> tuple[dict, dict]:
    """A stored profile record as (the :class:`Profile` fields, the extras)."""
    return ({k: v for k, v in record.items() if k not in EXTRA_KEYS},
            {k: record[k] for k in EXTRA_KEYS if k in record})


def started_at(row: dict) -> datetime | None:
    """A session row's start as a naive local datetime (a UTC stamp of the system's clock
    loses its zone), or None if unreadable."""
    try:
        t = datetime.fromisoformat(row["start_utc"])
    except (TypeError, ValueError):
        return None
    return t.replace(tzinfo=None)


def counts(row: dict) -> bool:
    """The session treated at least :data:`COUNTS_SHARE` of its prescribed duration."""
    if row.get("treat_s") is None or row.get("outcome") == "running":
        return False
    try:
        duration_s = float(json.loads(row["prescription"])["duration_min"]) * 60.0
    except (TypeError, ValueError, KeyError):
        return False
    return treated_enough(row["treat_s"], duration_s)


def treated_enough(treat_s: float, duration_s: float) -> bool:
    """The one rule of :data:`COUNTS_SHARE`, for a log row (:func:`counts`) and for the session
    that has just ended (the comfort level and the sweating score)."""
    return treat_s >= COUNTS_SHARE * duration_s - 1e-9


@dataclass
class _Loads:
    """What one session measured of its load (see the module's docstring)."""

    pid: str
    contact_ohm: float | None = None
    ramp_ohm: float | None = None
    ramp_setpoint: float = -1.0


class CourseService:
    """The course on one unit: wired to the program's controller, log, clock and real-time
    clock by :class:`firmware.device.DeviceProgram`.

    :param calendar: the dates (:class:`RtcCalendar`, the one the log is stamped by).
    :param first_profile: the profile selected when none was selected before.
    """

    def __init__(self, program, calendar: RtcCalendar, *, first_profile: str | None = None):
        self.program = program
        self.log = program.log
        self.controller = program.controller
        self.calendar = calendar
        self._active_path = program.data_dir / ACTIVE_FILE
        self.active: str | None = self._load_active(first_profile)
        self.advice: list[dict] = []       # what was advised, for the course runner
        self.refusals: list[dict] = []     # what was refused
        self._loads: _Loads | None = None
        self._session_pid: str | None = None
        #: ``() -> str | None``: why the display does not show the screen, None while it does
        #: (the program's :class:`firmware.panelscreen.ScreenUpdater`); None: not checked
        self.display_problem = None
        self.controller.start_gate = self.gate
        self.controller.select_listener = self.select_next
        self.controller.rating_listener = self.rating_entered
        self._rating_pid: str | None = None
        self._rating_day: date | None = None
        self.controller.session_listeners.append(self._session_ended)

    # --- the active profile -----------------------------------------------------------------
    def _load_active(self, first: str | None) -> str | None:
        profiles = self.log.profiles()
        try:
            pid = store.load(self._active_path, "course").get("active")
        except store.StoreError:
            pid = None
        if pid in profiles:
            return pid
        if first in profiles:
            return first
        return next(iter(profiles), None)

    def select(self, pid: str) -> None:
        self._record(pid)
        store.save(self._active_path, "course", {"active": pid})
        self.active = pid

    def select_next(self, now: float) -> str | None:
        """SELECT pressed in IDLE: the next profile (the log's order, round) becomes the
        active one, its prescription the one in force (as the console's ``profile select``),
        audited as from the panel. Returns the id selected, or None (an event says why)."""
        emit = self.controller.events.emit
        ids = list(self.log.profiles())
        if not ids:
            emit(now, "warning", "SELECT-REFUSED", "SELECT pressed: no profile is set up on "
                 "this unit; the technician adds one (profile add)")
            return None
        before = self.active
        pid = ids[(ids.index(before) + 1) % len(ids)] if before in ids else ids[0]
        if pid == before:
            emit(now, "info", "PROFILE-SELECTED", f"{pid} is the only profile on this unit: "
                 "press START to begin")
            return pid
        try:
            profile, _ = self.profile(pid)
            rx = self.controller.set_prescription(profile.prescription)
            settings.save(self.program.data_dir, rx=rx)
            self.select(pid)
        except (PrescriptionError, ProfileError, OSError, RuntimeError) as exc:
            emit(now, "warning", "SELECT-REFUSED", f"SELECT pressed: profile {pid} cannot be "
                 f"selected ({exc}); the technician corrects it (profile set)")
            return None
        self.log.audit(now, PANEL, "profile select", before, pid, "SELECT pressed in IDLE")
        emit(now, "info", "PROFILE-SELECTED",
             f"{pid} selected ({rx.site}, {rx.target_ma:g} mA, {rx.duration_min:g} min): press "
             "START to begin, SELECT for the next profile")
        return pid

    # --- records ------------------------------------------------------------------------------
    def _record(self, pid: str) -> dict:
        rec = self.log.profiles().get(pid)
        if rec is None:
            raise ProfileError(f"no profile {pid!r}; the profiles are: "
                               f"{', '.join(self.log.profiles()) or 'none'}")
        return rec

    def profile(self, pid: str) -> tuple[Profile, dict]:
        """The profile (validated against the limits in force) and its extras."""
        fields_, extras = split_record(self._record(pid))
        return Profile.from_dict(fields_, self.controller.limits), extras

    def save(self, profile: Profile, extras: dict, who: str) -> bool:
        p = profile.validated(self.controller.limits)
        record = {**p.to_dict(), **{k: v for k, v in extras.items() if v not in (None, [])}}
        return self.log.save_profile(p.id, record, who=who, t_s=self.program.clock.now())

    def history(self, pid: str) -> list[datetime]:
        """The start times of the profile's sessions that count as treatments."""
        out = []
        for row in self.log.sessions_of(pid):
            t = started_at(row)
            if t is not None and counts(row):
                out.append(t)
        return out

    def course_start(self, pid: str, today: date) -> date:
        days = [date.fromisoformat(h["date"]) for h in self.log.hdss_of(pid)]
        days += [t.date() for t in self.history(pid)]
        return min(days) if days else today

    def phases(self, pid: str, today: date) -> list[rules.PhaseChange]:
        _, extras = self.profile(pid)
        hdss = [(date.fromisoformat(h["date"]), h["score"]) for h in self.log.hdss_of(pid)]
        decisions = [(date.fromisoformat(d), ph) for d, ph in extras.get("decisions", [])]
        return rules.phase_history(self.course_start(pid, today), hdss, decisions, today)

    def refresh_phase(self, pid: str, today: date) -> str:
        """The phase today; each change not yet in the log becomes a course event."""
        seen = {(e["detail"].get("on"), e["code"]) for e in self.log.course_events_of(pid)
                if e["kind"] == "phase"}
        history = self.phases(pid, today)
        for ch in history:
            if (ch.on.isoformat(), ch.phase) not in seen:
                self.log.course_event(pid, "phase", ch.phase,
                                      {"on": ch.on.isoformat(), "reason": ch.reason})
        return history[-1].phase

    def due(self, pid: str, now: datetime) -> rules.Due:
        """Where the profile's plan stands (writes nothing)."""
        p, _ = self.profile(pid)
        return rules.due(self.history(pid), now, phase=self.phases(pid, now.date())[-1].phase,
                         maintenance_days=p.maintenance_days)

    # --- the gate -----------------------------------------------------------------------------
    def _refuse(self, now: float, pid: str | None, refusal: Refusal) -> Refusal:
        when = self.calendar.stamp()
        self.refusals.append({"profile": pid, "code": refusal.code, "at": when,
                              "message": refusal.message})
        if pid is not None:
            self.log.course_event(pid, "refusal", refusal.code,
                                  {"at": when, "message": refusal.message})
        return refusal

    def gate(self, now: float) -> Refusal | None:
        """START pressed in IDLE: None (the session starts, with the profile's effective
        prescription in force) or the refusal.

        The display comes first: the device does not start a session it cannot show (the
        current, the time left, a pause's reason; hazard H-DISPLAY-1)."""
        pid = self.active
        problem = self.display_problem() if self.display_problem is not None else None
        if problem is not None:
            return self._refuse(now, pid if pid in self.log.profiles() else None, Refusal(
                DISPLAY, f"The display does not work ({problem}): the device will not start a "
                         "session it cannot show. The technician checks the display's cable."))
        if pid is None or pid not in self.log.profiles():
            return self._refuse(now, None, Refusal(
                NO_PROFILE, "No profile is selected: the technician adds one "
                            "(profile add) and selects it (profile select)."))
        try:
            when = self.calendar.now()
        except ClockLostError as exc:
            return self._refuse(now, pid, Refusal(
                rules.CLOCK_LOST, f"The clock has no date to plan by ({exc}); the technician "
                                  "sets the clock before the next session."))
        try:
            profile, extras = self.profile(pid)
            ov = extras.get("override")
            override = None if ov is None else Override(
                datetime.fromisoformat(ov["granted_at"]), ov["by"], ov.get("reason", ""))
            visit = rules.check_visit(
                profile, self.history(pid), when, phase=self.refresh_phase(pid, when.date()),
                medication_unlocked=bool(extras.get("medication_unlocked")),
                override=override, limits=self.controller.limits)
        except (PrescriptionError, ProfileError, KeyError, TypeError, ValueError) as exc:
            return self._refuse(now, pid, Refusal(
                "PROFILE-INVALID", f"profile {pid} cannot be used ({exc}); the technician "
                                   "corrects it (profile set)."))
        if visit.refusal is not None:
            return self._refuse(now, pid, visit.refusal)
        if visit.override_used:
            self.log.course_event(pid, "override", "OVERRIDE-USED",
                                  {"at": self.calendar.stamp(), "by": override.by})
            self.save(profile, {**extras, "override": None}, DEVICE)
        rx = visit.setup.prescription
        if rx != self.controller.rx:
            self.controller.set_prescription(rx)
        self._session_pid = pid
        self._loads = _Loads(pid)
        # the drug's tray the anode for the whole session: tray A in normal polarity, tray B
        # with the polarity relay switched (hardware/README.md, "Output path")
        self.controller.start_polarity = -1 if visit.setup.anode_tray == "B" else 1
        if profile.comfort_ma is not None and rx.target_ma < profile.prescription.target_ma:
            self.controller.events.emit(
                now, "info", "COMFORT-START",
                f"{pid}: this session goes to {rx.target_ma:g} mA, not the prescribed "
                f"{profile.prescription.target_ma:g} mA: the current was lowered in an earlier "
                f"session, and it rises by at most {rules.COMFORT_RISE_MA:g} mA a session")
        if visit.setup.anode_tray is not None:
            self.controller.events.emit(
                now, "info", "DRUG-TRAY",
                f"{profile.drug} {profile.drug_mg_ml:g} mg/ml in tray {visit.setup.anode_tray}: "
                "that tray is the anode (+) for the whole session, no polarity reversal, at "
                f"most {rules.DRUG_MAX_MA:g} mA")
        return None

    @property
    def session_profile(self) -> str | None:
        """The profile of the session that runs (or ran last)."""
        return self._session_pid

    # --- the session's loads and the advice after it ------------------------------------------
    def after_period(self, state: str, setpoint_ma: float) -> None:
        """Called each period while a session runs: the loads of the advice."""
        loads, c = self._loads, self.controller
        if loads is None or c.session is None or c.load_estimate is None:
            return
        if state == "WAIT_CONTACT" or (loads.contact_ohm is None and state in ("RAMP_UP",
                                                                              "TREAT")):
            loads.contact_ohm = c.load_estimate   # the last of the contact check's probe
        if state == "RAMP_UP" and setpoint_ma >= loads.ramp_setpoint:
            loads.ramp_setpoint, loads.ramp_ohm = setpoint_ma, c.load_estimate

    def _others(self, pid: str) -> list[rules.LoadFigures]:
        out = []
        try:
            newest = self.calendar.now()
        except ClockLostError:
            return out
        for other, rec in self.log.profiles().items():
            if other == pid:
                continue
            site = rec.get("prescription", {}).get("site", "hands")
            for row in self.log.sessions_of(other):
                t = started_at(row)
                if (t is not None and row.get("mean_load_ohm") is not None
                        and newest - t <= timedelta(days=OTHERS_DAYS)
                        and site in rules.HIGH_LOAD_OHM):
                    out.append(rules.LoadFigures(site, row["mean_load_ohm"]))
        return out

    def _session_ended(self, sess) -> None:
        """A session has ended (a listener of ``Controller._end_session``, so inside the
        control period): the comfort level, the sweating score's question and the water's
        advice.

        The comfort level and the advice are hazard controls (H-COMFORT-1: the next session
        starts at the level the patient chose; H-WATER-1: no salt, baking soda), so a failure
        of either is not passed over: it reaches the control loop, which latches a software
        fault that the technician clears, as a failure of the log itself does. The score's
        question has no such part: a failure there (a log that cannot be read, a record the
        rules refuse) asks nothing, which the technician can make good, and is said in the
        event COURSE-NOT-UPDATED instead of latching a fault after a good session."""
        loads, self._loads = self._loads, None
        self._rating_pid = self._rating_day = None
        if loads is None:
            return
        self._comfort_after(loads.pid, sess)
        try:
            self._rating_after(loads.pid, sess)
        except Exception as exc:  # noqa: BLE001 - nothing is asked; said, the session's end goes on
            self.controller.events.emit(
                self.program.clock.now(), "warning", "COURSE-NOT-UPDATED",
                f"{loads.pid}: the sweating score was not asked for after the session "
                f"({type(exc).__name__}: {exc}); the technician can enter it (profile hdss)")
        self._advice_after(loads, sess)

    def _advice_after(self, loads, sess) -> None:
        """Advice about the water from the loads the session measured (controller/rules)."""
        if loads.contact_ohm is None:
            return
        rx = sess.prescription
        figures = rules.LoadFigures(rx.site, loads.contact_ohm, loads.ramp_ohm,
                                    reached_target=sess.lowest_target_ma is None)
        for a in rules.water_advice(figures, self._others(loads.pid)):
            when = self.calendar.stamp()
            self.advice.append({"profile": loads.pid, "code": a.code, "at": when})
            self.log.course_event(loads.pid, "advice", a.code,
                                  {"at": when, "message": a.message,
                                   "contact_ohm": round(loads.contact_ohm, 1),
                                   "ramp_ohm": None if loads.ramp_ohm is None
                                   else round(loads.ramp_ohm, 1)})
            self.log.event(Event(self.program.clock.now(), "info", a.code, a.message))

    def _comfort_after(self, pid: str, sess) -> None:
        """The profile's comfort level after its session (see the module's docstring)."""
        try:
            profile, extras = self.profile(pid)
        except (PrescriptionError, ProfileError, KeyError, TypeError, ValueError):
            return   # a record the rules refuse: the next START says so (PROFILE-INVALID)
        target = profile.prescription.target_ma
        lowest = sess.comfort_lowest_ma
        counted = treated_enough(sess.treat_s, sess.prescription.duration_min * 60.0)
        new = rules.comfort_after_session(target, profile.comfort_ma, lowest, counted=counted)
        if new == profile.comfort_ma:
            return
        then = (f"the next session starts at {new:g} mA and rises by at most "
                f"{rules.COMFORT_RISE_MA:g} mA a session to the prescribed {target:g} mA"
                if new is not None else f"the next session is at the prescribed {target:g} mA")
        if lowest is not None:
            code, text = "COMFORT-LOWERED", f"{pid}: the current was lowered to {lowest:g} mA; "
        else:
            code = "COMFORT-RISES" if new is not None else "COMFORT-BACK"
            text = f"{pid}: the session at {profile.comfort_ma:g} mA was not lowered; "
        self.save(replace(profile, comfort_ma=new), extras, DEVICE)
        self.log.course_event(pid, "comfort", code,
                              {"at": self.calendar.stamp(), "lowest_ma": lowest,
                               "started_ma": profile.comfort_ma, "next_ma": new,
                               "prescribed_ma": target})
        self.controller.events.emit(self.program.clock.now(), "info", code, text + then)

    def comfort_why(self, pid: str) -> str | None:
        """Why the profile's next session starts below its prescription: the last comfort
        course event, in words (None: no such event)."""
        last = [e for e in self.log.course_events_of(pid) if e["kind"] == "comfort"]
        if not last:
            return None
        e = last[-1]
        d, on = e["detail"], (e["detail"].get("at") or e["t_utc"])[:10]
        profile, _ = self.profile(pid)
        if d.get("next_ma") != profile.comfort_ma:
            return None   # changed since by the technician (profile set ID comfort=)
        if e["code"] == "COMFORT-LOWERED":
            return f"lowered to {d['lowest_ma']:g} mA by the patient on {on}"
        if e["code"] == "COMFORT-RISES":
            return f"risen by {rules.COMFORT_RISE_MA:g} mA after the session of {on}"
        return None

    # --- the patient's sweating score on the panel (controller/rating.py) ---------------------
    def hdss_due(self, pid: str, today: date) -> date:
        """The day the profile's next HDSS score is due (the course's start, then weekly)."""
        hdss = [(date.fromisoformat(h["date"]), h["score"]) for h in self.log.hdss_of(pid)]
        return rules.next_hdss_date(self.course_start(pid, today), hdss)

    def _rating_after(self, pid: str, sess) -> None:
        """A session that counts has ended: the DONE screen asks for the score if it is due.
        The score will be the day's the question was asked on (a score saved after midnight
        is still the session's)."""
        counted = treated_enough(sess.treat_s, sess.prescription.duration_min * 60.0)
        if not counted or sess.outcome == "fault":
            return
        try:
            today = self.today()
            if self.hdss_due(pid, today) > today:
                return
        except (ClockLostError, ProfileError, ValueError):
            return   # no date to judge by, or a record the rules refuse: nothing is asked
        self._rating_pid, self._rating_day = pid, today
        self.controller.rating.ask()

    def rating_entered(self, now: float, score: int) -> None:
        """The patient confirmed ``score`` on the DONE screen: recorded for the day it was
        asked on, as entered on the ``panel``; then audited and the plan's phase brought up
        to date. Raises what the log raises on the record itself (the controller says the
        score was not saved, and why); the score once committed, a failure of the audit or of
        the phase is said (COURSE-NOT-UPDATED) and the score stays saved."""
        pid, day = self._rating_pid, self._rating_day
        if pid is None or day is None:
            raise ProfileError("no profile asked for a score")
        if self.hdss_due(pid, day) > day:   # the technician entered it meanwhile (profile hdss)
            raise ProfileError(f"a score for {day.isoformat()} is already in the log")
        self.log.record_hdss(pid, day, score, PANEL)
        self._rating_pid = self._rating_day = None
        for what, step in (
                ("its audit row", lambda: self.log.audit(
                    now, PANEL, "profile hdss", None, f"{pid} {day.isoformat()} hdss={score}",
                    "entered by the patient after the session")),
                ("the plan's phase", lambda: self.refresh_phase(pid, day))):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - the score is in the log; the rest is said
                self.controller.events.emit(
                    now, "warning", "COURSE-NOT-UPDATED",
                    f"{pid}: the sweating score {score} is saved, but {what} was not written "
                    f"({type(exc).__name__}: {exc}); the technician can see to it")

    # --- what the technician does (the console's profile commands) ----------------------------
    def today(self) -> date:
        return self.calendar.now().date()

    def prescription_set(self, rx: Prescription, who: str) -> None:
        """``rx set`` on the console: the active profile's prescription follows it (the
        prescription in force is the active profile's)."""
        if self.active is None or self.active not in self.log.profiles():
            return
        profile, extras = self.profile(self.active)
        self.save(replace(profile, prescription=rx), extras, who)


def provision_screening(service: CourseService, on: date | datetime) -> bool:
    """A simulated unit's profiles without a screening are screened as provisioned (every
    answer no, dated ``on``), so that ``ionto device --sim`` and every scenario treat; a
    screening on record is left as it is. Returns whether one was written."""
    if isinstance(on, datetime):
        on = on.date()
    wrote = False
    for pid in list(service.log.profiles()):
        profile, extras = service.profile(pid)
        if profile.screening is None:
            screening = Screening(pregnancy=False, epilepsy=False, heart_condition=False,
                                  implant=False, on=on)
            wrote |= service.save(replace(profile, screening=screening), extras, PROVISIONING)
    return wrote


__all__ = ["CourseService", "Prescription", "RtcCalendar", "counts", "provision_screening",
           "split_record"]
