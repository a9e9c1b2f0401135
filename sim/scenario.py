"""Scenario files (../shared/SCENARIOS.md): reading, validation, and playing the world's part.

A scenario tells a session from the outside: the patient, the prescription the technician set,
and what happens when. This module owns the world's side: the patient, the timeline of events
(the button, the hands, shorts, broken components, console lines) and their playback on a
:class:`~sim.rig.SimRig`. The prescription (``[protocol]``) is validated by the device's own
rules in the composition root (``simtools.simrun``), since the simulator does not know them.

Every problem is a :class:`ScenarioError` naming the file, the key, the bad value and what is
allowed; nothing is simulated from an invalid file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .faults import CATALOGUE, UnknownFault, resolve
from .numbers import BadNumber, number, show

EVENT_KEYS = {
    "press": set(), "hold": {"hold_s"}, "select": {"hold_s"}, "lift": set(), "immerse": set(),
    "partial": {"fraction"}, "short": {"ohm"}, "unshort": set(),
    "fault": {"fault", "params"}, "repair": {"fault"}, "console": {"line"},
    "meter": {"factor"},
}
TOP_KEYS = {"name", "seed", "end_after_s", "protocol", "patient", "event", "expect"}
PROTOCOL_KEYS = {"site", "target_ma", "duration_min", "waveform", "pulse_hz", "pulse_duty",
                 "reverse_polarity", "child", "ramp_ma_s", "area_cm2"}
PATIENT_KEYS = {"load_ohm", "load_drift_per_min", "area_cm2", "in_water", "body_fraction"}
EXPECT_KEYS = {"outcome", "fault_code", "peak_ma_max", "max_step_ma_max",
               "max_density_ma_cm2_max", "safe_after_ms_max", "treatment_s_min",
               "dose_ma_min_min", "pauses_min", "polarity_reversals"}
#: [patient]'s numbers: key, lowest, highest, unit
PATIENT_NUMBERS = (("load_ohm", 50.0, 1e6, "ohm"), ("load_drift_per_min", -0.5, 0.5, "per min"),
                   ("area_cm2", 1.0, 2000.0, "cm2"), ("body_fraction", 0.0, 0.9, ""))
#: the largest figure an [expect] bound may give: above every figure a run of at most the
#: longest scenario (7 days) can produce (6.05e8 ms); a bound beyond it is a typing error
EXPECT_MAX = 1e9
OUTCOMES = ("completed", "stopped", "fault", "not_started", "incomplete")
#: The simulated patient's immersed skin area per electrode at full immersion (cm^2) when
#: ``[patient] area_cm2`` is not given, by site and child: the ground truth the density is
#: judged on. The contract's default, 150 cm^2, holds for adult hands and feet (a smallish
#: adult: the palmar surface of the hand is about 0.87 % of a body surface area of 1.7 m^2, the
#: sole of a foot of 24 x 9 cm about 150 cm^2). A child's hands and feet are smaller: a
#: 7-year-old of about 0.8 m^2, the palmar surface 0.94 % of it (75 cm^2) and a sole of
#: 19 x 7.2 cm (95 cm^2). Axillae: the pad's area. The device's own defaults
#: (``controller.limits.SITE_AREA_CM2``, ``CHILD_AREA_CM2``) are smaller still: its guard must
#: never take more area than a real patient has.
PATIENT_AREA_CM2 = {("hands", False): 150.0, ("feet", False): 150.0, ("axillae", False): 50.0,
                    ("hands", True): 75.0, ("feet", True): 95.0, ("axillae", True): 30.0}


class ScenarioError(ValueError):
    def __init__(self, path, key: str, problem: str):
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(f"{path}: {key}: {problem}")

    def __reduce__(self):  # picklable: campaign workers send it between processes
        return (type(self), (self.path, self.key, self.problem))


@dataclass
class Event:
    at_s: float
    do: str
    args: dict = field(default_factory=dict)


@dataclass
class Scenario:
    path: str
    name: str
    seed: int
    end_after_s: float | None
    protocol: dict
    patient: dict
    events: list[Event]
    expect: dict

    def to_toml(self) -> str:
        """The scenario as a file that replays it exactly."""
        def val(v):
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, str):
                return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if isinstance(v, dict):
                return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
            return repr(v)
        out = [f"name = {val(self.name)}", f"seed = {self.seed}"]
        if self.end_after_s is not None:
            out.append(f"end_after_s = {self.end_after_s!r}")
        for table, values in (("protocol", self.protocol), ("patient", self.patient),
                              ("expect", self.expect)):
            if values:
                out += ["", f"[{table}]"] + [f"{k} = {val(v)}" for k, v in values.items()]
        for ev in self.events:
            out += ["", "[[event]]", f"at_s = {ev.at_s!r}", f"do = {val(ev.do)}"]
            out += [f"{k} = {val(v)}" for k, v in ev.args.items()]
        return "\n".join(out) + "\n"


def read_number(path, key, value, lo=None, hi=None, *, integer=False, low_open=False,
                unit="", note=""):
    """Every numeric key of a scenario file is read through here (:func:`sim.numbers.number`):
    a finite number of the right type within its range, or a ScenarioError naming the key."""
    try:
        return number(value, lo, hi, integer=integer, low_open=low_open, unit=unit, note=note)
    except BadNumber as exc:
        raise ScenarioError(path, key, str(exc)) from None


def _keys(path, where, table, allowed):
    if not isinstance(table, dict):
        raise ScenarioError(path, where, f"must be a table, got {show(table)}")
    for k in table:
        if k not in allowed:
            raise ScenarioError(path, f"{where}.{k}" if where else k,
                                f"unknown key; allowed: {', '.join(sorted(allowed))}")


def read_toml(path: Path) -> dict:
    """A scenario or course file's tables, or a ScenarioError that says what is wrong with the
    file (missing, unreadable, not TOML, an integer Python refuses to read)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(path, "(file)", "not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(path, "(file)", f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "(file)", f"is not valid TOML: {exc}") from None
    except ValueError:
        # Python refuses to read an integer literal of more than 4300 digits
        raise ScenarioError(path, "(file)", "holds an integer of more than 4300 digits; "
                            "allowed: numbers within each key's range") from None


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    return parse_scenario(read_toml(path), path)


def parse_scenario(raw: dict, path: Path | str = "<scenario>") -> Scenario:
    path = Path(path)
    _keys(path, "", raw, TOP_KEYS)
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ScenarioError(path, "name",
                            f"{show(name)} is not allowed; allowed: a non-empty string")
    seed = read_number(path, "seed", raw.get("seed", 0), 0, 2 ** 31, integer=True)
    end = raw.get("end_after_s")
    if end is not None:
        end = read_number(path, "end_after_s", end, 0.0, 7 * 86400.0, low_open=True, unit="s")
    protocol = raw.get("protocol")
    if protocol is None:
        raise ScenarioError(path, "protocol", "missing; the prescription is required")
    _keys(path, "protocol", protocol, PROTOCOL_KEYS)
    for k in ("site", "target_ma", "duration_min"):
        if k not in protocol:
            raise ScenarioError(path, f"protocol.{k}", "missing; this key is required")
    patient = raw.get("patient", {})
    _keys(path, "patient", patient, PATIENT_KEYS)
    site = protocol.get("site")  # validated later, with the prescription: may be anything here
    area = PATIENT_AREA_CM2.get((site, protocol.get("child") is True), 150.0) \
        if isinstance(site, str) else 150.0
    pat = {"load_ohm": 2000.0, "load_drift_per_min": 0.0, "area_cm2": area, "in_water": True}
    pat.update(patient)
    for key, lo, hi, unit in PATIENT_NUMBERS:
        if key in pat:
            pat[key] = read_number(path, f"patient.{key}", pat[key], lo, hi, unit=unit)
    if not isinstance(pat["in_water"], bool):
        raise ScenarioError(path, "patient.in_water", f"{show(pat['in_water'])} is not allowed; "
                            "allowed: true or false")
    events = []
    raw_events = raw.get("event", [])
    if not isinstance(raw_events, list):
        raise ScenarioError(path, "event", "must be an array of tables ([[event]])")
    for i, ev in enumerate(raw_events):
        where = f"event[{i}]"
        if not isinstance(ev, dict):
            raise ScenarioError(path, where, "must be a table")
        do = ev.get("do")
        if not isinstance(do, str) or do not in EVENT_KEYS:
            raise ScenarioError(path, f"{where}.do", f"{show(do)} is not allowed; allowed: "
                                f"{', '.join(EVENT_KEYS)}")
        _keys(path, where, ev, {"at_s", "do"} | EVENT_KEYS[do])
        if "at_s" not in ev:
            raise ScenarioError(path, f"{where}.at_s", "missing; when the event happens (s)")
        at = read_number(path, f"{where}.at_s", ev["at_s"], 0.0, 7 * 86400.0, unit="s")
        args = {k: v for k, v in ev.items() if k not in ("at_s", "do")}
        if do == "hold":
            args["hold_s"] = read_number(path, f"{where}.hold_s", args.get("hold_s", 3.0),
                                         0.0, 600.0, low_open=True, unit="s")
        elif do == "select" and "hold_s" in args:
            args["hold_s"] = read_number(path, f"{where}.hold_s", args["hold_s"], 0.0, 600.0,
                                         low_open=True, unit="s")
        elif do == "partial":
            if "fraction" not in args:
                raise ScenarioError(path, f"{where}.fraction", "missing; allowed: 0..1")
            args["fraction"] = read_number(path, f"{where}.fraction", args["fraction"], 0, 1)
        elif do == "short":
            args["ohm"] = read_number(path, f"{where}.ohm", args.get("ohm", 20.0), 0.0, 1e6,
                                      low_open=True, unit="ohm")
        elif do in ("fault", "repair"):
            fault = args.get("fault")
            if not isinstance(fault, str) or fault not in CATALOGUE:
                raise ScenarioError(path, f"{where}.fault", f"{show(fault)} is not allowed; "
                                    f"allowed: {', '.join(CATALOGUE)}")
            if do == "fault":
                params = args.get("params", {})
                if not isinstance(params, dict):
                    raise ScenarioError(path, f"{where}.params", "must be a table")
                try:
                    args["params"] = resolve(fault, params)
                except UnknownFault as exc:
                    key = f"{where}.params" + (f".{exc.param}" if exc.param else "")
                    raise ScenarioError(path, key, str(exc)) from None
        elif do == "meter":
            args["factor"] = read_number(path, f"{where}.factor", args.get("factor", 1.0),
                                         0.5, 1.5)
        elif do == "console":
            line = args.get("line")
            if not isinstance(line, str):
                raise ScenarioError(path, f"{where}.line", f"{show(line)} is not allowed; "
                                    "allowed: a string")
        events.append(Event(at, do, args))
    events.sort(key=lambda e: e.at_s)
    expect = raw.get("expect", {})
    _keys(path, "expect", expect, EXPECT_KEYS)
    if "outcome" in expect and expect["outcome"] not in OUTCOMES:
        raise ScenarioError(path, "expect.outcome", f"{show(expect['outcome'])} is not allowed; "
                            f"allowed: {', '.join(OUTCOMES)}")
    if "fault_code" in expect and not isinstance(expect["fault_code"], str):
        raise ScenarioError(path, "expect.fault_code", f"{show(expect['fault_code'])} is not "
                            "allowed; allowed: a fault code such as \"R-OC-ABS\"")
    expect = dict(expect)
    for key in sorted(EXPECT_KEYS - {"outcome", "fault_code"}):
        if key in expect:
            expect[key] = read_number(path, f"expect.{key}", expect[key], 0, EXPECT_MAX,
                                      integer=key in ("polarity_reversals", "pauses_min"))
    return Scenario(str(path), name, seed, end, dict(protocol), pat, events, expect)


class Player:
    """Applies a scenario's events to the world at their times. ``console`` lines are handed
    to the callback the composition root gives. ``press`` and ``hold`` are START (held 0.2 s,
    or ``hold_s``), ``select`` is SELECT (held 0.2 s, or ``hold_s``)."""

    def __init__(self, scenario: Scenario, rig, *, type_line=None):
        self.sc = scenario
        self.rig = rig
        self.type_line = type_line
        self.pending = list(scenario.events)
        self._release_at: float | None = None
        self._select_release_at: float | None = None
        self.injected: list[tuple[float, str]] = []   # (time, fault name)
        self.presses = 0

    def tick(self, now: float) -> None:
        if self._release_at is not None and now >= self._release_at:
            self.rig.set_button(False)
            self._release_at = None
        if self._select_release_at is not None and now >= self._select_release_at:
            self.rig.set_select_button(False)
            self._select_release_at = None
        while self.pending and self.pending[0].at_s <= now + 1e-9:
            self.apply(self.pending.pop(0), now)

    def apply(self, ev: Event, now: float) -> None:
        rig, a = self.rig, ev.args
        if ev.do in ("press", "hold"):
            rig.set_button(True)
            self._release_at = now + (a.get("hold_s", 0.2) if ev.do == "hold" else 0.2)
            self.presses += 1
        elif ev.do == "select":
            rig.set_select_button(True)
            self._select_release_at = now + a.get("hold_s", 0.2)
        elif ev.do == "lift":
            rig.lift()
        elif ev.do == "immerse":
            rig.immerse()
        elif ev.do == "partial":
            rig.set_contact(a["fraction"])
        elif ev.do == "short":
            rig.short(a["ohm"])
        elif ev.do == "unshort":
            rig.unshort()
        elif ev.do == "fault":
            rig.inject(a["fault"], **a["params"])
            self.injected.append((now, a["fault"]))
        elif ev.do == "repair":
            rig.repair(a["fault"])
        elif ev.do == "meter":
            rig.meter.factor = a["factor"]
        elif ev.do == "console" and self.type_line is not None:
            line = a["line"]
            if "{meter}" in line:  # what the technician reads off the reference meter
                r = rig.meter.reading
                line = line.replace("{meter}", f"{r:.4f}" if r is not None else "no-reading")
            self.type_line(line)

    @property
    def done(self) -> bool:
        return not self.pending and self._release_at is None and \
            self._select_release_at is None
