"""Fuzzing the loaders of everything a person types or a file holds: scenario files, the device
configuration, the board description, prescriptions and limits (as the console and the
settings files give them), and the settings files themselves.

Each loader must either return a valid object or raise its own error naming the file and the
key (which the command line prints with a hint). Never another exception (a stack trace for
the technician), and never a value that is not a finite number where a number is wanted (NaN
passes every ``lo <= x <= hi`` check by failing it silently the other way).

Inputs: valid seed files mutated line by line (a value replaced by an odd TOML literal, a line
dropped, doubled or garbled), random bytes, and random keyword values of every type. The
examples are derandomized so that CI is reproducible; IONTO_HYPOTHESIS_RANDOM=1 with
IONTO_HYPOTHESIS_EXAMPLES=N explores further.
"""

from __future__ import annotations

import math
import os
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller import Limits, Prescription, PrescriptionError
from firmware import settings as settings_mod
from firmware import store
from firmware.config import ConfigError, load_config
from hardware import BoardConfigError, load_board
from sim.scenario import ScenarioError, load_scenario
from simtools.simrun import prescription_of

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=int(os.environ.get("IONTO_HYPOTHESIS_EXAMPLES", "300")),
                deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=not os.environ.get("IONTO_HYPOTHESIS_RANDOM"))

ODD_LITERALS = ['""', '"x"', "-1", "0", "1e999", "-1e999", "nan", "inf", "-inf", "true",
                "[1, 2]", "{a = 1}", "99999999999999999999", "1.5", "0x10", '"\\u0000"',
                "2026-11-25", "[]", "-0.0", "1e-320", '"hands"', '"dc"', "2" + "0" * 308,
                "-" + "9" * 400]
GARBAGE = ["[", "]]", "= 1", "a = ", "[[event]]", "x = 1\nx = 2", "\x00", "é = 1", "[protocol]",
           'do = "fault"', "[patient]"]


@st.composite
def mutated(draw, seed_text: str) -> str:
    """The seed file with a few random line edits."""
    lines = seed_text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "value", "value", "drop", "double", "garble"]))
        if op == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.sampled_from(ODD_LITERALS))}"
        elif op == "drop":
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        else:
            lines.insert(i, draw(st.sampled_from(GARBAGE)))
    return "\n".join(lines) + "\n"


def _numbers(obj):
    """Every number inside a loaded object (dataclasses, dicts, lists)."""
    if isinstance(obj, bool) or obj is None:
        return
    if isinstance(obj, (int, float)):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _numbers(v)
    elif hasattr(obj, "__dataclass_fields__"):
        for f in fields(obj):
            yield from _numbers(getattr(obj, f.name))


def assert_finite(obj) -> None:
    bad = [x for x in _numbers(obj) if isinstance(x, float) and not math.isfinite(x)]
    assert not bad, f"non-finite numbers accepted: {bad}"


SCENARIO_SEEDS = sorted((ROOT / "scenarios").glob("*.toml"))


def scenario_and_rx(path):
    sc = load_scenario(path)
    return prescription_of(sc), sc.patient, [e.args for e in sc.events]


@pytest.mark.hazard("H-AUTH-1")
@FUZZ
@given(data=st.data(), index=st.integers(0, len(SCENARIO_SEEDS) - 1))
def test_fuzzed_scenario_files_load_or_say_what_is_wrong(tmp_path_factory, data, index):
    text = data.draw(mutated(SCENARIO_SEEDS[index].read_text(encoding="utf-8")))
    path = tmp_path_factory.mktemp("sc") / "fuzzed.toml"
    path.write_text(text, encoding="utf-8")
    try:
        sc = load_scenario(path)
        rx = prescription_of(sc)  # what `ionto sim` checks before it simulates anything
    except ScenarioError as exc:
        assert str(path) in str(exc) and exc.problem
        return
    assert_finite(rx)
    assert_finite([sc.end_after_s, sc.patient, sc.expect, [e.at_s for e in sc.events],
                   [e.args for e in sc.events]])


@pytest.mark.hazard("H-AUTH-1")
@FUZZ
@given(blob=st.binary(max_size=400))
def test_random_bytes_as_scenario_config_or_board_files_are_refused_cleanly(
        tmp_path_factory, blob):
    d = tmp_path_factory.mktemp("bytes")
    path = d / "blob.toml"
    path.write_bytes(blob)
    for load, error in ((scenario_and_rx, ScenarioError), (load_config, ConfigError),
                        (load_board, BoardConfigError)):
        try:
            obj = load(path)
        except error as exc:
            assert "blob.toml" in str(exc)
        else:
            assert_finite(obj)


