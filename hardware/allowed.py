"""The words for what a number may be (``a number from 0.5 to 60 mA``): one wording for every
value the unit and its tools read from a person, the command-line options
(:mod:`firmware.cliargs`) and the scenario and course files (:mod:`sim.numbers`). It lives here,
in the package both may import (the device program on the Pi loads nothing of the simulator,
and the simulator imports nothing of the firmware), so that an option and a scenario key with
the same range say it the same way."""

from __future__ import annotations


def allowed(lo=None, hi=None, *, integer=False, low_open=False, unit="") -> str:
    """What a number check accepts, in words."""
    kind = "a whole number" if integer else "a number"
    unit = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f"{kind} {'above' if low_open else 'from'} {lo} to {hi}{unit}"
    if lo is not None:
        return f"{kind} {'above' if low_open else 'at least'} {lo}{unit}"
    if hi is not None:
        return f"{kind} up to {hi}{unit}"
    return kind
