"""The one check every number read from a scenario file goes through.

A TOML file can hold values that break arithmetic far from where they were read: an integer
of 309 digits or more cannot become a float (``float()`` and ``math.isfinite`` raise
OverflowError), NaN fails every ``lo <= x <= hi`` test by answering False both ways, ``inf``
passes an open upper bound, and ``true`` is an ``int`` to Python. :func:`number` refuses all of
them, and values of the wrong type or out of range, with a message that names the bad value
(shortened: a 400-digit integer is not printed whole) and what is allowed. Callers add the file
and the key (:class:`sim.scenario.ScenarioError`, :class:`sim.faults.UnknownFault`).
"""

from __future__ import annotations

import math

from hardware.allowed import allowed

#: longest shown form of a bad value in a message
SHOW_CHARS = 40


class BadNumber(ValueError):
    """A value that is not an allowed number; ``str()`` says what it was and what is allowed."""


def show(value) -> str:
    """``repr(value)``, shortened for a message: a huge integer shows its first digits and its
    length, a long string or table its beginning."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** 24:
        try:
            digits = str(abs(value))
        except ValueError:  # beyond Python's limit for int-to-str conversion
            return f"{'-' if value < 0 else ''}an integer of about " \
                   f"{int(abs(value).bit_length() * math.log10(2)) + 1} digits"
        return f"{'-' if value < 0 else ''}{digits[:12]}... (an integer of {len(digits)} digits)"
    try:
        text = repr(value)
    except ValueError:  # a container holding such an integer
        return f"a {type(value).__name__}"
    if len(text) > SHOW_CHARS:
        text = text[:SHOW_CHARS - 3] + "..."
    return text


def number(value, lo=None, hi=None, *, integer=False, low_open=False, unit="", note=""):
    """``value`` as a finite float (an int with ``integer``) within ``lo``..``hi`` (``lo``
    excluded with ``low_open``), or :class:`BadNumber`.

    The range is tested on the value as read (Python compares an int with a float exactly,
    whatever its size) before any conversion, so a huge integer is simply out of range; with no
    upper bound the conversion to float is what refuses it.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if integer and isinstance(value, float):
        ok = False
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if ok:
        below = lo is not None and (value <= lo if low_open else value < lo)
        ok = not below and (hi is None or value <= hi)
    if ok and not integer:
        try:
            value = float(value)
        except OverflowError:
            ok = False
    if not ok:
        raise BadNumber(f"{show(value)} is not allowed; allowed: "
                        f"{allowed(lo, hi, integer=integer, low_open=low_open, unit=unit)}"
                        f"{note}")
    return value
