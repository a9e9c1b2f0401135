"""The course of treatment: who may be treated, when, at what, and what the device advises.

A session is one visit; a course is weeks of them for each person who shares the unit. This module
holds the course's rules as pure logic, like the session's rules with ``now``: every function
takes the date or the time as an argument and reads no clock, touches no file and no database
(the profiles, the history and the audit trail are stored elsewhere, against the dictionaries
this module reads and writes). Errors are :class:`~controller.limits.PrescriptionError` (the
field, the value, what is allowed), in plain words.

What it decides, and where each number comes from (``docs/course.md`` gives the reasoning):

- **Profiles** (:class:`Profile`): up to :data:`MAX_PROFILES` people per unit, each with a
  prescription, an optional drug, a screening, a maintenance interval and a comfort level. A
  child's profile must carry a child's prescription (the child's limits and a child's area).
- **Screening** (:class:`Screening`, :func:`screening_refusal`): no treatment before the
  screening questions (NOT-SCREENED); any yes blocks until a doctor's clearance is recorded
  (CONTRAINDICATED); a screening expires after 12 months (NOT-SCREENED). The questions are the
  contraindications the makers of tap-water units list: pregnancy, epilepsy, a heart condition
  or pacemaker, a metal implant (R.A. Fischer, "Notes, warnings & contraindications").
- **The plan** (:func:`due`): an initial phase of three sessions a week, then maintenance every
  ``maintenance_days`` (7 to 28). Tap-water regimens: sessions every 2 to 3 days for 5 to 10
  sessions, then the interval stretched to 1 to 4 weeks (R.A. Fischer, ibid.; Australian Family
  Physician 2013;42(7), letters to the editor). Refused as
  TOO-SOON: a second session within 20 hours, or a sixth within 7 days (rolling), the caps of
  Dermadry's home unit (one session a day, five a week); a technician's override lets exactly
  one refused session through. A clock that has lost its time refuses as CLOCK-LOST.
- **Outcome** (:func:`phase_history`): the HDSS score (1 to 4) at the start, then weekly. Two
  weekly scores of 1-2 in a row move the plan to maintenance; no score below the start's after
  4 weeks of the initial phase makes it not-responding ("see the dermatologist"): the Canadian
  Hyperhidrosis Advisory Committee takes an HDSS of 1-2 as success and no change after a month
  as failure (Solish et al., Dermatol Surg 2007;33:908-923).
- **Water** (:func:`water_advice`): SOFT-WATER (a teaspoon of baking soda per tray, R.A.
  Fischer, ibid.) when the load is high from the first seconds and the target is not reached;
  NO-SALT when the load is far below any body's.
- **Medication** (:func:`session_setup`): glycopyrronium only when the technician has unlocked
  the medication mode, never with a polarity reversal (the drug is a cation: its tray stays the
  anode), at most 8 mA (7.5-8 mA was the most effective without more side effects such as a dry
  mouth: Leow and Tey, Indian J Dermatol Venereol Leprol 2017;83:387-388; the solution 0.05 %:
  Dolianitis et al., Australas J Dermatol 2004;45:208-212).
- **Comfort** (:func:`next_comfort_ma`): a patient who lowered the current starts the next
  session from that level, and it rises back towards the prescription by at most 1 mA a session.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from .limits import CHILD_AREA_CM2, SITE_MAX_MA, Limits, Prescription, PrescriptionError

# --- codes -------------------------------------------------------------------------------------

NOT_SCREENED = "NOT-SCREENED"
CONTRAINDICATED = "CONTRAINDICATED"
TOO_SOON = "TOO-SOON"
CLOCK_LOST = "CLOCK-LOST"
#: a profile with a drug while the technician has not unlocked the medication mode
MEDICATION_LOCKED = "MEDICATION-LOCKED"
REFUSALS = (NOT_SCREENED, CONTRAINDICATED, TOO_SOON, CLOCK_LOST, MEDICATION_LOCKED)

INITIAL = "initial"
MAINTENANCE = "maintenance"
NOT_RESPONDING = "not-responding"
PHASES = (INITIAL, MAINTENANCE, NOT_RESPONDING)

DUE = "due"
NOT_YET_DUE = "not-yet-due"
OVERDUE = "overdue"

SOFT_WATER = "SOFT-WATER"
NO_SALT = "NO-SALT"

# --- numbers (docs/course.md: each one's source or reasoning) ----------------------------------

#: profiles one unit keeps
MAX_PROFILES = 6
PROFILE_ID = re.compile(r"[a-z0-9-]{1,12}")
DRUGS = ("none", "glycopyrronium")
#: the two trays, as labelled on the unit
TRAYS = ("A", "B")
#: the maintenance interval the technician may set (days); 7 by default
MAINTENANCE_DAYS = (7, 28)
DEFAULT_MAINTENANCE_DAYS = 7
#: the highest current in medication mode (mA): 7.5-8 mA in Leow and Tey 2017
DRUG_MAX_MA = 8.0
#: the glycopyrronium bromide solution in the drug's tray (mg/ml): 0.05 % (0.5 mg/ml) in
#: Dolianitis et al. 2004 is the top; a tenth of it the bottom (a typing slip by ten refused)
DRUG_MG_ML = (0.05, 0.5)

#: the shortest time from one session's start to the next (one a day, with room for the hour)
MIN_GAP = timedelta(hours=20)
#: at most this many sessions in any window of WINDOW (rolling): the sixth is refused
MAX_IN_WINDOW = 5
WINDOW = timedelta(days=7)
#: the initial phase: three sessions a week, two days apart at the least
INITIAL_PER_WEEK = 3
INITIAL_GAP_DAYS = 2
#: a session is overdue once the due date is more than this many days past
OVERDUE_AFTER_DAYS = 1
#: a screening holds for this many months
SCREENING_MONTHS = 12
#: an override is good for the one session started within this time of its grant
OVERRIDE_VALID = timedelta(hours=1)
#: the initial phase's length after which no improvement means not-responding
NOT_RESPONDING_AFTER = timedelta(days=28)
#: the HDSS scores that count as a response (1 never noticeable, 2 tolerable)
GOOD_HDSS = (1, 2)
#: two good scores count as "two weekly scores in a row" when this far apart at least (a week,
#: the second entered up to a day early)
GOOD_SPAN = timedelta(days=6)
#: the next session's start rises towards the prescription by at most this much (mA)
COMFORT_RISE_MA = 1.0
#: one press of "lower" during a session (mA), and the lowest level a patient may choose
COMFORT_STEP_MA = 1.0
COMFORT_FLOOR_MA = 1.0

#: a load at the contact check at or above this (ohm) is high for the site in tap water:
#: typical hands and feet load 1-3 kohm at 450 uS/cm; 4 kohm is a third above that range and the
#: load at which the 58 V compliance can no longer drive 15 mA (3.9 kohm). Axillae, with pads at
#: 5 mA: 58 V drives 5 mA up to 11.6 kohm; 10 kohm.
HIGH_LOAD_OHM = {"hands": 4000.0, "feet": 4000.0, "axillae": 10000.0}
#: a load below this (ohm) is far below a body's: two wet hands and the body's interior give
#: about 1175 ohm at the 5th percentile (IEC 60479-1, water-wet, large contacts); half of it
LOW_LOAD_OHM = 600.0
#: the share of the others' sessions that must show a high load for the water to be blamed
OTHERS_HIGH_SHARE = 0.5

SCREENING_QUESTIONS = {
    "pregnancy": "pregnant",
    "epilepsy": "epilepsy",
    "heart_condition": "a heart condition or a pacemaker",
    "implant": "a metal implant or an implanted device",
}


# --- screening ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Screening:
    """The answers to the screening questions, asked by the technician before the first session.

    :param pregnancy, epilepsy, heart_condition, implant: the answers (``True`` is yes).
    :param on: the date the questions were asked; the screening holds for 12 months from it.
    :param cleared_by: who cleared a yes (a doctor's name), with ``cleared_on``, the date; a
        clearance dated before the screening belongs to an earlier one and is refused.
    """

    pregnancy: bool
    epilepsy: bool
    heart_condition: bool
    implant: bool
    on: date
    cleared_by: str | None = None
    cleared_on: date | None = None

    def validated(self) -> Screening:
        for name in SCREENING_QUESTIONS:
            if not isinstance(getattr(self, name), bool):
                raise PrescriptionError(f"screening.{name}", getattr(self, name),
                                        "allowed: true (yes) or false (no)")
        _a_date("screening.on", self.on)
        if (self.cleared_by is None) != (self.cleared_on is None):
            raise PrescriptionError("screening.cleared_by", self.cleared_by,
                                    "a clearance needs both who cleared it and the date")
        if self.cleared_by is not None:
            if not isinstance(self.cleared_by, str) or not self.cleared_by.strip():
                raise PrescriptionError("screening.cleared_by", self.cleared_by,
                                        "allowed: the name of who cleared the treatment")
            _a_date("screening.cleared_on", self.cleared_on)
            if self.cleared_on < self.on:
                raise PrescriptionError(
                    "screening.cleared_on", self.cleared_on.isoformat(),
                    f"a clearance must be dated on or after the screening ({self.on.isoformat()})")
        return self

    @property
    def answered_yes(self) -> tuple[str, ...]:
        """The questions answered yes, in the registry's order."""
        return tuple(name for name in SCREENING_QUESTIONS if getattr(self, name))

    @property
    def expires_on(self) -> date:
        """The first day on which the screening no longer holds (12 months after ``on``; the
        29th of February gives the 28th)."""
        return add_months(self.on, SCREENING_MONTHS)

    def cleared(self, today: date) -> bool:
        return self.cleared_on is not None and self.cleared_on <= today

    def to_dict(self) -> dict:
        return {**{name: getattr(self, name) for name in SCREENING_QUESTIONS},
                "on": self.on.isoformat(), "cleared_by": self.cleared_by,
                "cleared_on": None if self.cleared_on is None else self.cleared_on.isoformat()}

    @classmethod
    def from_dict(cls, d: dict) -> Screening:
        _keys("screening", d, set(SCREENING_QUESTIONS) | {"on", "cleared_by", "cleared_on"},
              required={"on", *SCREENING_QUESTIONS})
        cleared_on = d.get("cleared_on")
        return cls(**{name: d[name] for name in SCREENING_QUESTIONS},
                   on=_parse_date("screening.on", d["on"]), cleared_by=d.get("cleared_by"),
                   cleared_on=None if cleared_on is None else _parse_date(
                       "screening.cleared_on", cleared_on)).validated()


@dataclass(frozen=True)
class Refusal:
    """Why the device will not treat: one of :data:`REFUSALS` and a sentence for the display
    and the log."""

    code: str
    message: str


def screening_refusal(screening: Screening | None, today: date) -> Refusal | None:
    """NOT-SCREENED or CONTRAINDICATED for a session on ``today``, or ``None`` when the screening
    allows it."""
    if screening is None:
        return Refusal(NOT_SCREENED, "Not screened yet: the technician asks the screening "
                                     "questions before the first session.")
    screening = screening.validated()
    if today < screening.on:
        return Refusal(NOT_SCREENED,
                       f"The screening is dated {screening.on.isoformat()}, after today "
                       f"({today.isoformat()}): the technician checks its date and the clock.")
    if today >= screening.expires_on:
        return Refusal(NOT_SCREENED,
                       f"screening expired on {screening.expires_on.isoformat()}: the technician "
                       "asks the screening questions again.")
    yes = screening.answered_yes
    if yes and not screening.cleared(today):
        words = ", ".join(SCREENING_QUESTIONS[q] for q in yes)
        return Refusal(CONTRAINDICATED,
                       f"The screening answered yes ({words}): no treatment until a doctor's "
                       "clearance is recorded by the technician.")
    return None


# --- profiles ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Profile:
    """One person's course on the unit, as the technician sets it up.

    :param id: 1 to 12 characters, each a-z, 0-9 or '-'.
    :param prescription: the site, the target, the duration, the waveform, the ramp and the
        reversal (:class:`~controller.limits.Prescription`).
    :param drug: ``"none"`` (tap water) or ``"glycopyrronium"`` (the medication mode, which the
        technician unlocks).
    :param drug_mg_ml: the drug's concentration in its tray (mg/ml); required with the drug,
        absent without.
    :param drug_tray: ``"A"`` or ``"B"``, the tray that holds the drug: a cation, so that tray is
        the anode for the whole session; required with the drug, absent without.
    :param screening: the screening's answers, or ``None`` (not screened: no treatment).
    :param maintenance_days: the interval of the maintenance phase, 7 to 28 days (default 7).
    :param comfort_ma: the level the next session starts from after the patient lowered the
        current (:func:`next_comfort_ma`); ``None``: the prescription's target.
    :param child: the person is a child: the prescription must be a child's (child limits,
        and a child's electrode area or a smaller one).

    :meth:`to_dict` gives the stored form, a JSON-able dict with exactly these keys: ``id``
    (str), ``child`` (bool), ``prescription`` (a dict of every field of
    :class:`~controller.limits.Prescription`: ``site``, ``target_ma``, ``duration_min``,
    ``waveform``, ``pulse_hz``, ``pulse_duty``, ``reverse_polarity``, ``child``, ``ramp_ma_s``,
    ``area_cm2``), ``drug`` (str), ``drug_mg_ml`` (float or null), ``drug_tray`` (str or null),
    ``screening`` (null or a dict: ``pregnancy``, ``epilepsy``, ``heart_condition``,
    ``implant`` (bools), ``on`` (ISO date), ``cleared_by`` (str or null), ``cleared_on`` (ISO
    date or null)), ``maintenance_days`` (int) and ``comfort_ma`` (float or null).
    :meth:`from_dict` reads it back, refusing unknown keys, and validates.
    """

    id: str
    prescription: Prescription = dataclasses.field(default_factory=Prescription)
    drug: str = "none"
    drug_mg_ml: float | None = None
    drug_tray: str | None = None
    screening: Screening | None = None
    maintenance_days: int = DEFAULT_MAINTENANCE_DAYS
    comfort_ma: float | None = None
    child: bool = False

    def validated(self, limits: Limits | None = None) -> Profile:
        """Return a copy with the prescription's defaults filled in, or raise
        :class:`~controller.limits.PrescriptionError`."""
        if not isinstance(self.id, str) or not PROFILE_ID.fullmatch(self.id):
            raise PrescriptionError("id", self.id,
                                    "allowed: 1 to 12 characters, each a-z, 0-9 or '-'")
        if not isinstance(self.child, bool):
            raise PrescriptionError("child", self.child, "allowed: true or false")
        if not isinstance(self.prescription, Prescription):
            raise PrescriptionError("prescription", self.prescription, "a prescription is needed")
        rx = self.prescription.validated(limits)
        if self.child:
            if not rx.child:
                raise PrescriptionError(
                    "prescription.child", False,
                    "a child's profile needs a child's prescription (the child's limits and "
                    "area): set child = true in the prescription")
            if rx.area_cm2 > CHILD_AREA_CM2[rx.site]:
                raise PrescriptionError(
                    "prescription.area_cm2", rx.area_cm2,
                    f"a child's profile takes a child's area: at most "
                    f"{CHILD_AREA_CM2[rx.site]:g} cm2 for {rx.site}")
        if self.drug not in DRUGS:
            raise PrescriptionError("drug", self.drug, f"allowed: {', '.join(DRUGS)}")
        if self.drug == "none":
            if self.drug_mg_ml is not None:
                raise PrescriptionError("drug_mg_ml", self.drug_mg_ml,
                                        "a concentration goes only with a drug (drug = none)")
            if self.drug_tray is not None:
                raise PrescriptionError("drug_tray", self.drug_tray,
                                        "a drug's tray goes only with a drug (drug = none)")
        else:
            if self.drug_mg_ml is None:
                raise PrescriptionError("drug_mg_ml", None,
                                        f"the concentration of {self.drug} is needed (mg/ml)")
            _number("drug_mg_ml", self.drug_mg_ml, *DRUG_MG_ML, "mg/ml")
            if self.drug_tray not in TRAYS:
                raise PrescriptionError(
                    "drug_tray", self.drug_tray,
                    f"allowed: {' or '.join(TRAYS)}, the tray that holds the drug")
            if rx.reverse_polarity:
                raise PrescriptionError(
                    "prescription.reverse_polarity", True,
                    f"no polarity reversal with {self.drug}: the drug's tray stays the anode "
                    "for the whole session")
            if rx.target_ma > DRUG_MAX_MA:
                raise PrescriptionError(
                    "prescription.target_ma", rx.target_ma,
                    f"at most {DRUG_MAX_MA:g} mA with {self.drug} (above it side effects such "
                    "as a dry mouth rise)")
        screening = None if self.screening is None else _screening(self.screening).validated()
        if (isinstance(self.maintenance_days, bool) or not isinstance(self.maintenance_days, int)
                or not MAINTENANCE_DAYS[0] <= self.maintenance_days <= MAINTENANCE_DAYS[1]):
            raise PrescriptionError("maintenance_days", self.maintenance_days,
                                    f"allowed: a whole number of days from {MAINTENANCE_DAYS[0]} "
                                    f"to {MAINTENANCE_DAYS[1]}")
        comfort = self.comfort_ma
        if comfort is not None:
            _number("comfort_ma", comfort, 0.0, SITE_MAX_MA[rx.site][0], "mA", low_open=True)
            comfort = None if comfort >= rx.target_ma else float(comfort)
        return replace(self, prescription=rx, screening=screening, comfort_ma=comfort,
                       drug_mg_ml=None if self.drug_mg_ml is None else float(self.drug_mg_ml))

    def to_dict(self) -> dict:
        """The stored form (the keys are listed in the class's docstring)."""
        rx = {f.name: getattr(self.prescription, f.name)
              for f in dataclasses.fields(Prescription)}
        return {"id": self.id, "child": self.child, "prescription": rx, "drug": self.drug,
                "drug_mg_ml": self.drug_mg_ml, "drug_tray": self.drug_tray,
                "screening": None if self.screening is None else self.screening.to_dict(),
                "maintenance_days": self.maintenance_days, "comfort_ma": self.comfort_ma}

    @classmethod
    def from_dict(cls, d: dict, limits: Limits | None = None) -> Profile:
        """Read the stored form back and validate it."""
        keys = {f.name for f in dataclasses.fields(cls)}
        _keys("profile", d, keys, required={"id", "prescription"})
        rx = d["prescription"]
        rx_keys = {f.name for f in dataclasses.fields(Prescription)}
        _keys("prescription", rx, rx_keys, required=set())
        screening = d.get("screening")
        return cls(id=d["id"], prescription=Prescription(**rx),
                   drug=d.get("drug", "none"), drug_mg_ml=d.get("drug_mg_ml"),
                   drug_tray=d.get("drug_tray"),
                   screening=None if screening is None else Screening.from_dict(screening),
                   maintenance_days=d.get("maintenance_days", DEFAULT_MAINTENANCE_DAYS),
                   comfort_ma=d.get("comfort_ma"),
                   child=d.get("child", False)).validated(limits)


def check_profiles(profiles: Sequence[Profile]) -> None:
    """Refuse more than :data:`MAX_PROFILES` profiles on one unit, or two with one id."""
    if len(profiles) > MAX_PROFILES:
        raise PrescriptionError("profiles", len(profiles),
                                f"at most {MAX_PROFILES} profiles on one unit: remove one first")
    seen = set()
    for p in profiles:
        if p.id in seen:
            raise PrescriptionError("id", p.id, "another profile has this id: choose another")
        seen.add(p.id)


# --- the plan: due, too soon, the override -----------------------------------------------------

@dataclass(frozen=True)
class Override:
    """A technician's override of a TOO-SOON refusal: it lets exactly one session through, the
    first one started within :data:`OVERRIDE_VALID` of ``granted_at`` (the caller logs it)."""

    granted_at: datetime
    by: str
    reason: str = ""

    def usable(self, sessions: Iterable[datetime], now: datetime) -> bool:
        """Whether it still lets a session start at ``now``: granted, not yet used by a session
        started since, and not stale."""
        if not isinstance(self.granted_at, datetime):
            raise PrescriptionError("override.granted_at", self.granted_at,
                                    "the date and time of the grant are needed")
        if not isinstance(self.by, str) or not self.by.strip():
            return False
        if not self.granted_at <= now <= self.granted_at + OVERRIDE_VALID:
            return False
        return not any(s >= self.granted_at for s in sessions)


@dataclass(frozen=True)
class Due:
    """Where a profile's plan stands at ``now``.

    :param status: ``due``, ``not-yet-due`` or ``overdue``; ``None`` when the clock is lost.
    :param next_date: the date the next session is due (``None`` before the first session, and
        when the clock is lost).
    :param earliest: the earliest time the next session may start (20 hours after the last, and
        no sixth within 7 days); ``None`` when nothing holds it back.
    :param refusal: TOO-SOON or CLOCK-LOST, or ``None``.
    :param override_used: a TOO-SOON refusal was let through by the override.
    """

    status: str | None
    next_date: date | None
    earliest: datetime | None
    refusal: Refusal | None
    override_used: bool = False

    @property
    def may_treat(self) -> bool:
        return self.refusal is None


def next_due_date(sessions: Sequence[datetime], phase: str = INITIAL,
                  maintenance_days: int = DEFAULT_MAINTENANCE_DAYS) -> date | None:
    """The date the next session is due after ``sessions`` (sorted or not); ``None`` before the
    first. Initial (and not-responding, which goes on until the dermatologist decides): two days
    after the last, and no sooner than a week after the third from last (three a week: Monday,
    Wednesday, Friday, Monday). Maintenance: ``maintenance_days`` after the last."""
    _phase(phase)
    past = sorted(sessions)
    if not past:
        return None
    last = past[-1].date()
    if phase == MAINTENANCE:
        return last + timedelta(days=maintenance_days)
    nxt = last + timedelta(days=INITIAL_GAP_DAYS)
    if len(past) >= INITIAL_PER_WEEK:
        nxt = max(nxt, past[-INITIAL_PER_WEEK].date() + timedelta(days=7))
    return nxt


def earliest_start(sessions: Sequence[datetime]) -> datetime | None:
    """The earliest time a next session may start: 20 hours after the last, and once five lie
    within 7 days, 7 days after the fifth from last (the sixth in any rolling 7 days is
    refused). ``None`` before the first session."""
    past = sorted(sessions)
    if not past:
        return None
    t = past[-1] + MIN_GAP
    if len(past) >= MAX_IN_WINDOW:
        t = max(t, past[-MAX_IN_WINDOW] + WINDOW)
    return t


def due(sessions: Sequence[datetime], now: datetime, *, phase: str = INITIAL,
        maintenance_days: int = DEFAULT_MAINTENANCE_DAYS, clock_lost: bool = False,
        override: Override | None = None) -> Due:
    """Whether a session is due at ``now``, and whether one may start.

    :param sessions: the start times of the profile's completed sessions.
    :param now: the real-time clock's local time (naive datetimes, as the clock keeps them).
    :param phase: the plan's phase (:func:`phase_history`).
    :param clock_lost: the real-time clock has lost its time (its oscillator stopped, its battery
        died): every date is then unknown, and the device refuses (CLOCK-LOST). A session in the
        history later than ``now`` means the same (the clock went back).
    :param override: a technician's :class:`Override`, which lets one TOO-SOON through.
    """
    _phase(phase)
    if (isinstance(maintenance_days, bool) or not isinstance(maintenance_days, int)
            or not MAINTENANCE_DAYS[0] <= maintenance_days <= MAINTENANCE_DAYS[1]):
        raise PrescriptionError("maintenance_days", maintenance_days,
                                f"allowed: a whole number of days from {MAINTENANCE_DAYS[0]} "
                                f"to {MAINTENANCE_DAYS[1]}")
    if not isinstance(clock_lost, bool):
        raise PrescriptionError("clock_lost", clock_lost, "allowed: true or false")
    if clock_lost:
        return Due(None, None, None, Refusal(
            CLOCK_LOST, "The clock has lost the date and time: the technician sets the clock "
                        "before the next session."))
    if not isinstance(now, datetime):
        raise PrescriptionError("now", now, "a date and a time are needed")
    past = sorted(sessions)
    for s in past:
        if not isinstance(s, datetime):
            raise PrescriptionError("sessions", s, "each session needs its date and time")
    if past and past[-1] > now:
        return Due(None, None, None, Refusal(
            CLOCK_LOST, f"The log has a session at {_when(past[-1])}, later than the clock's "
                        f"{_when(now)}: the clock is wrong; the technician sets it."))
    nxt = next_due_date(past, phase, maintenance_days)
    today = now.date()
    if nxt is None or today >= nxt:
        late = nxt is not None and (today - nxt).days > OVERDUE_AFTER_DAYS
        status = OVERDUE if late else DUE
    else:
        status = NOT_YET_DUE
    earliest = earliest_start(past)
    refusal = None
    if earliest is not None and now < earliest:
        if now - past[-1] < MIN_GAP:
            why = f"the last session was at {_when(past[-1])}"
        else:
            why = (f"{MAX_IN_WINDOW} sessions in the last {WINDOW.days} days already, the first "
                   f"of them at {_when(past[-MAX_IN_WINDOW])}")
        refusal = Refusal(TOO_SOON, f"Too soon: {why}; the next may start from "
                                    f"{_when(earliest)}.")
    if refusal is not None and override is not None and override.usable(past, now):
        return Due(status, nxt, earliest, None, override_used=True)
    return Due(status, nxt, earliest if refusal else None, refusal)


# --- outcome: the plan's phase from the HDSS scores --------------------------------------------

@dataclass(frozen=True)
class PhaseChange:
    """The plan entered ``phase`` on ``on``, for ``reason`` (plain words)."""

    on: date
    phase: str
    reason: str


def _course_timeline(hdss: Sequence[tuple[date, int]], decisions: Sequence[tuple[date, str]],
                     today: date) -> list[tuple[date, int, int | str]]:
    """The scores (kind 0) and the technician's decisions (kind 1) up to ``today``, checked,
    by day, a day's scores before its decisions, each in the order given."""
    scores = []
    for item in hdss:
        d, s = _pair("hdss", item)
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 4:
            raise PrescriptionError("hdss", s, "allowed: a score of 1, 2, 3 or 4")
        scores.append((d, 0, s))
    moves = []
    for item in decisions:
        d, ph = _pair("decision", item)
        _phase(ph)
        moves.append((d, 1, ph))
    return sorted((e for e in scores + moves if e[0] <= today), key=lambda e: (e[0], e[1]))


def phase_history(start: date, hdss: Sequence[tuple[date, int]],
                  decisions: Sequence[tuple[date, str]], today: date) -> list[PhaseChange]:
    """The plan's phases from the course's start to ``today``, oldest first.

    :param start: the course's first day (the initial phase starts on it).
    :param hdss: ``(date, score)`` pairs, scores 1 to 4: the start's score (the latest on or
        before ``start``, or failing one the first after it), then weekly.
    :param decisions: ``(date, phase)``: the technician sets the phase; setting ``initial``
        starts the initial phase again from that date, with the last score as its start score.
    :param today: the day judged; what is later is not looked at.

    The rules: in the initial phase, a score of 1 or 2 that follows another of 1 or 2 at least
    6 days before it (two weekly scores in a row, none above 2 between) moves the plan to
    maintenance; 28 days into the initial phase, if no score since the start's was below it,
    the plan is not-responding (see the dermatologist). Scores and decisions of one day are
    taken before that day's 28-day check. Maintenance and not-responding change only by the
    technician's decision.
    """
    _a_date("start", start)
    _a_date("today", today)
    events = _course_timeline(hdss, decisions, today)
    changes = [PhaseChange(start, INITIAL, "the course starts")]
    phase, p_start = INITIAL, start
    check: date | None = start + NOT_RESPONDING_AFTER
    baseline: tuple[date, int] | None = None
    last: tuple[date, int] | None = None
    run_from: date | None = None
    improved = False

    def enter(on, new, reason):
        nonlocal phase
        phase = new
        changes.append(PhaseChange(on, new, reason))

    i = 0
    while True:
        nxt = events[i][0] if i < len(events) else None
        if (phase == INITIAL and check is not None and check <= today
                and (nxt is None or nxt > check)):
            if not improved:
                start_score = "none" if baseline is None else str(baseline[1])
                enter(check, NOT_RESPONDING,
                      f"no improvement after {NOT_RESPONDING_AFTER.days} days of the initial "
                      f"phase (the start's score {start_score}): see the dermatologist")
            check = None
            continue
        if nxt is None:
            break
        d, kind, value = events[i]
        i += 1
        if kind == 0:
            last = (d, value)
            if baseline is None or d <= p_start:
                baseline = (d, value)
                continue
            if d <= baseline[0]:
                continue
            if value < baseline[1]:
                improved = True
            if value in GOOD_HDSS:
                if run_from is None:
                    run_from = d
                elif phase == INITIAL and d - run_from >= GOOD_SPAN:
                    enter(d, MAINTENANCE,
                          f"HDSS {GOOD_HDSS[0]}-{GOOD_HDSS[-1]} in two weekly scores in a row "
                          f"(since {run_from.isoformat()})")
            else:
                run_from = None
        else:
            if value == INITIAL:
                p_start = d
                baseline = last
                run_from = None
                improved = False
                check = d + NOT_RESPONDING_AFTER
                enter(d, INITIAL, "the technician's decision: the initial phase again")
            elif value != phase:
                enter(d, value, "the technician's decision")
    return changes


def next_hdss_date(start: date, hdss: Sequence[tuple[date, int]]) -> date:
    """The day the next HDSS score is due: the start, then a week after the last score."""
    _a_date("start", start)
    days = [_pair("hdss", item)[0] for item in hdss]
    return start if not days else max(days) + timedelta(days=7)


def current_phase(start: date, hdss: Sequence[tuple[date, int]],
                  decisions: Sequence[tuple[date, str]], today: date) -> PhaseChange:
    """The phase on ``today`` (the last of :func:`phase_history`)."""
    return phase_history(start, hdss, decisions, today)[-1]


# --- water advice ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadFigures:
    """What one session measured of its load.

    :param site: the prescription's site.
    :param contact_ohm: the load at the contact check (the 0.2 mA probe, the first seconds).
    :param ramp_ohm: the load on the ramp (at the highest current it reached), or ``None``.
    :param reached_target: the target was reached within the compliance voltage.
    """

    site: str
    contact_ohm: float | None
    ramp_ohm: float | None = None
    reached_target: bool = True


@dataclass(frozen=True)
class Advice:
    """What the device tells the patient about the water: SOFT-WATER or NO-SALT."""

    code: str
    message: str


SOFT_WATER_TEXT = ("The water is too soft for the current to reach its setting. Next time, "
                   "stir a level teaspoon of baking soda into the water of each tray before "
                   "the hands go in.")
NO_SALT_TEXT = ("The current flows far too easily for a body: there may be salt in the water. "
                "Use plain tap water, never salt (salt can burn), at most a teaspoon of baking "
                "soda in each tray, and keep the space between the trays dry.")


def water_advice(session: LoadFigures, others: Sequence[LoadFigures] = ()) -> tuple[Advice, ...]:
    """The advice after a session, from its load figures and, where known, those of other
    profiles' recent sessions on the same water.

    SOFT-WATER: the target was not reached, and the load was high (:data:`HIGH_LOAD_OHM` for the
    site) at the contact check and on the ramp; where other profiles' recent sessions are given,
    only if at least half of them (:data:`OTHERS_HIGH_SHARE`) were high at their contact check
    too: otherwise it is this person's dry skin, not the water, and baking soda is not advised.
    NO-SALT: the lowest of the load figures is below :data:`LOW_LOAD_OHM`, far below a body's.
    """
    _figures("session", session)
    for o in others:
        _figures("others", o)
    advice = []
    loads = [x for x in (session.contact_ohm, session.ramp_ohm) if x is not None]
    high = HIGH_LOAD_OHM[session.site]
    if (not session.reached_target and session.contact_ohm is not None
            and session.contact_ohm >= high and (session.ramp_ohm is None
                                                 or session.ramp_ohm >= high)):
        judged = [o for o in others if o.contact_ohm is not None]
        seen = sum(o.contact_ohm >= HIGH_LOAD_OHM[o.site] for o in judged)
        if not judged or seen >= OTHERS_HIGH_SHARE * len(judged):
            advice.append(Advice(SOFT_WATER, SOFT_WATER_TEXT))
    if loads and min(loads) < LOW_LOAD_OHM:
        advice.append(Advice(NO_SALT, NO_SALT_TEXT))
    return tuple(advice)


# --- the session's setup: medication mode and comfort ------------------------------------------

@dataclass(frozen=True)
class SessionSetup:
    """What a session runs for a profile.

    :param prescription: the effective prescription (validated): the start target lowered to
        the comfort level, capped at :data:`DRUG_MAX_MA` with the drug, no reversal with it.
    :param anode_tray: the tray that must be the anode for the whole session (the drug's), or
        ``None`` with tap water.
    :param drug: the profile's drug (``none`` for tap water).
    """

    prescription: Prescription
    anode_tray: str | None
    drug: str


def session_setup(profile: Profile, *, medication_unlocked: bool,
                  limits: Limits | None = None) -> SessionSetup:
    """The effective prescription for the profile's next session.

    Raises :class:`~controller.limits.PrescriptionError` (field ``drug``) for a drug while the
    technician has not unlocked the medication mode.
    """
    p = profile.validated(limits)
    if not isinstance(medication_unlocked, bool):
        raise PrescriptionError("medication_unlocked", medication_unlocked,
                                "allowed: true or false")
    rx = p.prescription
    target = rx.target_ma if p.comfort_ma is None else min(rx.target_ma, p.comfort_ma)
    if p.drug == "none":
        return SessionSetup(replace(rx, target_ma=target).validated(limits), None, p.drug)
    if not medication_unlocked:
        raise PrescriptionError("drug", p.drug,
                                "the medication mode is locked: the technician unlocks it "
                                f"before a session with {p.drug}")
    eff = replace(rx, target_ma=min(target, DRUG_MAX_MA), reverse_polarity=False)
    return SessionSetup(eff.validated(limits), p.drug_tray, p.drug)


def effective_prescription(profile: Profile, *, medication_unlocked: bool,
                           limits: Limits | None = None) -> Prescription:
    """The prescription the profile's next session runs (:func:`session_setup`)."""
    return session_setup(profile, medication_unlocked=medication_unlocked,
                         limits=limits).prescription


def next_comfort_ma(prescribed_ma: float, lowest_ma: float | None,
                    started_ma: float | None = None) -> float | None:
    """The level the next session starts from (a profile's ``comfort_ma``).

    :param prescribed_ma: the prescription's target.
    :param lowest_ma: the lowest level the patient chose in the last session (``None``: the
        patient did not lower it).
    :param started_ma: the level the last session started from (its ``comfort_ma``; ``None``:
        the prescription).

    The next start is the lower of the two plus :data:`COMFORT_RISE_MA`, and ``None`` (the
    prescription) once that reaches it: the start rises by at most 1 mA a session.
    """
    _number("prescribed_ma", prescribed_ma, 0.0, max(v[0] for v in SITE_MAX_MA.values()), "mA",
            low_open=True)
    levels = []
    for name, v in (("lowest_ma", lowest_ma), ("started_ma", started_ma)):
        if v is not None:
            _number(name, v, 0.0, max(m[0] for m in SITE_MAX_MA.values()), "mA",
                    low_open=True)
            levels.append(min(float(v), prescribed_ma))   # a prescription lowered since
    if not levels:
        return None
    nxt = min(levels) + COMFORT_RISE_MA
    return None if nxt >= prescribed_ma else nxt


def comfort_after_session(prescribed_ma: float, started_ma: float | None,
                          lowest_ma: float | None, *, counted: bool) -> float | None:
    """A profile's ``comfort_ma`` after one of its sessions (what the next one starts from).

    :param prescribed_ma: the profile's prescription's target.
    :param started_ma: the profile's ``comfort_ma`` the session started from (``None``: the
        prescription).
    :param lowest_ma: the lowest level the patient chose in it with SELECT (``None``: not
        lowered).
    :param counted: the session treated long enough to count as a treatment of the plan.

    A session the patient lowered sets the next start at the lower of its lowest level and its
    own start, plus :data:`COMFORT_RISE_MA` (:func:`next_comfort_ma`). A session that was not
    lowered and counted lets the start rise by :data:`COMFORT_RISE_MA` towards the
    prescription; one that was not lowered and did not count (stopped in its first minutes)
    leaves it where it was: the patient has not shown that the level is comfortable.
    """
    if lowest_ma is None and not counted:
        return None if started_ma is None or started_ma >= prescribed_ma else float(started_ma)
    return next_comfort_ma(prescribed_ma, lowest_ma, started_ma)


def comfort_step_down(level_ma: float) -> float:
    """The level after one press of "lower" during a session: :data:`COMFORT_STEP_MA` less, and
    no lower than :data:`COMFORT_FLOOR_MA`."""
    _number("level_ma", level_ma, 0.0, max(v[0] for v in SITE_MAX_MA.values()), "mA",
            low_open=True)
    if level_ma <= COMFORT_FLOOR_MA:
        return float(level_ma)
    return max(COMFORT_FLOOR_MA, level_ma - COMFORT_STEP_MA)


# --- the visit: every rule at once -------------------------------------------------------------

@dataclass(frozen=True)
class Visit:
    """The answer when a profile is chosen and START pressed: a refusal, or the session's setup.

    ``override_used``: the session runs on the technician's override (the caller logs it).
    """

    refusal: Refusal | None
    due: Due
    setup: SessionSetup | None
    override_used: bool = False

    @property
    def may_treat(self) -> bool:
        return self.refusal is None


def check_visit(profile: Profile, sessions: Sequence[datetime], now: datetime, *,
                phase: str = INITIAL, clock_lost: bool = False, medication_unlocked: bool = False,
                override: Override | None = None, limits: Limits | None = None) -> Visit:
    """Every rule of the course for a session of ``profile`` at ``now``, in this order: the
    clock (CLOCK-LOST: no date can be judged), the screening (NOT-SCREENED, CONTRAINDICATED),
    the medication mode's lock (MEDICATION-LOCKED), then the plan (TOO-SOON, which alone the
    override lets through)."""
    p = profile.validated(limits)
    d = due(sessions, now, phase=phase, maintenance_days=p.maintenance_days,
            clock_lost=clock_lost, override=override)
    if d.refusal is not None and d.refusal.code == CLOCK_LOST:
        return Visit(d.refusal, d, None)
    refused = screening_refusal(p.screening, now.date())
    if refused is not None:
        return Visit(refused, d, None)
    if p.drug != "none" and not medication_unlocked:
        return Visit(Refusal(MEDICATION_LOCKED,
                             f"This profile uses {p.drug}, and the medication mode is locked: "
                             "the technician unlocks it."), d, None)
    if d.refusal is not None:
        return Visit(d.refusal, d, None)
    return Visit(None, d, session_setup(p, medication_unlocked=True, limits=limits),
                 d.override_used)


# --- helpers -----------------------------------------------------------------------------------

def add_months(d: date, months: int) -> date:
    """``d`` moved by whole months; a day the month lacks gives its last day."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def _phase(phase):
    if phase not in PHASES:
        raise PrescriptionError("phase", phase, f"allowed: {', '.join(PHASES)}")


def _a_date(name, value):
    if isinstance(value, datetime) or not isinstance(value, date):
        raise PrescriptionError(name, value, "a date is needed (year, month, day)")


def _parse_date(name, text):
    if not isinstance(text, str):
        raise PrescriptionError(name, text, "a date is needed as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PrescriptionError(name, text, "a date is needed as YYYY-MM-DD") from None


def _pair(name, item):
    if not isinstance(item, tuple | list) or len(item) != 2:
        raise PrescriptionError(name, item, "a (date, value) pair is needed")
    _a_date(f"{name} date", item[0])
    return item[0], item[1]


def _screening(s):
    if not isinstance(s, Screening):
        raise PrescriptionError("screening", s, "the screening's answers are needed, or none")
    return s


def _figures(name, f):
    if not isinstance(f, LoadFigures):
        raise PrescriptionError(name, f, "a session's load figures are needed")
    if f.site not in HIGH_LOAD_OHM:
        raise PrescriptionError(f"{name}.site", f.site, f"allowed: {', '.join(HIGH_LOAD_OHM)}")
    for attr in ("contact_ohm", "ramp_ohm"):
        v = getattr(f, attr)
        if v is not None:
            _number(f"{name}.{attr}", v, 0.0, 1e9, "ohm")
    if not isinstance(f.reached_target, bool):
        raise PrescriptionError(f"{name}.reached_target", f.reached_target,
                                "allowed: true or false")


def _keys(name, d, allowed, required):
    if not isinstance(d, dict):
        raise PrescriptionError(name, d, "a table of fields is needed")
    unknown = sorted(set(d) - allowed, key=str)
    if unknown:
        raise PrescriptionError(f"{name}.{unknown[0]}", d[unknown[0]],
                                f"unknown field; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(d))
    if missing:
        raise PrescriptionError(f"{name}.{missing[0]}", None, "this field is needed")


def _number(name, value, lo, hi, unit, low_open=False):
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise PrescriptionError(name, value, f"must be a number from {lo:g} to {hi:g} {unit}")
    if (value <= lo if low_open else value < lo) or value > hi:
        lo_word = f"above {lo:g}" if low_open else f"from {lo:g}"
        raise PrescriptionError(name, value, f"allowed: {lo_word} to {hi:g} {unit}")
