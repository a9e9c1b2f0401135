"""The ``ionto`` command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def ionto(*args):
    return subprocess.run([sys.executable, "-m", "firmware.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_help_lists_the_commands():
    r = ionto("--help")
    assert r.returncode == 0
    assert "hw-demo" in r.stdout


def test_hw_demo_shows_the_adc_against_the_true_current():
    r = ionto("hw-demo", "--load", "2000")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()
            if line[:11].strip().replace(".", "").isdigit()]
    by_setpoint = {float(row[0]): row for row in rows}
    assert abs(float(by_setpoint[10.0][1]) - 10.0) < 0.05   # ADC channel A
    assert abs(float(by_setpoint[10.0][5]) - 10.0) < 0.01   # true current
    assert "compliance limit" in r.stdout  # 30 mA through 2 kOhm exceeds 58 V
    assert "safe state" in r.stdout


def test_bad_hardware_file_is_a_named_error_not_a_traceback(tmp_path):
    bad = tmp_path / "board.toml"
    bad.write_text("[board]\nname = 'x'\n")
    r = ionto("--board", str(bad), "hw-demo")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "missing" in r.stderr


SCENARIO = ('seed = {seed}\n[protocol]\nsite = "hands"\ntarget_ma = 5.0\nduration_min = 5.0\n'
            'waveform = "dc"\n{protocol}\n[patient]\nload_ohm = {load}\n[[event]]\n'
            'at_s = {at}\ndo = "hold"\nhold_s = {hold}\n')
GOOD = {"seed": "1", "protocol": "", "load": "2000", "at": "1.0", "hold": "3"}


@pytest.mark.hazard("H-AUTH-1")
@pytest.mark.parametrize("change,key,shown", [
    ({"seed": "9" * 309}, "seed", "999999999999... (an integer of 309 digits)"),
    ({"load": "1" + "0" * 400}, "patient.load_ohm", "(an integer of 401 digits)"),
    ({"at": "-" + "9" * 320}, "event[0].at_s", "(an integer of 320 digits)"),
    ({"hold": "2" + "0" * 308}, "event[0].hold_s", "(an integer of 309 digits)"),
    ({"protocol": "pulse_hz = \"fast\""}, "protocol.pulse_hz", "'fast'"),
    ({"protocol": "pulse_duty = 5"}, "protocol.pulse_duty", "5 is not allowed"),
    ({"protocol": "pulse_duty = true"}, "protocol.pulse_duty", "True is not allowed"),
    ({"protocol": "pulse_hz = nan"}, "protocol.pulse_hz", "nan is not allowed"),
    ({"load": "inf"}, "patient.load_ohm", "inf is not allowed"),
    ({"seed": "7" * 5000}, "(file)", "more than 4300 digits"),
], ids=["seed-309-digits", "load-401-digits", "at-320-digits", "hold-2e308", "dc-pulse-hz-text",
        "dc-pulse-duty-5", "dc-pulse-duty-bool", "dc-pulse-hz-nan", "load-inf", "seed-5000-digits"])
def test_a_bad_number_in_a_scenario_is_exit_2_with_the_key_not_a_traceback(tmp_path, change,
                                                                          key, shown):
    path = tmp_path / "bad.toml"
    path.write_text(SCENARIO.format(**{**GOOD, **change}), encoding="utf-8")
    out = tmp_path / "out"
    r = ionto("sim", str(path), "--out", str(out), "--quiet")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"{path}: {key}: " in r.stderr and shown in r.stderr and "allowed" in r.stderr
    assert len(r.stderr) < 400   # the value shortened, one line
    assert not out.exists()      # nothing was simulated


def test_the_good_version_of_that_scenario_is_valid(tmp_path):
    from sim.scenario import load_scenario
    from simtools.simrun import prescription_of
    path = tmp_path / "good.toml"
    path.write_text(SCENARIO.format(**GOOD), encoding="utf-8")
    assert prescription_of(load_scenario(path)).waveform == "dc"
