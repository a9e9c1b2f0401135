"""Course files (../shared/SCENARIOS.md, "Courses"): reading and validation.

A course tells weeks of treatment from the outside: the people who share the unit (each set up
by the technician before day 0), the water in the trays, and the visits, each on a day and at
a time of the real-time clock. This module owns the world's side of it, as
:mod:`sim.scenario` does for one session: every key is checked here, and every problem is a
:class:`~sim.scenario.ScenarioError` naming the file, the key, the bad value and what is
allowed; nothing is simulated from an invalid file. The prescriptions are the device's to
judge (the composition root sets each profile up through the device's own rules), so a
profile's numbers are only checked here for type and a broad range.

Keys beyond the contract (``scenarios/README.md`` documents them):

- ``[[profile]]``: ``area_cm2``, ``ramp_ma_s`` (the prescription's, as in ``[protocol]``),
  ``drug_mg_ml`` and ``drug_tray`` (the medication mode's concentration and the tray that holds
  the drug, "A" or "B"), ``maintenance_days`` (7-28), ``load_drift_per_min`` and
  ``body_fraction`` (the person's, as in ``[patient]``);
- ``[[visit]]``: ``override = true`` (the technician lets one refused session through, logged),
  ``end_after_s`` (the visit's own limit, as a scenario's);
- ``[expect]`` (checked by ``ionto sim``, exit 1 when one does not hold): ``refused``,
  ``advice`` (each profile's codes in order), ``completed`` (sessions), ``phase`` (at the end),
  ``next_due`` (a date), ``reversals_max`` (in any one session), ``start_ma`` (the target
  each session started with, in order: the comfort level or the prescription's), each a table
  by profile id,
  and ``peak_ma_max`` (the true current, over every session);
- ``end_day``: the last day the course file speaks for (default: the last visit's day); the
  next due dates are told as of that day's end.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from .numbers import show
from .scenario import (
    EVENT_KEYS,
    PATIENT_NUMBERS,
    Event,
    ScenarioError,
    _keys,
    parse_scenario,
    read_number,
    read_toml,
)
from .water import CONDUCTIVITY_RANGE, REFERENCE_US_CM

TOP_KEYS = {"name", "seed", "start_date", "end_day", "water", "profile", "visit", "expect"}
#: [expect]: what the course must show (each by profile id, but peak_ma_max over all sessions)
EXPECT_KEYS = {"refused": "list", "completed": "int", "phase": "str", "advice": "list",
               "next_due": "str", "reversals_max": "int", "peak_ma_max": "number",
               "start_ma": "numbers"}
WATER_KEYS = {"conductivity_us_cm"}
SCREENING_KEYS = ("pregnancy", "epilepsy", "heart_condition", "implant")
PROFILE_KEYS = {"id", "site", "target_ma", "duration_min", "waveform", "pulse_hz",
                "pulse_duty", "reverse_polarity", "child", "drug", "drug_mg_ml", "drug_tray",
                "hdss", "load_ohm", "screening", "area_cm2", "ramp_ma_s", "maintenance_days",
                "load_drift_per_min", "body_fraction"}
#: the keys of a profile that make its prescription (as a scenario's [protocol])
PRESCRIPTION_KEYS = ("site", "target_ma", "duration_min", "waveform", "pulse_hz", "pulse_duty",
                     "reverse_polarity", "child", "ramp_ma_s", "area_cm2")
VISIT_KEYS = {"day", "at", "profile", "do", "hdss", "load_ohm", "events", "override",
              "end_after_s", "panel_hdss"}
VISIT_DOS = ("session", "baking_soda", "hdss")
DRUGS = ("none", "glycopyrronium")
MAX_PROFILES = 6
#: a course of at most two years of visits
MAX_DAY = 730
ID_RE = re.compile(r"[a-z0-9-]{1,12}")
AT_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


@dataclass
class CourseProfile:
    """A person as the technician set them up before day 0, and their body (``load_ohm``)."""

    id: str
    prescription: dict            # the [protocol]-like keys given
    child: bool
    drug: str
    drug_mg_ml: float | None
    drug_tray: str | None
    hdss: int | None
    maintenance_days: int | None
    screening: dict | None        # the four answers, or None: not screened
    patient: dict                 # load_ohm, load_drift_per_min, body_fraction, area_cm2


@dataclass
class Visit:
    day: int
    at: str                       # "HH:MM" on the real-time clock
    profile: str
    do: str
    hdss: int | None = None
    load_ohm: float | None = None
    override: bool = False
    end_after_s: float | None = None
    events: list[Event] = field(default_factory=list)
    index: int = 0                # its place in the file, to keep the order of equal times
    #: the score the patient enters on the panel when the DONE screen asks for it (None: the
    #: patient presses nothing there)
    panel_hdss: int | None = None

    @property
    def minute(self) -> int:
        h, m = self.at.split(":")
        return self.day * 1440 + int(h) * 60 + int(m)


@dataclass
class Course:
    path: str
    name: str
    seed: int
    start_date: dt.date
    end_day: int
    conductivity_us_cm: float
    profiles: dict[str, CourseProfile]
    visits: list[Visit]           # in the order of their time
    expect: dict = field(default_factory=dict)

    def when(self, visit: Visit) -> dt.datetime:
        """The real-time clock's date and time of a visit."""
        h, m = (int(x) for x in visit.at.split(":"))
        return dt.datetime.combine(self.start_date + dt.timedelta(days=visit.day),
                                   dt.time(h, m))