@pytest.mark.hazard("H-CAL-1", "H-AUTH-1")
@pytest.mark.parametrize("seed_file,load,error", [
    ("firmware/config.default.toml", load_config, ConfigError),
    ("hardware/board.toml", load_board, BoardConfigError),
], ids=["device-configuration", "board-description"])
@FUZZ
@given(data=st.data())
def test_fuzzed_configuration_files_load_or_say_what_is_wrong(tmp_path_factory, data,
                                                             seed_file, load, error):
    seed = (ROOT / seed_file).read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("cfg") / Path(seed_file).name
    path.write_text(data.draw(mutated(seed)), encoding="utf-8")
    try:
        obj = load(path)
    except error as exc:
        assert str(path) in str(exc)
        return
    assert_finite(obj)


ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                      st.sampled_from(["hands", "feet", "axillae", "dc", "pulsed"]),
                      st.lists(st.integers(), max_size=2))
RX_FIELDS = [f.name for f in fields(Prescription)]
LIMIT_FIELDS = [f.name for f in fields(Limits)]


@pytest.mark.hazard("H-AUTH-1", "H-SITE-1", "H-OC-1")
@FUZZ
@given(kw=st.dictionaries(st.sampled_from(RX_FIELDS + ["bogus"]), ANY_VALUE, max_size=6),
       lk=st.dictionaries(st.sampled_from(LIMIT_FIELDS), ANY_VALUE, max_size=3))
def test_fuzzed_prescriptions_and_limits_are_valid_or_refused_with_the_field(kw, lk):
    try:
        limits = Limits(**lk).validated()
    except PrescriptionError as exc:
        assert exc.field.split(".")[0] in LIMIT_FIELDS and exc.allowed
        return
    try:
        rx = Prescription(**kw)
    except TypeError:
        assert "bogus" in kw  # an unknown keyword: the callers (console, settings) report it
        return
    try:
        rx = rx.validated(limits)
    except PrescriptionError as exc:
        assert exc.field in RX_FIELDS and exc.allowed
        return
    assert_finite(rx)
    assert_finite(limits)
    assert 0 < rx.target_ma <= limits.site_limit(rx.site, rx.child)


@pytest.mark.hazard("H-AUTH-1", "H-CAL-1")
@FUZZ
@given(rx=st.dictionaries(st.sampled_from(RX_FIELDS + ["bogus"]), ANY_VALUE, max_size=6),
       lim=st.dictionaries(st.sampled_from(LIMIT_FIELDS + ["bogus"]), ANY_VALUE, max_size=4))
def test_settings_files_with_valid_checksums_but_odd_contents_fall_back_safely(
        tmp_path_factory, rx, lim):
    d = tmp_path_factory.mktemp("settings")
    store.save(settings_mod.rx_path(d), "prescription", rx)
    store.save(settings_mod.limits_path(d), "limits", lim)
    loaded_rx, loaded_limits, problem = settings_mod.load(d)
    assert_finite(loaded_rx)
    assert_finite(loaded_limits)
    assert loaded_rx.target_ma <= loaded_limits.site_limit(loaded_rx.site, loaded_rx.child)
    if problem:
        assert problem.startswith(("limits:", "prescription:"))


# --- every numeric key of a scenario file, one at a time ------------------------------------
#: (table, key, a valid literal, the ScenarioError key): every number a scenario file can hold.
#: A table of "event[i]" puts the key into that event of the base file below.
NUMERIC_SLOTS = [
    (None, "seed", "1", "seed"),
    (None, "end_after_s", "30.0", "end_after_s"),
    ("protocol", "target_ma", "5.0", "protocol.target_ma"),
    ("protocol", "duration_min", "5.0", "protocol.duration_min"),
    ("protocol", "pulse_hz", "5000", "protocol.pulse_hz"),     # a DC prescription: still read
    ("protocol", "pulse_duty", "0.5", "protocol.pulse_duty"),
    ("protocol", "ramp_ma_s", "0.5", "protocol.ramp_ma_s"),
    ("protocol", "area_cm2", "150.0", "protocol.area_cm2"),
    ("patient", "load_ohm", "2000", "patient.load_ohm"),
    ("patient", "load_drift_per_min", "-0.01", "patient.load_drift_per_min"),
    ("patient", "area_cm2", "150", "patient.area_cm2"),
    ("patient", "body_fraction", "0.2", "patient.body_fraction"),
    ("event[0]", "at_s", "1.0", "event[0].at_s"),
    ("event[1]", "hold_s", "3", "event[1].hold_s"),
    ("event[2]", "fraction", "0.5", "event[2].fraction"),
    ("event[3]", "ohm", "20", "event[3].ohm"),
    ("event[4]", "params.volts", "20", "event[4].params.volts"),
    ("event[5]", "params.p", "0.2", "event[5].params.p"),
    ("event[6]", "params.ms", "300", "event[6].params.ms"),
] + [("expect", k, "1", f"expect.{k}") for k in (
    "peak_ma_max", "max_step_ma_max", "max_density_ma_cm2_max", "safe_after_ms_max",
    "treatment_s_min", "dose_ma_min_min", "pauses_min", "polarity_reversals")]
