"""``clock``: the real-time clock's time, whether it lost it, and its setting.

The unit's date comes from its battery-backed clock (``hal/rtc.py``); a clock that lost its
time (a flat cell through a power cut) says so here, and whatever plans by the date refuses
with ``CLOCK-LOST`` until the technician sets it: ``clock set 2027-03-01 19:30``, the local
time, to the minute (or the second). The setting is refused while a treatment runs, and recorded
in the audit trail with the time before and after.
"""

from __future__ import annotations

from datetime import datetime

from hal import RtcError

FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
USAGE = "YYYY-MM-DD HH:MM"


def lost_word(reading) -> str:
    """yes (the time cannot be planned by), no, or unknown (the clock could not be read)."""
    if reading.when is None and not reading.lost:
        return "unknown"
    return "yes" if reading.problem else "no"


def reading_lines(reading) -> list[str]:
    when = f"{reading.when:%Y-%m-%d %H:%M:%S}" if reading.when is not None else "-"
    lines = [f"time: {when}", f"lost: {lost_word(reading)}"]
    if reading.problem:
        lines.append(f"problem: {reading.problem}")
    return lines


def audit_value(reading) -> str:
    when = f"{reading.when:%Y-%m-%dT%H:%M:%S}" if reading.when is not None else "-"
    return f"time={when} lost={lost_word(reading)}"


def parse_when(args: list[str]) -> datetime:
    text = " ".join(args)
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"'{text[:32]}' is not a date and time; type it as {USAGE}, "
                     "e.g. clock set 2027-03-01 19:30")


def register(con) -> None:
    p = con.program

    def rtc():
        return p.hw.rtc

    def clock_show(args):
        return reading_lines(rtc().read()), "OK"

    def clock_set(args):
        try:
            when = parse_when(args)
        except ValueError as exc:
            return [], f"ERR VALUE: {exc}; nothing was changed"
        before = rtc().read()
        try:
            rtc().set(when)
        except ValueError as exc:
            return [], f"ERR VALUE: {exc}; nothing was changed"
        except RtcError as exc:
            con.audit("clock set", audit_value(before), audit_value(before),
                      f"the clock could not be set: {exc}")
            return [], (f"ERR CLOCK: the clock could not be set ({exc}); check the clock's "
                        "board and its cable")
        after = rtc().read()
        p.calendar.read()   # the course's dates from the clock as now set
        warn = con.audit("clock set", audit_value(before), audit_value(after))
        return [*reading_lines(after), *([warn] if warn else [])], "OK"

    reg = con.registry
    reg.command("clock", "the real-time clock: its time, and whether it lost it",
                "the date the course is planned by; a clock that lost its time refuses "
                "planning (CLOCK-LOST) until it is set")
    reg.register("clock show", clock_show, default=True,
                 desc="the clock's time and whether it lost it (a flat battery)")
    reg.register("clock set", clock_set, args=USAGE, nargs=(2, 2), idle_only=True,
                 desc="set the clock to the local time, e.g. clock set 2027-03-01 19:30")
