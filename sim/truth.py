"""Ground truth of a run: what really flowed through the patient, measured by the simulator.

The device program never sees these figures; tests and the scenario runner judge safety on them.
Definitions follow ../shared/SCENARIOS.md:

- ``peak_ma``: the largest true patient current in the direction of treatment, pulse peaks
  included: what the device drives through the patient;
- ``peak_reverse_ma``: the largest current in the other direction. Only the patient's own skin
  capacitance, charged by the treatment, can drive it, when the trays are suddenly shorted; it
  lasts about a millisecond, no device can prevent it, and it is reported apart so that it is
  neither hidden nor blamed on the device;
- ``peak_avg_ma``: the largest true current averaged over 100 ms;
- ``max_density_ma_cm2``: the largest true current density at an electrode (current over the
  immersed area), averaged over 100 ms;
- ``max_step_ma``: the largest rise of the 10 ms-averaged true current within any 100 ms window
  ending while some contact exists (the shock measure). The current is taken in the direction of
  treatment, so a rise is more current pushed through the patient; a reversed pulse (the skin's
  capacitance discharging when the trays are shorted) is not a rise, and it is bounded by the
  peak figures instead. Every period's current is judged as a rise from the lowest level of
  the last 100 ms, but the periods of the first 30 ms after the patient changed the circuit (a
  lift, a dip, a short), while the skin capacitance settles or discharges backwards, are not
  taken as such a level (they are still judged themselves). Their means are transients of the
  circuit, not levels the patient held, and the settling current after them read as a rise:
  the random campaign found a 0.52 mA "step" in a current falling from 13.7 mA to zero (trays
  shorted: the reverse pulse left a fragment of a period) and a 0.61 mA one in a current
  falling from 6 to 3.5 mA (most of a hand lifted, the skin capacitance undershooting for a
  period). Only the settling periods are left out: in pulsed DC through a short, every pulse
  pause has a little reverse current, and those periods remain levels. A rise above the
  levels held before the change is still caught. Out of the water the patient holds zero, so
  hands dipped into a live output read as a step from zero;
- ``dose_ma_min``: the delivered charge, the integral of |current|, in mA*min;
- ``treatment_s``: time with the true current at or above 90 % of a target (``target_ma()``);
- ``density_over_s``: the longest stretch with the density (per 10 ms) above the bound;
- ``safe_after_s(t_inject, t_detect)``: the time from a fault's injection to the first moment
  after it from which the true current (pulse peaks and reverse currents included) stays below
  0.1 mA for the rest of that fault's episode. The episode ends when the device is next started
  again from outside after the fault was detected: the first new session begun (a START press
  once the technician has cleared the fault; the composition root reports it with
  :meth:`TruthRecorder.session_started`) with the true current already below 0.1 mA, or else
  the end of the run. A deliberate new session's current is not the fault's; a device that
  went safe and then drives current again by itself, without a new session (in FAULT, in
  IDLE after a clear, in a technician's self-test), is still in the episode and counts to its
  last current. A new session begun while current still flows does not end the episode either:
  the count never stops short of the episode's true time to a safe current.

The recorder is sampled once per control period; the physics integrates charge and the largest
pulse peak between samples, so nothing between two samples is missed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

#: after the patient changes the circuit, the skin capacitance settles for a few periods; these
#: periods are judged as rises but are not taken as levels the patient held (see above)
SETTLE_S = 0.03


class TruthRecorder:
    WINDOW_S = 0.1

    def __init__(self, rig, *, target_ma: Callable[[], float | None] | None = None,
                 density_limit: float = 0.2):
        self.rig = rig
        ph = rig.physics
        ph.sync()
        self._q = ph.q_abs
        self._qf = ph.q_fwd
        self._t = rig.clock.t
        self._ph_q0 = ph.q_abs
        self.target_ma = target_ma
        # The 100 ms windows, each as parallel deques of plain floats, so that their sums and
        # minimum run over the deque in C (sum() adds left to right, as it did over the
        # (t, value*dt, dt) tuples these once held: the same bits).
        self._avg_vd: deque[float] = deque()    # ma * dt
        self._avg_dt: deque[float] = deque()    # dt
        self._dens_vd: deque[float] = deque()   # density * dt
        self._dens_dt: deque[float] = deque()
        self._step_t: deque[float] = deque()    # the step window: time of each period ...
        self._step_v: deque[float] = deque()    # ... and its 10 ms mean current
        self._circuit = (rig.patient.contact, rig.patient.short_ohm)
        self._changed_t = -1.0
        self.peak_ma = 0.0
        self.peak_reverse_ma = 0.0
        self.peak_avg_ma = 0.0
        self.max_density_ma_cm2 = 0.0
        self.max_step_ma = 0.0
        self.max_step_at: float | None = None
        self.treatment_s = 0.0
        self.last_ma = 0.0
        self.last_peak_ma = 0.0  # the largest pulse peak of the last period
        self.density_limit = density_limit
        self.density_over_s = 0.0      # longest stretch with the density above the limit
        self._over_since: float | None = None
        #: new sessions begun from outside: (time, physics.last_above_t at the end of the
        #: control period in which it began); see safe_after_s
        self.session_starts: list[tuple[float, float]] = []
        self._started_at: float | None = None

    def session_started(self, t: float) -> None:
        """The device began a new session at ``t`` (a START press, by the patient or after a
        technician's clear): the end of any earlier fault's episode (see safe_after_s). The
        true current at that moment is read at the next :meth:`sample`, once the physics has
        caught up: any current of the period in which the session began counts against the
        earlier episode (the safe side)."""
        self._started_at = t

    def safe_after_s(self, t_inject: float, t_detect: float) -> float:
        """Seconds from a fault's injection at ``t_inject`` (detected at ``t_detect``) to the
        first moment from which the true current stays below 0.1 mA until the episode ends:
        the first new session begun after the detection with no true current of 0.1 mA since
        before it began, or the end of the run (module docstring)."""
        end = self.episode_end(t_detect)
        last = self.rig.physics.last_above_t if end is None else end[1]
        return max(0.0, last - t_inject)

    def episode_end(self, t_detect: float) -> tuple[float, float] | None:
        """(time, last time of a true current of 0.1 mA before it) of the new session that
        ended the episode of a fault detected at ``t_detect``; None while it goes on."""
        for t, above in self.session_starts:
            if t >= t_detect and above < t:
                return t, above
        return None

    @property
    def dose_ma_min(self) -> float:
        return (self.rig.physics.q_abs - self._ph_q0) * 1000.0 / 60.0

    def sample(self) -> None:
        rig = self.rig
        ph = rig.physics
        ph.sync()
        if self._started_at is not None:
            self.session_starts.append((self._started_at, ph.last_above_t))
            self._started_at = None
        t = rig.clock.t
        dt = t - self._t
        if dt <= 0.0:
            return
        ma = (ph.q_abs - self._q) / dt * 1000.0
        fwd = max(0.0, (ph.q_fwd - self._qf) / dt * 1000.0)
        self._q, self._qf, self._t = ph.q_abs, ph.q_fwd, t
        self.last_ma = ma
        pk = ph.peak_seen_a * 1000.0
        ph.peak_seen_a = 0.0
        self.last_peak_ma = pk
        if pk > self.peak_ma:
            self.peak_ma = pk
        rev = ph.peak_rev_seen_a * 1000.0
        ph.peak_rev_seen_a = 0.0
        if rev > self.peak_reverse_ma:
            self.peak_reverse_ma = rev
        w = self.WINDOW_S
        # 100 ms mean current.
        span = self._push(self._avg_vd, self._avg_dt, ma, dt)
        mean = sum(self._avg_vd) / span if span else 0.0
        if mean > self.peak_avg_ma and span >= w * 0.999:
            self.peak_avg_ma = mean
        # 100 ms mean density.
        area = rig.patient.area_cm2 * max(0.0, rig.patient.contact)
        dens = ma / area if area > 0.0 else 0.0
        if dens > self.density_limit:
            if self._over_since is None:
                self._over_since = t - dt
            self.density_over_s = max(self.density_over_s, t - self._over_since)
        else:
            self._over_since = None
        span = self._push(self._dens_vd, self._dens_dt, dens, dt)
        md = sum(self._dens_vd) / span if span else 0.0
        if md > self.max_density_ma_cm2 and span >= w * 0.999:
            self.max_density_ma_cm2 = md
        # Shock: rise of the 10 ms mean within 100 ms, while in contact.
        win_t, win_v = self._step_t, self._step_v
        circuit = (rig.patient.contact, rig.patient.short_ohm)
        if circuit != self._circuit:
            self._circuit, self._changed_t = circuit, t - dt
        fragment = t - self._changed_t <= SETTLE_S + 1e-9
        while win_t and win_t[0] < t - w - 1e-9:
            win_t.popleft()
            win_v.popleft()
        if rig.patient.contact > 0.0:
            if win_v:
                rise = fwd - min(win_v)
                if rise > self.max_step_ma:
                    self.max_step_ma = rise
                    self.max_step_at = t
            if not fragment:
                win_t.append(t)
                win_v.append(fwd)
        else:
            win_t.clear()
            win_v.clear()
            win_t.append(t)  # out of the water the patient holds zero: a dip into a live
            win_v.append(0.0)  # output is a rise from it
        # Treatment time.
        if self.target_ma is not None:
            target = self.target_ma()
            if target and ma >= 0.9 * target:
                self.treatment_s += dt

    @staticmethod
    def _push(vd, dts, value, dt) -> float:
        """Append a period to a 100 ms window (``vd``: value * dt, ``dts``: dt), drop the
        oldest periods while the rest still spans the window, and return the window's span:
        the sum of its dt, summed afresh from the oldest (what the mean divides by; a running
        total, decremented as periods leave, would differ from it in the last bits)."""
        vd.append(value * dt)
        dts.append(dt)
        total = sum(dts)
        popped = False
        while dts and total - dts[0] >= TruthRecorder.WINDOW_S - 1e-9:
            total -= dts[0]
            dts.popleft()
            vd.popleft()
            popped = True
        return sum(dts) if popped else total

    def summary(self) -> dict:
        return {
            "peak_ma": round(self.peak_ma, 4),
            "peak_reverse_ma": round(self.peak_reverse_ma, 4),
            "peak_avg_ma": round(self.peak_avg_ma, 4),
            "max_density_ma_cm2": round(self.max_density_ma_cm2, 5),
            "max_step_ma": round(self.max_step_ma, 4),
            "density_over_s": round(self.density_over_s, 3),
            "dose_ma_min": round(self.dose_ma_min, 3),
            "treatment_s": round(self.treatment_s, 2),
        }