def is_course(raw: dict) -> bool:
    """A file with ``[[profile]]`` tables is a course (SCENARIOS.md)."""
    return "profile" in raw


def load_course(path: Path | str) -> Course:
    path = Path(path)
    return parse_course(read_toml(path), path)


def _bool(path, key, value) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(path, key, f"{show(value)} is not allowed; allowed: true or false")
    return value


def _choice(path, key, value, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ScenarioError(path, key, f"{show(value)} is not allowed; allowed: "
                            f"{', '.join(allowed)}")
    return value


def _profile(path, i: int, p) -> CourseProfile:
    where = f"profile[{i}]"
    _keys(path, where, p, PROFILE_KEYS)
    pid = p.get("id")
    if not isinstance(pid, str) or not ID_RE.fullmatch(pid):
        raise ScenarioError(path, f"{where}.id", f"{show(pid)} is not allowed; allowed: 1-12 "
                            "characters of a-z, 0-9 and '-' (the name the display shows)")
    for k in ("site", "target_ma", "duration_min"):
        if k not in p:
            raise ScenarioError(path, f"{where}.{k}", "missing; this key is required")
    # The prescription's keys are checked as a scenario's [protocol] (and its [patient] for
    # the body), by the scenario loader itself: one set of checks for both files.
    rx = {k: p[k] for k in PRESCRIPTION_KEYS if k in p}
    body = {k: p[k] for k in ("load_ohm", "load_drift_per_min", "body_fraction") if k in p}
    try:
        sc = parse_scenario({"protocol": rx, "patient": body}, path)
    except ScenarioError as exc:
        key = exc.key.replace("protocol.", f"{where}.").replace("patient.", f"{where}.")
        raise ScenarioError(path, key, exc.problem) from None
    child = _bool(path, f"{where}.child", p.get("child", False))
    drug = _choice(path, f"{where}.drug", p.get("drug", "none"), DRUGS)
    mg = p.get("drug_mg_ml")
    if mg is not None:
        mg = read_number(path, f"{where}.drug_mg_ml", mg, 0.0, 10.0, low_open=True,
                         unit="mg/ml")
    tray = p.get("drug_tray")
    if tray is not None:
        tray = _choice(path, f"{where}.drug_tray", tray, ("A", "B"))
    hdss = p.get("hdss")
    if hdss is not None:
        hdss = read_number(path, f"{where}.hdss", hdss, 1, 4, integer=True)
    days = p.get("maintenance_days")
    if days is not None:
        days = read_number(path, f"{where}.maintenance_days", days, 7, 28, integer=True)
    screening = p.get("screening")
    if screening is not None:
        _keys(path, f"{where}.screening", screening, set(SCREENING_KEYS))
        for k in SCREENING_KEYS:
            if k not in screening:
                raise ScenarioError(path, f"{where}.screening.{k}", "missing; each question is "
                                    "answered true or false (or leave out the whole table: "
                                    "not screened)")
            _bool(path, f"{where}.screening.{k}", screening[k])
        screening = dict(screening)
    return CourseProfile(pid, dict(sc.protocol), child, drug, mg, tray, hdss, days, screening,
                         dict(sc.patient))


def _visit(path, i: int, v, profiles) -> Visit:
    where = f"visit[{i}]"
    _keys(path, where, v, VISIT_KEYS)
    for k in ("day", "at", "profile"):
        if k not in v:
            raise ScenarioError(path, f"{where}.{k}", "missing; this key is required")
    day = read_number(path, f"{where}.day", v["day"], 0, MAX_DAY, integer=True)
    at = v["at"]
    if not isinstance(at, str) or not AT_RE.fullmatch(at):
        raise ScenarioError(path, f"{where}.at", f"{show(at)} is not allowed; allowed: a time "
                            "of day as \"HH:MM\" (00:00 to 23:59)")
    pid = v["profile"]
    if pid not in profiles:
        raise ScenarioError(path, f"{where}.profile", f"{show(pid)} is not allowed; allowed: "
                            f"a profile of this file ({', '.join(profiles)})")
    do = _choice(path, f"{where}.do", v.get("do", "session"), VISIT_DOS)
    hdss = v.get("hdss")
    if hdss is not None:
        hdss = read_number(path, f"{where}.hdss", hdss, 1, 4, integer=True)
    elif do == "hdss":
        raise ScenarioError(path, f"{where}.hdss", "missing; do = \"hdss\" enters a score 1-4")
    load = v.get("load_ohm")
    if load is not None:
        lo, hi = next((lo, hi) for k, lo, hi, _ in PATIENT_NUMBERS if k == "load_ohm")
        load = read_number(path, f"{where}.load_ohm", load, lo, hi, unit="ohm")
    override = _bool(path, f"{where}.override", v.get("override", False))
    end = v.get("end_after_s")
    if end is not None:
        end = read_number(path, f"{where}.end_after_s", end, 0.0, 86400.0, low_open=True,
                          unit="s")
    panel = v.get("panel_hdss")
    if panel is not None:
        if do != "session":
            raise ScenarioError(path, f"{where}.panel_hdss", f"a visit with do = \"{do}\" has no "
                                "session after which the panel could ask")
        panel = read_number(path, f"{where}.panel_hdss", panel, 1, 4, integer=True)
    events: list[Event] = []
    raw_events = v.get("events", [])
    if do != "session" and raw_events:
        raise ScenarioError(path, f"{where}.events", f"a visit with do = \"{do}\" has no "
                            "session for events to happen in")
    if not isinstance(raw_events, list):
        raise ScenarioError(path, f"{where}.events", "must be an array of tables")
    if raw_events:
        # The same checks as a scenario's [[event]] tables, on a scenario made of them.
        try:
            sc = parse_scenario({"protocol": {"site": "hands", "target_ma": 1.0,
                                              "duration_min": 5.0}, "event": raw_events}, path)
        except ScenarioError as exc:
            raise ScenarioError(path, exc.key.replace("event[", f"{where}.events["),
                                exc.problem) from None
        events = sc.events
    return Visit(day, at, pid, do, hdss, load, override, end, events, i, panel)


def parse_course(raw: dict, path: Path | str = "<course>") -> Course:
    path = Path(path)
    _keys(path, "", raw, TOP_KEYS)
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ScenarioError(path, "name", f"{show(name)} is not allowed; allowed: a non-empty "
                            "string")
    seed = read_number(path, "seed", raw.get("seed", 0), 0, 2 ** 31, integer=True)
    start = raw.get("start_date")
    if isinstance(start, dt.datetime) or not isinstance(start, (dt.date, str)):
        raise ScenarioError(path, "start_date", f"{show(start)} is not allowed; allowed: a "
                            "date such as 2027-01-04")
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError:
            raise ScenarioError(path, "start_date", f"{show(start)} is not allowed; allowed: "
                                "a date such as \"2027-01-04\"") from None
    water = raw.get("water", {})
    _keys(path, "water", water, WATER_KEYS)
    sigma = read_number(path, "water.conductivity_us_cm",
                        water.get("conductivity_us_cm", REFERENCE_US_CM), *CONDUCTIVITY_RANGE,
                        unit="uS/cm")
    raw_profiles = raw.get("profile")
    if not isinstance(raw_profiles, list) or not raw_profiles:
        raise ScenarioError(path, "profile", "must be an array of tables ([[profile]]), at "
                            "least one")
    if len(raw_profiles) > MAX_PROFILES:
        raise ScenarioError(path, "profile", f"{len(raw_profiles)} profiles; allowed: at most "
                            f"{MAX_PROFILES} on one unit")
    profiles: dict[str, CourseProfile] = {}
    for i, p in enumerate(raw_profiles):
        if not isinstance(p, dict):
            raise ScenarioError(path, f"profile[{i}]", "must be a table")
        prof = _profile(path, i, p)
        if prof.id in profiles:
            raise ScenarioError(path, f"profile[{i}].id", f"{show(prof.id)} is not allowed; "
                                "allowed: a name no other profile has")
        profiles[prof.id] = prof
    raw_visits = raw.get("visit", [])
    if not isinstance(raw_visits, list):
        raise ScenarioError(path, "visit", "must be an array of tables ([[visit]])")
    visits = []
    for i, v in enumerate(raw_visits):
        if not isinstance(v, dict):
            raise ScenarioError(path, f"visit[{i}]", "must be a table")
        visits.append(_visit(path, i, v, profiles))
    visits.sort(key=lambda v: (v.minute, v.index))
    last = max((v.day for v in visits), default=0)
    end_day = raw.get("end_day")
    end_day = last if end_day is None else read_number(path, "end_day", end_day, last, MAX_DAY,
                                                       integer=True)
    expect = _expect(path, raw.get("expect", {}), profiles)
    return Course(str(path), name, seed, start, end_day, sigma, profiles, visits, expect)


def _expect(path, e, profiles) -> dict:
    """[expect]: each key a table by profile id (``peak_ma_max`` a number)."""
    _keys(path, "expect", e, set(EXPECT_KEYS))
    for key, kind in EXPECT_KEYS.items():
        if key not in e:
            continue
        if kind == "number":
            read_number(path, f"expect.{key}", e[key], 0.0, 100.0, unit="mA")
            continue
        table = e[key]
        if not isinstance(table, dict):
            raise ScenarioError(path, f"expect.{key}", "must be a table by profile id, e.g. "
                                f"{key} = {{ anna = ... }}")
        for pid, v in table.items():
            if pid not in profiles:
                raise ScenarioError(path, f"expect.{key}.{pid}", f"{show(pid)} is not a "
                                    f"profile of this file ({', '.join(profiles)})")
            ok = {"list": isinstance(v, list) and all(isinstance(x, str) for x in v),
                  "numbers": isinstance(v, list) and all(
                      isinstance(x, (int, float)) and not isinstance(x, bool)
                      and 0.0 < x <= 100.0 for x in v),
                  "int": isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                  "str": isinstance(v, str)}[kind]
            if not ok:
                what = {"list": "a list of codes", "numbers": "a list of currents in mA (above "
                        "0, at most 100)", "int": "a whole number from 0",
                        "str": "a text"}[kind]
                raise ScenarioError(path, f"expect.{key}.{pid}", f"{show(v)} is not allowed; "
                                    f"allowed: {what}")
    return dict(e)


__all__ = ["Course", "CourseProfile", "EVENT_KEYS", "Visit", "is_course", "load_course",
           "parse_course"]
