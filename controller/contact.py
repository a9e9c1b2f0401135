"""What is between the trays: a patient, a path through water alone, or both side by side.

Two hazards that the load's size alone does not show (``docs/safety/hazard-analysis.md``,
H-SHUNT-1 and H-BRIDGE-1):

- a **shunt**: a resistive path in parallel with the patient (water spilled between the trays,
  a wet towel, the trays touching), too high to be a short (R-SHORT: below 300 ohm). The sink is
  a current source: it delivers a fixed total, split between the patient and the shunt in the
  inverse ratio of their resistances, and the split is invisible to the controller except
  through the load estimate V/I. When the shunt goes (the towel is taken away), the total is
  unchanged and the patient's share jumps from ``I * R_sh / (R_sh + R_p)`` to ``I`` within a
  period: at 15 mA, a 2 kOhm patient and a 500 ohm shunt, from 3 to 15 mA. Nothing the
  controller does after the removal can undo that step; the only protection is never to drive
  a total whose removal would be one, as long as a shunt may be there.
- a **bridge** without a patient: the hands out of the water and a film of water (3-5 kOhm)
  across the trays; the load is in the contact range, and a device that trusts the load ramps to
  the target into the water and then steps the current into the hands as they go in.

:class:`ShuntGuard` watches the load during treatment (fast falls at currents from
``FAST_MIN_MA``, 0.4 mA: below it, even a path that takes the whole current steps the patient's
by less than ``STEP_MAX_MA`` when it goes; on a rise of the current the fall must exceed the lag
a skin's capacitance can give the load, ``TAU_MAX_S`` times the current's relative rate).
A fall of the load (filtered: ``X_GAIN``) by more than
``SHUNT_FALL`` within ``FALL_WINDOW_S`` (no skin drifts that fast: :mod:`.immersion` credits the
skin with 5 % a minute at most) to below the lowest load seen this session (less that drift
since) is what a new path in parallel does. A hand going deeper cannot explain it either, as
long as the hands were fully in the water at the contact check (the patient instructions: hands
flat on the bottom of the trays before START); from then on the lowest load seen is the load at
full immersion (the density guard takes it so, :mod:`.immersion`), and no immersion is deeper than
full. (A hand going back in after a lift returns the load to where it was, not below: that is
not a shunt.) The guard then:

- pauses (the output drops to the 0.2 mA probe; a fall of the current never shocks) and tells
  the patient: ``SHUNT``, "water between the trays? dry the unit and the outside of the trays";
- estimates the shunt from the two loads, ``R_sh = 1 / (1/L_after - 1/L_before)`` (``L_before``
  the highest load of the window, ``L_after`` refined from the settled level, the lowest
  estimate kept: the lower, the smaller the cap), so that the share of the current that passes
  through it is ``L / R_sh`` at any later load ``L``;
- when contact is checked again and the ramp resumes, caps the total so that removing the shunt
  cannot step the patient's current by more than ``STEP_MAX_MA``:
  ``cap = STEP_MAX_MA * R_sh / L`` (the share of the shunt, times the cap, is the step);
- takes the shunt as gone when the load (filtered) has risen most of the way (70 %) to what
  the patient alone gives, ``1 / (1/L - 1/R_sh)``, for ``CLEAR_SAMPLES``, or the circuit has
  been open as long (nothing conducts between the trays, so no shunt either); then the cap is
  lifted and the current ramps to the target at the prescribed rate (a bounded rise, like every
  ramp).

A path that comes where no fall is seen (during a pause or its contact check, on the ramp
from the probe, at a current under ``FAST_MIN_MA``, with a hand out of the water at the time) is
judged against the same lowest load: the contact check's steady load (the skin test's cycle, no
lag) ``PROBE_FALL`` below it, or a load from ``SHUNT_MIN_MA`` on ``SHUNT_FALL`` below it (with the
lag allowance), is a path. What the patient's load was when it came is unknown (the hands may
have been out), so the whole load is taken as the path: the cap is ``STEP_MAX_MA`` whatever the
split, until the load is back at the lowest the hands gave (the path has gone) or the circuit
opens. The price: the current is held at 0.4 mA while such a path is there, where a known split
would allow more.

A fall while the two current channels disagree (beyond ``AGREE``) is not judged: a channel
reading high makes the load look low, and that is a sensing fault for R-OC-REL and R-CH-AGREE to
latch; a pause here would hide it.

The loads the guard counts as shunted never become the density guard's reference for full
immersion (:meth:`ShuntGuard.excluded`): taken as such, the load's return when the shunt goes
looked like both hands lifted most of the way out, and the current was cut to a quarter for the
rest of the session.

:class:`SkinTest` runs at the contact probe and asks whether the path is skin at all. Skin is a
resistance in parallel with a capacitance (the stratum corneum, 0.02 to 0.1 uF/cm^2 in the
literature; the simulator uses 0.05); water is a resistance. When the probe current steps, a
patient's electrode voltage follows with the skin's time constant, a resistor's at once. The
test switches the probe off for one period every ``CYCLE_PERIODS`` and reads the electrode
voltage in the first sample after the off step (the *residue*: what the skin capacitance still
holds) and the load in the first sample after the on step (the *deficit*: how far it is below
the steady load). The command is written after the period's sample, 4.65 ms into the 10 ms
period (four conversions at 860 SPS); in the two samples after the steps the front end converts
the electrode channel first (``Command.electrode_first``, ``hal/afe.py``), so the electrode
voltage's conversion ends 6.5 ms after the step (the usual order, with it third of four, ended
at 8.8 ms), and what is seen of the skin's share ``a`` (80 % of the load in the simulator) is
``a * exp(-6.6 ms / tau)`` with ``tau = a * load * c * area / 2``. For a resistor both are zero
up to the noise. Where a patient's skin would show a signature of at least ``JUDGE_MIN`` (by that
formula, with the skin capacitance at ``SKIN_UF_CM2_MIN``, the skin's share at ``SKIN_SHARE_MIN``
and the site's electrode area), a signature below ``SIGNATURE_MIN`` is a resistive path and
the device does not start: ``BRIDGE``. Where a patient would not show one (low loads: a short
time constant has decayed by the time of the sample), the test cannot tell and says so
(``unknown``); the contact check goes on as before.

What the test cannot see, and why: a shunt beside a patient. Both are one resistance behind a
capacitance as seen from the trays, and one point of the step response (one sample per period,
8 ms after the step) cannot tell a patient of load ``L`` from a patient of higher load beside a
shunt (2 kOhm beside a 1 kOhm towel shows more signature than a 667 ohm patient alone). Two
points of the response would (the residue after an off of one period and after one of two,
giving ``tau`` and ``a``), but at the 0.2 mA probe and the loads where shunts matter the residue
is a count or two of the ADC; a faster sample after the step (the electrode channel read first,
or twice) is a change to the front end. A shunt that is there before the hands go in is seen
(a bridge, then a fall of the load as the hands go in: its estimate stays); one put there with
the hands already in, before START, is not: residual risk, ``docs/safety/hazard-analysis.md``.

Pure logic, as the rest of :mod:`controller`: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import deque

from .immersion import DRIFT_MAX_PER_S
from .states import State
from .values import CONTACT_OHM


def contact_state(ctx) -> str:
    """ok | open | short | unknown, from the load estimate at the probe current (``ctx``: the
    period's :class:`~controller.rules.RuleContext`)."""
    if ctx.i_max is None:
        return "unknown"
    if ctx.load_ohm is None:
        return "open" if ctx.i_max < 0.05 else "unknown"
    if ctx.load_ohm < CONTACT_OHM[0]:
        return "short"
    if ctx.load_ohm > CONTACT_OHM[1]:
        return "open"
    return "ok"


#: a load this share below the drift-allowed envelope of the lowest load seen is a new path in
#: parallel; the load estimate's noise at 1 mA and above is under 0.5 % a sample
SHUNT_FALL = 0.04
#: the two current channels agree within this share (and 0.05 mA) for a fall to be the load's
AGREE = 0.02
#: the guard judges a load against the lowest one seen (after a pause, a contact check, a time
#: below FAST_MIN_MA) at currents from this on (mA): the first ramp's loads, which set that
#: lowest load, were read on the same ramp, so their lag (below) is the same
SHUNT_MIN_MA = 1.0
#: the guard judges fast falls from this current on (mA). Below it, a path that takes the whole
#: current steps the patient's by less than STEP_MAX_MA when it goes: nothing to guard against
FAST_MIN_MA = 0.4
#: the longest time constant of a patient's skin (s): the load reads low while the current
#: rises, by up to TAU_MAX_S * (dI/dt) / I (0.8 x 10 kohm x 6 uF = 48 ms for feet in the model)
TAU_MAX_S = 0.05
#: the rate of the current is taken over this window (s), and its highest over LAG_HOLD_S
#: counts: the lag lasts a few time constants after the rise stops
LAG_HOLD_S = 0.25
#: at the contact probe (a pause), the cycle's steady load this share below the lowest load of
#: the session is a path beside the patient (the probe's noise: 0.7 % a count of the ADC)
PROBE_FALL = 0.08
#: the fall must be seen in this many consecutive samples
SHUNT_SAMPLES = 2
#: the fall must happen within this time (s): a fall this fast is no skin's drift
FALL_WINDOW_S = 1.0
#: the load's filter for the guard, per sample (a time constant of about 40 ms)
X_GAIN = 0.2
#: the largest step of the patient's current that removing the estimated shunt may cause (mA);
#: under the 0.5 mA bound of the anti-shock guard, with the regulator's headroom in hand
STEP_MAX_MA = 0.4
#: the shunt is taken as gone when the load reaches this share of the patient-alone load
CLEAR_TOL = 0.1
#: the load must stay at the patient's alone for this many samples for the shunt to be gone
CLEAR_SAMPLES = 20
#: a load outside that band for this many samples is the new level while a shunt is known
AWAY_SAMPLES = 50
#: the loads of the contact range (ohm): as controller.session.CONTACT_OHM
CONTACT_RANGE = CONTACT_OHM

#: skin test: one probe-off period every this many periods (the first settle the skin)
CYCLE_PERIODS = 20
#: the verdict needs this many cycles at a steady load
TEST_CYCLES = 4
#: a cycle's steady load may differ from the first one's by this share (else the test restarts)
STEADY_TOL = 0.1
#: time from the probe step to the end of the electrode voltage's conversion (s): 10 ms - 4.65
#: + 1.16 (the electrode channel converted first in the step samples); see the text
STEP_TO_SAMPLE_S = 0.0066
#: the least specific skin capacitance assumed (uF/cm^2): the low end of the literature
SKIN_UF_CM2_MIN = 0.02
#: the least share of a patient's load that is skin (the rest is the body and the water)
SKIN_SHARE_MIN = 0.65
#: a patient's skin would show at least this signature: the test judges
JUDGE_MIN = 0.06
#: a signature below this is a resistive path (a resistor's is 0 up to a count of noise)
SIGNATURE_MIN = 0.025
#: where the test cannot judge, a load from this on may be a film of water alone (3 to 5 kOhm
#: across the trays, with a margin): the start of the treatment is held (:meth:`SkinTest.hold_ma`)
HOLD_MIN_OHM = 2500.0
#: how long the hold lasts from the start of the first ramp (s)
HOLD_S = 20.0
#: a fall of the load by this share below the verdict's load during the hold is hands going in
#: beside a path (no skin drifts 10 % in 20 s; a hand going deeper cannot go below full
#: immersion, which the contact check's load is, as for the shunt guard)
HOLD_FALL = 0.1
#: the least load of a patient (ohm), the contact range's floor: the bridge's largest share
HOLD_PATIENT_MIN_OHM = 300.0


def expected_signature(load_ohm: float, area_cm2: float, *,
                       skin_uf_cm2: float = SKIN_UF_CM2_MIN,
                       skin_share: float = SKIN_SHARE_MIN) -> float:
    """The least signature a patient of ``load_ohm`` would show (see the module's text)."""
    c = skin_uf_cm2 * 1e-6 * area_cm2 / 2.0      # two electrode areas in series
    tau = skin_share * load_ohm * c
    if tau <= 0.0:
        return 0.0
    return skin_share * math.exp(-STEP_TO_SAMPLE_S / tau)


class SkinTest:
    """The contact probe's step response: skin or a resistive path (see the module's text).

    Each period :meth:`observe` takes the period's measurements and returns the probe current
    to command (the probe, or 0 for the one off period of a cycle). :attr:`verdict` is
    ``None`` while the test runs, then ``"skin"``, ``"resistive"`` or ``"unknown"`` (a patient
    of this load would show no signature at this sampling: the test cannot tell).
    """

    def __init__(self, area_cm2: float):
        self.area_cm2 = area_cm2
        self.reset()
        self._hold_t0: float | None = None  # the hold's start (None: not begun)
        self._hold_load: float | None = None
        self._hold_done = False
        self._hold_below = 0
        #: the load (ohm) of the path the hold found water alone on: the hands went in beside it
        self.found_bridge: float | None = None

    def hold_ma(self, now: float, load: float | None) -> float | None:
        """The highest total current (mA) while the treatment's start is held, else ``None``.

        Where the test could not judge (``unknown``) at a load from ``HOLD_MIN_OHM`` on, the
        path may be a film of water with the hands still out: for ``HOLD_S`` from the first
        ramp the total is held at ``STEP_MAX_MA * (L + R_min) / L`` (``L`` the verdict's load,
        ``R_min`` the least patient), so that hands going in beside the film take at most
        ``STEP_MAX_MA`` of it: the film's share of the hands' current is at most
        ``L / (L + R_min)``. A fall of the load below the verdict's by ``HOLD_FALL`` within the
        hold is the hands going in beside a path: :attr:`found_bridge` is set to the path's
        load (the whole load before the fall), for the shunt guard to hold the current so that
        the path's removal is no step either (:meth:`ShuntGuard.set_bridge`). Once per session:
        the hold begins at the first ramp only (a bridge set up during a pause is a residual
        risk, ``docs/safety/hazard-analysis.md``, H-BRIDGE-1)."""
        if self._hold_done:
            return None
        if self._hold_t0 is None:
            if self.verdict != "unknown" or self.load is None or self.load < HOLD_MIN_OHM:
                self._hold_done = True
                return None
            self._hold_t0, self._hold_load = now, self.load
        if now - self._hold_t0 >= HOLD_S:
            self._hold_done = True
            return None
        lv = self._hold_load
        if load is not None and CONTACT_RANGE[0] <= load < (1.0 - HOLD_FALL) * lv:
            self._hold_below += 1
            if self._hold_below >= SHUNT_SAMPLES:
                self.found_bridge = lv
                self._hold_done = True
                return None
        else:
            self._hold_below = 0
        return STEP_MAX_MA * (lv + HOLD_PATIENT_MIN_OHM) / lv

    def reset(self) -> None:
        self.verdict: str | None = None
        self.signature: float | None = None
        self.load: float | None = None
        self._n = 0                     # on-periods since the last off period
        self._phase = "on"              # on | off (the sample of the off step comes next)
        self._v_ss: list[float] = []    # the last steady voltages and loads
        self._r_ss: list[float] = []
        self._res: list[float] = []     # per cycle: residue, deficit
        self._def: list[float] = []
        self._r0: float | None = None   # the first cycle's steady load
        self._pending_on = False        # the next sample shows the on step
        self.cycle_load: float | None = None  # the last cycle's steady load (ohm)
        self.cycles = 0                 # cycles since the reset

    @property
    def off_sample(self) -> bool:
        """The coming sample is the off step's: no probe current flows, on purpose."""
        return self._phase == "off"

    @property
    def step_sample(self) -> bool:
        """The coming sample is one of the pattern's steps (off, or on again): its load is not
        the steady one."""
        return self._phase == "off" or self._pending_on

    def observe(self, ok: bool, v: float | None, load: float | None, probe_ma: float) -> float:
        """One period at the probe. ``ok``: the contact check sees a load in the contact range
        (or this is the off step's sample, which shows none); ``v``: the electrode voltage (V,
        unsigned); ``load``: V/I (ohm) or ``None``. Returns the probe current to command."""
        if self._phase == "off":
            # This sample is the off step's: the skin capacitance's residue over the steady V.
            self._phase = "on"
            self._pending_on = True
            if v is not None and self._v_ss:
                self._res.append(v / (sum(self._v_ss) / len(self._v_ss)))
            return probe_ma
        if not ok or load is None or v is None:
            self.reset()
            return probe_ma
        if self._pending_on:
            # The on step's sample: its load below the steady one (the skin charging).
            self._pending_on = False
            self._n = 0
            if self._r_ss and len(self._def) < len(self._res):
                self._def.append(max(0.0, 1.0 - load / (sum(self._r_ss) / len(self._r_ss))))
            return probe_ma
        self._n += 1
        if self._n > CYCLE_PERIODS - 5:
            self._v_ss.append(v)
            self._r_ss.append(load)
            del self._v_ss[:-4], self._r_ss[:-4]
        if self._n < CYCLE_PERIODS:
            return probe_ma
        r = sum(self._r_ss) / len(self._r_ss)
        self.cycle_load = r
        self.cycles += 1
        if self._r0 is None:
            self._r0 = r
        elif abs(r / self._r0 - 1.0) > STEADY_TOL:
            self.reset()                 # the load moved (a hand going in): start again
            return probe_ma
        if len(self._def) >= TEST_CYCLES:
            self._judge(r)
        self._phase = "off"
        return 0.0

    def _judge(self, load: float) -> None:
        sig = (sum(self._res) + sum(self._def)) / (len(self._res) + len(self._def))
        self.signature, self.load = sig, load
        if expected_signature(load, self.area_cm2) < JUDGE_MIN:
            self.verdict = "unknown"
        else:
            self.verdict = "skin" if sig >= SIGNATURE_MIN else "resistive"
        # Keep testing: the verdict stands for the load it was found at.
        self._res.clear()
        self._def.clear()


class ShuntGuard:
    """A resistive path beside the patient, from the load's history (see the module's text)."""

    def __init__(self):
        self.r_shunt: float | None = None   # the estimated shunt (ohm), None: none known
        self.detected = False               # a fall was seen this period: pause
        self.cleared = False                # the shunt went this period
        self._env: float | None = None      # the drift-allowed envelope of the lowest load
        self._t: float | None = None
        self._below = 0                     # consecutive samples below the envelope
        self._level: float | None = None    # the load while shunted
        self._up = 0                        # consecutive samples at the patient-alone load
        self._away = 0                      # consecutive samples outside the level's band
        self._y: float | None = None        # the load, filtered for the clearing
        self._open = 0                      # consecutive samples of an open circuit
        self._hist: deque[tuple[float, float, float | None]] = deque()  # (t, x, envelope)
        # the window's highest x, kept as it goes (a decreasing run of (t, x) of _hist's): the
        # max of the window in one look instead of a scan of its hundred samples each period
        self._top: deque[tuple[float, float]] = deque()
        self._x: float | None = None        # the load, filtered (X_GAIN a sample)
        self._before = math.inf             # the load before the fall
        self._excluded = False
        self._ihist: deque[tuple[float, float]] = deque()   # (t, current) for the lag
        self._lags: deque[tuple[float, float]] = deque()    # (t, lag), falling: see _lag

    @property
    def excluded(self) -> bool:
        """This period's load must not serve as the reference for full immersion."""
        return self._excluded or self.r_shunt is not None

    def shunt_share(self, load: float | None) -> float | None:
        """The share of the current that passes through the estimated shunt at ``load``."""
        if self.r_shunt is None or load is None:
            return None
        return min(1.0, load / self.r_shunt)

    def cap_ma(self, load: float | None) -> float | None:
        """The highest total current whose shunt share may be removed without a step (mA):
        ``None`` with no shunt known, ``0`` while the load is unknown."""
        if self.r_shunt is None:
            return None
        share = self.shunt_share(load)
        return 0.0 if share is None else STEP_MAX_MA / max(share, 1e-6)

    def alone_ohm(self) -> float:
        """The load the patient alone gives, from the shunted load and the shunt (inf: none)."""
        lv, r = self._level, self.r_shunt
        if lv is None or r is None or lv >= 0.99 * r:
            return math.inf
        return 1.0 / (1.0 / lv - 1.0 / r)

    def carry(self, load: float) -> None:
        """Start the envelope at ``load``: the lowest full-immersion load of a session that
        ended moments ago (``controller.session.CARRY_REF_S``). A hand that was partly out at
        this session's contact check and goes back in then falls to that load, not below it,
        and is no shunt; as within one session, a shunt that brings the load of a hand partly
        out no lower than full immersion's is not seen (hazard analysis, H-SHUNT-1)."""
        self._env = load if self._env is None else min(self._env, load)

    def set_bridge(self, load: float) -> None:
        """The skin test found a resistive path of ``load`` (ohm) with no patient on it."""
        self._before = math.inf          # no patient before it: the path is the whole load
        self.r_shunt = load if self.r_shunt is None else min(self.r_shunt, load)
        self._level = self.r_shunt
        self._up = 0

    def observe(self, now: float, load: float | None, i_ma: float | None,
                is_open: bool = False, trusted: bool = True) -> None:
        """One period's load (ohm) at the measured current ``i_ma`` (mA), in any session state
        with the output connected and current intended; ``is_open``: the contact check sees an
        open circuit (R-OPEN's condition); ``trusted``: the two current channels agree (within
        ``AGREE``), so a fall of the load is one of the load, not of a sensor. Sets
        :attr:`detected` in the period a shunt appears and :attr:`cleared` in the one it
        goes."""
        if not self._judged(now, load, i_ma, is_open, trusted):
            return
        lag = self._lag(now, i_ma)
        x = load if self._x is None else self._x + (load - self._x) * X_GAIN
        self._x = x
        low_now = min(x, load)
        hist = self._hist
        tops = self._top
        old = now - FALL_WINDOW_S
        while hist and hist[0][0] < old:
            hist.popleft()
        while tops and tops[0][0] < old:
            tops.popleft()
        env = self._env
        if hist:
            top = tops[0][1]   # max(x for _, x, _ in hist)
            env_old = hist[0][2]
            fast = low_now < (1.0 - SHUNT_FALL - lag) * top
            low = env_old is None or low_now < (1.0 - SHUNT_FALL / 2) * env_old
            if fast and low:
                self._excluded = True       # suspect already: no reference for the area
                if x < (1.0 - SHUNT_FALL - lag) * top:
                    self._below += 1
                if self._below >= SHUNT_SAMPLES:
                    # The load before the fall is taken as the highest of the window: the
                    # higher it is taken, the lower the shunt comes out, and the smaller the
                    # cap (the safe side). It is refined from the settled level later.
                    self._found(low_now, top)
                return
        if env is not None and i_ma >= SHUNT_MIN_MA and \
                low_now < (1.0 - SHUNT_FALL - lag) * env:
            # Below the lowest load seen, with no fall in the window: the path came while the
            # guard did not judge (a pause, its contact check, the ramp's first part, a current
            # held low), or crept in. What the patient's load was when it came is unknown (a
            # hand may have been out of the water): the whole load is taken as the path, and
            # the cap is STEP_MAX_MA, whatever the split.
            self._excluded = True
            if x < (1.0 - SHUNT_FALL - lag) * env:
                self._below += 1
            if self._below >= SHUNT_SAMPLES:
                self._found(low_now, math.inf)
            return
        self._below = 0
        if i_ma >= SHUNT_MIN_MA and lag < 1.0:
            # The lowest load is taken from SHUNT_MIN_MA on, as the loads after a pause are
            # judged against it: on a ramp a skin's load reads low by its lag, most at the
            # lowest currents, and a lowest load taken there would blunt the guard.
            self._env = x if env is None else min(env, x)
        hist.append((now, x, self._env))
        while tops and tops[-1][1] <= x:
            tops.pop()
        tops.append((now, x))

    def _judged(self, now: float, load: float | None, i_ma: float | None, is_open: bool,
                trusted: bool) -> bool:
        """The first part of :meth:`observe`: the period's bookkeeping, and whether this load
        is one the fall and envelope tests below judge (an open circuit, no load, a short, a
        path already found, untrusted channels or a current under FAST_MIN_MA are not)."""
        self.detected = self.cleared = False
        self._excluded = False
        dt = 0.0 if self._t is None else max(0.0, now - self._t)
        self._t = now
        if self._env is not None:
            self._env *= 1.0 - DRIFT_MAX_PER_S * dt
        if is_open:
            # Nothing conducts between the trays: no shunt either. For CLEAR_SAMPLES in a row:
            # after the current falls, the skin capacitance's voltage over the small current
            # reads as an open circuit for a few periods.
            self._below = 0
            self._open += 1
            if self._open >= CLEAR_SAMPLES:
                self._clear(None)
            return False
        self._open = 0
        if load is None:
            self._below = 0
            return False
        if load < CONTACT_RANGE[0]:
            self._below = 0
            return False                 # a short: R-SHORT's
        if self.r_shunt is not None:
            self._follow(load)
            return False
        if self._env is not None and load < (1.0 - SHUNT_FALL) * self._env:
            # Below the lowest load seen, at any current: no reference for the area until it is
            # judged (a path that came under FAST_MIN_MA, taken as full immersion, cut the
            # current to a third when it went).
            self._excluded = True
        if not trusted:
            # A channel reading high makes the load look low: that is R-CH-AGREE's and
            # R-OC-REL's (a sensing fault faults; a pause here would hide it).
            self._below = 0
            return False
        if i_ma is None or i_ma < FAST_MIN_MA:
            # Below FAST_MIN_MA even a path that takes the whole current steps the patient's by
            # less than STEP_MAX_MA when it goes. What appears meanwhile is judged against the
            # lowest load seen once the current is back up (below).
            self._below = 0
            self._hist.clear()
            self._top.clear()
            self._x = None
            self._ihist.clear()
            self._lags.clear()
            return False
        return True

    def _lag(self, now: float, i_ma: float) -> float:
        """The share by which a patient's load may read low now, the current rising: the
        skin's capacitance charges behind it (``TAU_MAX_S`` times the current's relative rate,
        the rate taken over ``TAU_MAX_S``: it builds up no faster than the lag does), held
        for ``LAG_HOLD_S``."""
        ih = self._ihist
        ih.append((now, i_ma))
        while ih and ih[0][0] < now - TAU_MAX_S - 1e-9:
            ih.popleft()
        t0, i0 = ih[0]
        lags = self._lags
        if now - t0 < 0.75 * TAU_MAX_S:
            # Not yet a window's history (the current just came above FAST_MIN_MA): the rate
            # is unknown, so is the lag; nothing is judged, and nothing sets the lowest load.
            lag = 1.0
        else:
            rate = (i_ma - i0) / (now - t0)
            lag = TAU_MAX_S * max(0.0, rate) / i_ma
        # The largest lag of the last LAG_HOLD_S as a running maximum: the deque keeps only the
        # entries that a newer one does not exceed (falling values, oldest first), so its head is
        # the window's maximum, the same value as max() over the whole window.
        while lags and lags[-1][1] <= lag:
            lags.pop()
        lags.append((now, lag))
        while lags[0][0] < now - LAG_HOLD_S:
            lags.popleft()
        return lags[0][1]

    def _found(self, load: float, before: float) -> None:
        self._before = before
        self.r_shunt = self._shunt_from(load)
        self._level = load
        self._below = 0
        self._up = 0
        self.detected = True
        self._y = None
        self._hist.clear()
        self._top.clear()

    def at_probe(self, load: float) -> bool:
        """A steady load of the contact probe (the skin test's cycle: no lag there). This share
        (``PROBE_FALL``) below the lowest load of the session is a path that came during the
        pause: no hand goes deeper than fully in. The patient's load before it is unknown (the
        hands may have been out), so the whole load is taken as the path: the cap is
        STEP_MAX_MA when the ramp resumes. Returns whether the path is new."""
        env = self._env
        if env is None or load < CONTACT_RANGE[0] or load >= (1.0 - PROBE_FALL) * env:
            return False
        new = self.r_shunt is None or load < self.r_shunt
        self._before = math.inf
        self.r_shunt = load if self.r_shunt is None else min(self.r_shunt, load)
        self._level = load
        self._up = 0
        self._y = None
        return new

    def _shunt_from(self, load: float) -> float:
        return 1.0 / max(1.0 / load - 1.0 / self._before, 1e-9)

    def _follow(self, load: float) -> None:
        """While a shunt is known: its level, and whether it has gone (the load back up to the
        patient's alone, for three samples in a row)."""
        lv = self._level
        alone = self.alone_ohm()
        # Filtered from the level on, each sample bounded: after the current falls (the pause)
        # the skin capacitance holds its voltage for a few periods and the load reads many
        # times too high.
        y0 = lv if self._y is None else self._y
        yin = load if alone == math.inf else min(load, 1.5 * alone)
        y = self._y = y0 + (yin - y0) * 0.1
        if alone == math.inf and self._env is not None:
            # A path whose split is unknown (the whole load taken as the path): it has gone
            # when the load is back at the patient's lowest with the hands fully in (a path
            # beside the patient keeps it below that).
            alone = max(self._env, lv)
            if y >= (1.0 - SHUNT_FALL / 2) * alone and load >= (1.0 - SHUNT_FALL / 2) * alone:
                # (twice CLEAR_SAMPLES: after the current falls to the probe the skin's
                # capacitance makes the load read high for some ten periods)
                self._up += 1
                if self._up >= 2 * CLEAR_SAMPLES:
                    self._clear(load)
                return
            self._up = 0
            alone = math.inf
        if alone != math.inf and load > 1.5 * alone and \
                abs(load / self.r_shunt - 1.0) <= CLEAR_TOL:
            # The load at the path's own: the hands lifted out beside a path still there (a
            # film of water across the trays), not the path gone. Counted as gone, the current
            # ramped into the water, and the hands took it as they went back in.
            self._up = 0
            self._y = y0
            return
        if alone != math.inf and y >= lv + 0.7 * (alone - lv):
            # The load (filtered: 0.1 s) back up to the patient's alone for CLEAR_SAMPLES: not
            # the skin capacitance's discharge after the current fell (the load reads high for
            # some tens of milliseconds then), nor the noise at the probe.
            self._up += 1
            if self._up >= CLEAR_SAMPLES:
                self._clear(load)
            return
        self._up = 0
        # The level follows a load within the band slowly, and one outside it only when it has
        # stayed there for AWAY_S: a hand going in reads low for a few milliseconds while its
        # skin capacitance charges, and the shunt's removal reads between the two loads in its
        # first sample; a patient-alone load worked out from either would be wrong (it diverges
        # as the level nears the shunt), and the load's return taken for the removal, or the
        # removal missed. The cap uses the present load, not the level.
        if lv is None:
            self._level = load
        elif abs(load / lv - 1.0) <= (CLEAR_TOL if alone == math.inf else
                                      min(CLEAR_TOL, 0.3 * (alone / lv - 1.0))):
            # (within a band narrower than the rise the shunt's removal would make)
            self._away = 0
            self._level = lv + (load - lv) * 0.05
        else:
            self._away += 1
            if self._away >= AWAY_SAMPLES:
                self._away = 0
                self._level = load
        if self._before != math.inf:
            # The estimate from the settled level: the first samples after the fall may still
            # carry the skin capacitance's settling to the new split. The lowest estimate
            # stands (the safe side).
            self.r_shunt = min(self.r_shunt, self._shunt_from(self._level))

    def _clear(self, load: float | None) -> None:
        if self.r_shunt is not None:
            self.cleared = True
        self._y = None
        self.r_shunt = None
        self._level = None
        self._up = 0
        if load is not None:
            self._env = load             # the patient alone, from now on


SHUNT_CODE = "SHUNT"
SHUNT_TEXT = ("water between the trays? dry the unit and the outside of the trays; the current "
              "is paused")
BRIDGE_TEXT = ("water between the trays? dry the unit and the outside of the trays, then put "
               "both hands in the water")
#: the hold's warning is repeated at most this often (s)
NOTE_EVERY_S = 10.0


class ContactWatch:
    """The session's hooks (its :class:`~controller.delivery.Delivery`, ``ctl`` below):
    :meth:`at_probe` in the contact check (WAIT_CONTACT and PAUSED), :meth:`in_treatment`
    wherever the density guard runs. Events:
    ``BRIDGE`` (warning: a resistive path and no patient; the device does not start),
    ``SHUNT`` (a pause), ``SHUNT-HOLD`` (warning: the current held so that the path's removal
    is no step), ``SHUNT-GONE`` (info: the load is back to the patient's alone)."""

    def __init__(self, area_cm2: float):
        self.skin = SkinTest(area_cm2)
        self.guard = ShuntGuard()
        self.pause_now = False
        self._last_c = "unknown"
        self._last_cap: float | None = None
        self._note_t = -math.inf
        self._bridge_told_at: float | None = None
        self._hold_told: float | None = None

    @property
    def excluded(self) -> bool:
        return self.guard.excluded

    @property
    def capped(self) -> bool:
        return self.guard.r_shunt is not None

    def may_start(self) -> bool:
        """The skin test has a verdict, and it is not a resistive path."""
        return self.skin.verdict in ("skin", "unknown")

    def at_probe(self, ctl, ctx, c: str) -> tuple[str, float]:
        """One period of the contact check. ``c`` is the check's view of the load (ok, open,
        short, unknown); returns it, ``"bridge"`` while the skin test finds a resistive path,
        and the probe current to command (0 in the skin test's off period)."""
        from .delivery import PROBE_MA
        skin, guard = self.skin, self.guard
        off = skin.off_sample
        if off:
            c = "ok" if self._last_c == "ok" else c  # no current on purpose: not a change
        elif ctx.in_contact_phase and not skin.step_sample:
            guard.observe(ctx.now, ctx.load_ohm, ctx.i_max, c == "open")
            self._told(ctl, ctx.now)
        v = abs(ctx.v_e) if ctx.v_e is not None else None
        was = skin.verdict
        cycles = skin.cycles
        probe = skin.observe(c == "ok", v, ctx.load_ohm, PROBE_MA)
        self._last_c = c
        # The path is judged on the load as the lower current channel gives it: a path lowers
        # the load both channels see, while a channel reading high lowers only the load of the
        # higher one (a sensing fault, R-CH-AGREE's to latch once the current is up: taken for
        # a path, it held the current at the cap, below the rule's reach, for good).
        lo = min(ctx.i_a, ctx.i_b) if ctx.i_a is not None and ctx.i_b is not None else None
        sensed = 1.0 if not lo or lo <= 0.0 or ctx.i_max is None else ctx.i_max / lo
        if skin.cycles != cycles and skin.cycle_load is not None and \
                guard.at_probe(skin.cycle_load * sensed):
            ctl._emit(ctx.now, "warning", "SHUNT-FOUND",
                      f"the load at the contact check is {skin.cycle_load:.0f} ohm, below the "
                      f"lowest the hands gave ({guard._env:.0f} ohm): a path beside the patient; "
                      "the current will be held at the cap until it has gone")
        if skin.verdict == "resistive":
            if was != "resistive":
                guard.set_bridge(skin.load)
                if self._bridge_told_at is None or ctx.now - self._bridge_told_at > NOTE_EVERY_S:
                    self._bridge_told_at = ctx.now
                    ctl._emit(ctx.now, "warning", "BRIDGE",
                              f"{BRIDGE_TEXT} (a path of {skin.load:.0f} ohm with no skin on it: "
                              f"step signature {skin.signature:.3f})")
            c = "bridge"
        return c, probe

    def in_treatment(self, ctl, ctx, cap: float) -> float:
        """One period of treatment (ramps included): watch for a shunt; returns ``cap``
        lowered to what the known shunt allows. Sets :attr:`pause_now` when one appears."""
        guard = self.guard
        self.pause_now = False
        if not ctx.in_contact_phase:
            return cap if self._last_cap is None else min(cap, self._last_cap)
        # The skin test's hold where it could not judge (SkinTest.hold_ma).
        skin_hold = self.skin.hold_ma(ctx.now, ctx.load_ohm)
        if skin_hold is not None and skin_hold < cap and self._hold_told is None:
            self._hold_told = ctx.now
            ctl._emit(ctx.now, "info", "CONTACT-HOLD",
                      f"current held at {skin_hold:.2f} mA for {HOLD_S:.0f} s: at this load "
                      "the contact check cannot tell skin from water between the trays")
        if self.skin.found_bridge is not None:
            # The fall is the hands going in beside a film of water (the path: the load before
            # it) or a path that came beside a patient of that load (the path: about the load
            # after it): the load cannot tell the two apart, so the path is taken as the
            # smaller, the whole load now. The cap is then STEP_MAX_MA, whichever it was; the
            # price, after a film wiped away, is a current held at the cap (the load cannot
            # say which path went) until contact is lost and checked again.
            guard.set_bridge(min(self.skin.found_bridge, ctx.load_ohm or math.inf))
            # the loads beside the path are no reference for full immersion
            ctl.density.r_ref = None
            ctl._emit(ctx.now, "warning", "BRIDGE",
                      f"the load fell to {ctx.load_ohm:.0f} ohm as the hands went in: a path "
                      f"of about {self.skin.found_bridge:.0f} ohm beside them (water between "
                      "the trays?)")
            self.skin.found_bridge = None  # handed over: the shunt guard holds it from now on
        is_open = ctx.load_ohm is not None and ctx.load_ohm > CONTACT_RANGE[1]
        trusted = ctx.i_a is not None and ctx.i_b is not None and \
            abs(ctx.i_a - ctx.i_b) <= AGREE * max(abs(ctx.i_a), abs(ctx.i_b)) + 0.05
        guard.observe(ctx.now, ctx.load_ohm, ctx.i_max, is_open, trusted)
        if guard.detected:
            self.pause_now = ctl.state in (State.RAMP_UP, State.TREAT)
            ref = guard._env if guard._before == math.inf else guard._before
            was = f" ({ref:.0f} ohm)" if ref is not None and ref != math.inf else ""
            ctl._emit(ctx.now, "warning", "SHUNT-FOUND",
                      f"the load fell to {ctx.load_ohm:.0f} ohm, below the lowest the hands gave"
                      f"{was}: a path of about {guard.r_shunt:.0f} ohm beside the patient")
        self._told(ctl, ctx.now)
        if skin_hold is not None:
            cap = min(cap, skin_hold)
        hold = guard.cap_ma(ctx.load_ohm)
        if hold is None:
            self._last_cap = None
            return cap
        if ctx.load_ohm is None and self._last_cap is not None:
            hold = self._last_cap
        self._last_cap = hold
        if hold < cap and ctx.now - self._note_t > NOTE_EVERY_S and not self.pause_now:
            self._note_t = ctx.now
            ctl._emit(ctx.now, "warning", "SHUNT-HOLD",
                      f"current held at {hold:.2f} mA: water between the trays? dry the unit "
                      "and the outside of the trays, and the current returns to the target")
        return min(cap, hold)

    def _told(self, ctl, now: float) -> None:
        if self.guard.cleared:
            self._last_cap = None
            ctl._emit(now, "info", "SHUNT-GONE", "the path between the trays has gone: the "
                      "current returns to the target at the prescribed rate")
