"""The ``ionto`` command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys


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
