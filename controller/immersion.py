"""How much of the hands (or feet) is in the water, from the load alone: the density guard's area.

The load between the trays is the body's share, which does not depend on the immersed area, plus
the skin's share, inversely proportional to it::

    load = R * (b + (1 - b) / f)

with ``R`` the load at full immersion, ``f`` the immersed fraction and ``b`` the share that does
not scale (the body's interior, the water, the electrodes). From a load and ``R`` follows ``f``.

The share ``b`` is not known, and a share taken too small makes the area come out too large: the
estimate is optimistic by ``(1 - b_assumed) / (1 - b)`` as ``f`` goes to 0 (a share of 0.6
taken for 0.3: 75 % more area than is in the water). A share taken too large only makes the
area come out small. So the guard takes the largest share that is physiologically possible for
the load it sees (:func:`body_fraction_bound`): the resistance that does not scale is at most
``BODY_OHM_MAX`` (the body's interior from one hand, or foot, to the other, with the water and
the electrodes), so the share is at most ``BODY_OHM_MAX / R``, never taken below
``BODY_FRACTION_ASSUMED`` and at most ``BODY_FRACTION_MAX``. ``R`` falls as the skin hydrates and
the bound rises with it: the body's part does not hydrate.

The difficulty is ``R``: the skin's resistance falls during a session (1 to 2 % a minute is
common), and with a hand partly out of the water nothing tells a slow fall of the skin's
resistance from the hand slowly going deeper. Taking the lowest load seen at full immersion as
``R`` for the whole session made the same immersion look deeper minute by minute and let the
current creep up (the random campaign's finding 8, ``docs/safety/campaigns.md``).

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
of the session. With the default areas (the smallest real anatomy: ``controller.limits``) the
guard binds at full immersion near the site's maximum (adult hands in DC: 19.8 mA allowed
against the site's 20 mA; feet 23.4 against 25), so this shows there, with a lowered density
limit, or with a hand partly out. Pure logic, as the rest of :mod:`controller`: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque

#: the smallest share of the full-immersion load the guard assumes not to scale with the area
#: (a high load, where the skin's part dominates: 1300 ohm of 8 kohm is 0.16)
BODY_FRACTION_ASSUMED = 0.3
#: the highest resistance between the trays (ohm) that does not scale with the immersed area:
#: the body's interior hand to hand is 575 / 775 / 1050 ohm (5th / 50th / 95th percentile of
#: adults: IEC 60479-1, the total impedance at high touch voltages, where the skin has broken
#: down and the interior is what is left); a quarter more for a child's thinner limbs, a
#: foot-to-foot path, the water in the trays and the electrodes
BODY_OHM_MAX = 1300.0
#: the largest share the guard assumes: the skin's part of the full-immersion load is at least a
#: fifth. Wet skin at the 5th percentile (IEC 60479-1, water-wet, 25 V, large contacts of about
#: 100 cm^2: about 1175 ohm in total, of which 575 interior) leaves about 300 ohm per contact,
#: 270 for a small adult hand (110 cm^2): two hands 540 ohm, and with the largest interior,
#: 1300 ohm, a share of 0.71. A higher share needs a body interior above the 95th percentile and
#: skin below the 5th at once (docs/safety/hazard-analysis.md, residual risk (a)(iv)).
BODY_FRACTION_MAX = 0.8
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


def body_fraction_bound(r_full: float | None, body_ohm_max: float = BODY_OHM_MAX) -> float:
    """The share of a full-immersion load ``r_full`` (ohm) the guard takes as not scaling with
    the area: the largest the body can have, ``body_ohm_max / r_full``, within
    ``BODY_FRACTION_ASSUMED``..``BODY_FRACTION_MAX``. Unknown: the largest."""
    if r_full is None or not r_full > 0.0:
        return BODY_FRACTION_MAX
    return min(BODY_FRACTION_MAX, max(BODY_FRACTION_ASSUMED, body_ohm_max / r_full))


def fraction_of(ratio: float, body_fraction: float = BODY_FRACTION_ASSUMED) -> float:
    """The immersed fraction for a load ``ratio`` times the full-immersion load (at most 1),
    ``body_fraction`` of that load not scaling with the area."""
    b = body_fraction
    return min(1.0, (1.0 - b) / max(ratio - b, 1e-6))


class ImmersionEstimate:
    """The immersed fraction, following the load's rises at once and its falls only when
    they are sudden (see the module's text). ``bias`` divides every load ratio: the lower
    bound of the measured/true ratio in pulsed DC
    (:func:`controller.guards.pulsed_load_bias`), 1 in DC. ``body_ohm_max``: the largest
    resistance that does not scale with the area (:func:`body_fraction_bound`; 0 takes
    ``BODY_FRACTION_ASSUMED`` whatever the load)."""

    def __init__(self, bias: float = 1.0, body_ohm_max: float = BODY_OHM_MAX):
        self.bias = bias
        self.body_ohm_max = body_ohm_max
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
        return fraction_of(self.level / self.r_full / self.bias,
                           body_fraction_bound(self.r_full, self.body_ohm_max))

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
