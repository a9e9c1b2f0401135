"""Fewer rows for a plot, without losing a peak.

A session's trace has a row every 10 ms control period (120,000 for 20 minutes); a plot 1100
pixels wide shows at most a few thousand points. Keeping one row in every N drops what
happens between them, and what happens between them is what a plot of a fault must show: a
shorted sink's 31 mA lasts a period or two before the device cuts it, and a plot thinned to
one row in 50 ms showed a peak of 15 mA under a title that said 31. :class:`PeakThinner`
keeps, in each window, the first row, the rows holding the lowest and the highest value of
each signal, and the first row of every new state, so that every extreme and every state
change of the full trace is in the thinned one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Key = Callable[[tuple], float]


def _value(key: Key, row: tuple) -> float | None:
    try:
        v = float(key(row))
    except (TypeError, ValueError):   # an empty reading ("") or None: not a value
        return None
    return v if math.isfinite(v) else None


class PeakThinner:
    """Rows in, thinned rows out; ``row[0]`` is the time (s) and ``row[state_col]`` the state.

    ``keys`` are the signals whose lowest and highest values in each window are kept."""

    def __init__(self, window_s: float, keys: Sequence[Key], state_col: int | None = 1):
        if not window_s > 0:
            raise ValueError("window_s must be above 0")
        self.window_s = window_s
        self.keys = tuple(keys)
        self.state_col = state_col
        self._buf: list[tuple] = []
        self._out: list[tuple] = []

    def add(self, row: tuple) -> None:
        if self._buf and row[0] - self._buf[0][0] >= self.window_s:
            self._flush()
        self._buf.append(row)

    def _flush(self) -> None:
        buf = self._buf
        if not buf:
            return
        keep = {0}
        for key in self.keys:
            vals = [(v, i) for i, r in enumerate(buf) if (v := _value(key, r)) is not None]
            if vals:
                keep.add(min(vals)[1])
                keep.add(max(vals)[1])
        if self.state_col is not None:
            prev = self._out[-1][self.state_col] if self._out else None
            for i, r in enumerate(buf):
                if r[self.state_col] != prev:
                    keep.add(i)
                prev = r[self.state_col]
        self._out.extend(buf[i] for i in sorted(keep))
        self._buf = []

    def rows(self) -> list[tuple]:
        """The thinned rows so far, the last window's included."""
        self._flush()
        return self._out


def thin(rows: Sequence[tuple], window_s: float, keys: Sequence[Key],
         state_col: int | None = 1) -> list[tuple]:
    """``rows`` through a :class:`PeakThinner`."""
    t = PeakThinner(window_s, keys, state_col)
    for r in rows:
        t.add(r)
    return t.rows()
