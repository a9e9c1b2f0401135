"""The technician's ``clock`` command through a real pseudo-terminal: the real-time clock's time
and whether it lost it, and ``clock set``, which needs a login, is refused during a treatment and
is recorded in the audit trail. The clock is the DS3231 emulator under the real driver."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from test_console import Bench, login

from sim.rig import RTC_START


@pytest.fixture
def bench(tmp_path, board):
    b = Bench(tmp_path, board)
    yield b
    b.close()


def shown(reply: list[str]) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in reply[:-1] if ": " in line)


def clock_rows(b):
    return [r for r in b.prog.log.audit_rows() if r["action"] == "clock set"]


def test_the_clock_needs_a_login_and_shows_its_time(bench):
    assert bench.ask("clock")[-1].startswith("ERR AUTH")
    assert bench.ask("clock set 2027-03-01 19:30")[-1].startswith("ERR AUTH")
    login(bench)
    reply = bench.ask("clock")
    assert reply[-1] == "OK"
    time_shown = datetime.strptime(shown(reply)["time"], "%Y-%m-%d %H:%M:%S")
    # the chip counts the virtual seconds since the rig's power-on (read a moment before now)
    counted = (time_shown - RTC_START).total_seconds()
    assert counted >= 1.0 and 0 <= bench.prog.clock.now() - counted < 1.0
    assert shown(reply)["lost"] == "no" and "problem" not in shown(reply)
    assert bench.ask("help clock")[-1] == "OK"


def test_a_clock_that_lost_its_time_says_so_and_is_set_with_an_audit_row(bench):
    bench.rig.lose_clock_time()  # a power cut on a flat coin cell
    login(bench)
    before = shown(bench.ask("clock"))
    assert before["lost"] == "yes" and before["time"].startswith("2000-01-01 00:00")
    assert before["problem"] == "the clock lost its time: set it with `clock set`"
    reply = bench.ask("clock set 2027-03-01 19:30")
    assert reply[-1] == "OK"
    assert shown(reply) == {"time": "2027-03-01 19:30:00", "lost": "no"}
    assert bench.prog.hw.rtc.trusted_now() == datetime(2027, 3, 1, 19, 30)
    (row,) = clock_rows(bench)
    assert row["old"].startswith("time=2000-01-01T00:00") and row["old"].endswith("lost=yes")
    assert row["new"] == "time=2027-03-01T19:30:00 lost=no"
    assert bench.ask("clock set 2027-03-01 19:31:15")[-1] == "OK"  # seconds may be given
    assert bench.prog.hw.rtc.now() == datetime(2027, 3, 1, 19, 31, 15)


@pytest.mark.parametrize("line,error", [
    ("clock set 2027-02-30 10:00", "ERR VALUE: '2027-02-30 10:00' is not a date and time"),
    ("clock set 1999-12-31 10:00", "ERR VALUE: the clock holds the years 2000 to 2099"),
    ("clock set 2027-03-01 25:00", "ERR VALUE"),
    ("clock set tomorrow", "ERR ARGS: usage: clock set YYYY-MM-DD HH:MM"),
])
def test_a_bad_time_is_refused_and_nothing_changes(bench, line, error):
    login(bench)
    before = bench.prog.hw.rtc.now()
    reply = bench.ask(line)
    assert reply[-1].startswith(error), reply
    assert bench.prog.hw.rtc.now() - before < timedelta(seconds=5)
    assert not clock_rows(bench)


def test_a_clock_that_does_not_answer(bench, board):
    login(bench)
    bench.rig.i2c.absent.add(board.rtc.address)
    reply = shown(bench.ask("clock"))
    assert reply["time"] == "-" and reply["lost"] == "unknown"
    assert "cannot be read" in reply["problem"] and "0x68" in reply["problem"]
    assert bench.ask("clock set 2027-03-01 19:30")[-1].startswith("ERR CLOCK")
    (row,) = clock_rows(bench)
    assert "could not be set" in row["detail"] and row["old"] == row["new"]
    assert bench.prog.controller.state == "IDLE"  # the unit itself carries on


def test_the_clock_is_not_set_during_a_treatment(bench):
    login(bench)
    bench.prog.controller.press(bench.prog.clock.now())
    bench.run(4.0)
    assert bench.prog.controller.state in ("RAMP_UP", "TREAT")
    assert bench.ask("clock set 2027-03-01 19:30")[-1].startswith("ERR BUSY")
    assert bench.ask("clock")[-1] == "OK"
    assert not clock_rows(bench)
