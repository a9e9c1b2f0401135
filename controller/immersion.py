"""How much of the hands (or feet) is in the water, from the load alone: the density guard's area.

The load between the trays is the body's share, which does not depend on the immersed area, plus
the skin's share, inversely proportional to it::

    load = R * (b + (1 - b) / f)

with ``R`` the load at full immersion, ``f`` the immersed fraction and ``b`` the body's share
(assumed 0.3, conservatively: the real share is smaller, so the area comes out small). From a
load and ``R`` follows ``f``. The difficulty is ``R``: the skin's resistance falls during a
session (1 to 2 % a minute is common), and with a hand partly out of the water nothing tells a
slow fall of the skin's resistance from the hand slowly going deeper. Taking the lowest load
seen at full immersion as ``R`` for the whole session made the same immersion look deeper
minute by minute and let the current creep up (the random campaign's finding 8,
``docs/safety/campaigns.md``).

:class:`ImmersionEstimate` therefore tells the two apart by their speed, and gives the benefit of
the doubt to the patient. Its state is two loads: ``R`` and the level ``m`` the estimate stands
at; the fraction is ``f(m / R)``.

- A **fall** of the (filtered) load that is not sudden is taken for the skin: ``R`` falls with
  it and the area stays, unless the load falls back to where a rise of the last ``UNDO_S``
  began: then the rise is undone (a hand lifted a little and put back; the skin drifts less than
  the band in that time). Without the undo, every small lift and return would wear the area
  down for good, the fall back being too small to be sudden.
- A **sudden fall** (at least ``IMMERSION_STEP`` below the highest load of the last
  ``IMMERSION_WINDOW_S``: a hand going back in) raises the area by that step only: the state is
  taken as it was at the highest load, before the fall, and moved by the ratio of the fall.
- A **rise** of more than ``LOAD_BAND`` above the level (a hand lifting, or the skin's resistance
  rising) lowers the area at once, by the whole rise: once past the band, the level follows the
  load up to where the rise ends. A rise within the band is noise and moves nothing: without
  the band, noise would ratchet the area down (each wobble's fall taken as drift, each rise as
  a hand lifting).
- A **pause** (the load left the contact range: :meth:`resume`), or a gap in the updates longer
  than ``GAP_S`` (the current below ``MIN_MA``, where the load is too noisy to use: 1 to 8 % at
  0.2 to 1 mA on the simulator, under 0.4 % above 1 mA after the 0.1 s filter), ends with the
  next load compared with the last one before it: a rise is taken whole; of a fall, as much as
  the skin could have drifted in the meantime (``DRIFT_MAX_PER_S``) is taken for the skin.

What no estimate from the load can do, this one included: tell a hand lifting slowly from the
skin's resistance falling at the same time; the two cancel in the load. The band adds to that
blind spot: a slow rise within the band that the skin's drift then takes back is never
credited, and such steps add up (a review: twelve lifts of 1.8 % a minute at a drift of 2 % a
minute, 0.206 mA/cm² at the end). The patient instructions carry that part (hands still, flat
on the bottom of the trays). Short of it, the area is optimistic by at most the band, and the
density guard's margin (``DENSITY_MARGIN``) covers that.

The price on the side of efficacy: a hand that creeps back in slower than ``IMMERSION_STEP`` in
``IMMERSION_WINDOW_S`` (and not to where a recent rise began), the area after a long pause (the
drift allowed for: 5 % of the load after a minute), or a bridge of wet skin between the trays
(it lowers ``R``) leave the area, and the current the density guard allows, reduced for the rest
of the session. At the default limits the guard does not bind at full immersion (hands in DC:
about 26 mA allowed against the site's 20 mA), so this shows only with a lowered density limit
or with a hand partly out. Pure logic, as the rest of :mod:`controller`: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque

#: share of the full-immersion load assumed not to scale with the area
BODY_FRACTION_ASSUMED = 0.3
#: a fall of the filtered load this far below its highest value of the last window is a hand
#: going back in; a 1-2 %/min drift of the skin moves the load 0.1 % in a window
IMMERSION_STEP = 0.05
IMMERSION_WINDOW_S = 3.0
#: rises within this share above the level are noise (five times the filtered noise or more)
LOAD_BAND = 0.02
#: time constant of the load filter (s)
LOAD_TAU_S = 0.1
#: a load that falls back to where a rise began within this time (s) undoes the rise: the hand
#: lifted a little and went back. The skin drifts less than the band in this time.
UNDO_S = 20.0
#: the fastest the skin's resistance is taken to fall (per s: 5 % a minute); across a pause a
#: fall of the load up to this much is taken for the skin
DRIFT_MAX_PER_S = 0.05 / 60.0
#: no update for this long (s: the current below MIN_MA) counts as a pause
GAP_S = 0.5
#: the estimate moves only at currents from this on (mA)
MIN_MA = 1.0


def fraction_of(ratio: float) -> float:
    """The immersed fraction for a load ``ratio`` times the full-immersion load (at most 1)."""
    b = BODY_FRACTION_ASSUMED
    return min(1.0, (1.0 - b) / max(ratio - b, 1e-6))


class ImmersionEstimate:
    """The immersed fraction, following the load's rises at once and its falls only when
    they are sudden (see the module's text). ``bias`` divides every load ratio: the lower
    bound of the measured/true ratio in pulsed DC
    (:func:`controller.session.pulsed_load_bias`), 1 in DC."""

    def __init__(self, bias: float = 1.0):
        self.bias = bias
        self.r_full: float | None = None     # R: the load at full immersion, as inferred
        self.level: float | None = None      # m: the load the estimate stands at
        self._x: float | None = None         # the filtered load
        self._t: float | None = None         # the time of the last update
        self._x_paused: float | None = None  # the filtered load before a pause
        self._rising = False                 # a rise past the band is being followed
        self._peaks: deque[tuple[float, float, float, float]] = deque()  # (t, x, R, m)
        self._rises: list[tuple[float, float, float]] = []  # (t, R, m) before each rise

    @property
    def fraction(self) -> float | None:
        if self.level is None:
            return None
        return fraction_of(self.level / self.r_full / self.bias)

    def resume(self) -> None:
        """After a pause: the next load is a step from the last one before it."""
        if self._x is not None:
            self._x_paused = self._x
        self._x = None
        self._rising = False
        self._peaks.clear()
        self._rises.clear()

    def update(self, t: float, load: float, period: float, r_start: float) -> float:
        """Take this period's load (ohm); ``r_start`` is the full-immersion load found by the
        contact check, used until the estimate has one of its own. Returns the fraction."""
        if self._t is not None and t - self._t > GAP_S:
            self.resume()                           # no update for a while: as a pause
        gap = 0.0 if self._t is None else t - self._t
        self._t = t
        x = self._x
        x = load if x is None else x + (load - x) * min(1.0, period / LOAD_TAU_S)
        if self._x is None and self._x_paused is not None:
            # The step across a pause, whole; of a fall, what the skin could have drifted in
            # the meantime is taken for the skin.
            step = x / self._x_paused
            self.level *= step
            self.r_full *= min(1.0, max(step, 1.0 - min(0.5, DRIFT_MAX_PER_S * gap)))
            self._x_paused = None
        self._x = x
        if self.r_full is None:
            self.r_full = r_start
        peaks = self._peaks
        while peaks and peaks[0][0] < t - IMMERSION_WINDOW_S:
            peaks.popleft()
        rises = self._rises
        while rises and rises[0][0] < t - UNDO_S:
            rises.pop(0)
        m = self.level
        if m is None or x > (1.0 + LOAD_BAND) * m or (self._rising and x >= m):
            if m is not None and not self._rising:
                rises.append((t, self.r_full, m))   # a rise begins: remember the state
            self.level = x                          # a rise is taken at once, whole: once
            self._rising = m is not None            # past the band, to where it ends
        elif peaks and x < (1.0 - IMMERSION_STEP) * peaks[0][1]:
            _, p, r, m_p = peaks[0]                 # a hand going in: the step since the peak
            self.r_full = r
            self.level = m_p * x / p
            self._rising = False
            rises.clear()
        elif x < m:
            while rises and x <= (1.0 + LOAD_BAND) * rises[-1][2]:
                _, self.r_full, m = rises.pop()     # back to where a recent rise began
                self.level = m
            if x < m:
                self.r_full *= x / m                # the skin drifting down: R follows
                self.level = x
            self._rising = False
        if self.level < self.r_full:
            self.r_full = self.level                # never more than full immersion
        while peaks and peaks[-1][1] <= x:
            peaks.pop()
        peaks.append((t, x, self.r_full, self.level))
        return self.fraction