BASE_EVENTS = ['do = "press"', 'do = "hold"', 'do = "partial"', 'do = "short"',
               'do = "fault"\nfault = "hv_sag"', 'do = "fault"\nfault = "adc_glitch"',
               'do = "fault"\nfault = "loop_stall"']
#: what no numeric key may accept: integers beyond a float (309 digits and more), NaN and the
#: infinities, booleans, and values of other types
NEVER_NUMBERS = ["1" + "0" * 308, "2" + "0" * 308, "-" + "9" * 309, "1" + "0" * 400, "nan",
                 "-nan", "inf", "-inf", "true", "false", '"5"', '""', "[1]", "[]", "{a = 1}",
                 "2026-11-25", "07:30:00"]
#: out of range for every numeric key (every one has bounds within these)
OUTSIDE_EVERY_RANGE = ["-1e12", "-1000000000000", "1e12", "1000000000000"]


def scenario_text(slot=None, literal=None) -> str:
    """A valid DC scenario holding every numeric key; ``slot``'s value replaced by ``literal``."""
    values = {(t, k): v for t, k, v, _ in NUMERIC_SLOTS}
    if slot is not None:
        values[slot] = literal

    def lines(table):
        out = []
        params = []
        for (t, k), v in values.items():
            if t != table:
                continue
            if k.startswith("params."):
                params.append(f"{k.split('.', 1)[1]} = {v}")
            else:
                out.append(f"{k} = {v}")
        if params:
            out.append("params = { " + ", ".join(params) + " }")
        return out

    text = lines(None) + ["", "[protocol]", 'site = "hands"', 'waveform = "dc"']
    text += lines("protocol") + ["", "[patient]"] + lines("patient")
    for i, body in enumerate(BASE_EVENTS):
        text += ["", "[[event]]", body] + lines(f"event[{i}]")
        if i:
            text.append(f"at_s = {i + 1}.0")
    text += ["", "[expect]"] + lines("expect")
    return "\n".join(text) + "\n"


def _loaded_value(sc, rx, table, key):
    if table is None:
        return {"seed": sc.seed, "end_after_s": sc.end_after_s}[key]
    if table == "protocol":
        return getattr(rx, key)
    if table == "patient":
        return sc.patient[key]
    if table == "expect":
        return sc.expect[key]
    i = int(table[len("event["):-1])
    ev = next(e for e in sc.events if e.do == BASE_EVENTS[i].split('"')[1]
              and (not key.startswith("params.") or key.split(".", 1)[1] in e.args["params"]))
    return ev.at_s if key == "at_s" else (
        ev.args["params"][key.split(".", 1)[1]] if key.startswith("params.") else ev.args[key])


def test_the_base_file_of_the_numeric_fuzz_is_valid(tmp_path):
    path = tmp_path / "base.toml"
    path.write_text(scenario_text(), encoding="utf-8")
    sc = load_scenario(path)
    rx = prescription_of(sc)
    for table, key, literal, _ in NUMERIC_SLOTS:
        assert _loaded_value(sc, rx, table, key) == float(literal), (table, key)


LITERALS = st.one_of(
    st.sampled_from(NEVER_NUMBERS + OUTSIDE_EVERY_RANGE),
    st.integers(min_value=-10 ** 400, max_value=10 ** 400).map(str),
    st.integers(min_value=-10 ** 7, max_value=10 ** 7).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=-2.0, max_value=20_000.0).map(repr))


@pytest.mark.hazard("H-AUTH-1")
@FUZZ
@given(slot=st.sampled_from(NUMERIC_SLOTS), literal=LITERALS)
def test_every_numeric_key_refuses_what_is_not_an_allowed_number(tmp_path_factory, slot,
                                                                 literal):
    """Each numeric key of a scenario file, whatever the waveform or the event it belongs to,
    goes through one check: a finite number of the right type within its range, or a
    ScenarioError naming that key and showing the bad value shortened."""
    table, key, _, error_key = slot
    path = tmp_path_factory.mktemp("num") / "numbers.toml"
    path.write_text(scenario_text((table, key), literal), encoding="utf-8")
    try:
        sc = load_scenario(path)
        rx = prescription_of(sc)
    except ScenarioError as exc:
        assert exc.key == error_key, (literal, str(exc))
        assert str(path) in str(exc) and "allowed" in exc.problem
        assert len(exc.problem) < 200, exc.problem   # a 400-digit value is not printed whole
        return
    assert literal not in NEVER_NUMBERS + OUTSIDE_EVERY_RANGE, f"{error_key} = {literal} accepted"
    value = _loaded_value(sc, rx, table, key)
    assert isinstance(value, (int, float)) and not isinstance(value, bool)
    assert math.isfinite(value) and value == float(literal)
