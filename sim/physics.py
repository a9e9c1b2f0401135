"""The analog board and the patient, integrated on the virtual clock.

Signal chain (values from ``hardware/board.toml``)::

    setpoint PWM duty ─► 2-pole RC ─► sink command I = V x sink_ma_per_v
    pulse gate (sink enable, DC = always on, pulsed = duty at pulse_hz)
    HV rail (boost, first order, HV_EN AND NOT trip AND NOT watchdog-cut)
      └─► polarity relay ─► output node (test load across it) ─► patient relay ─► trays
          sink current returns through R_S1 and R_S2 to ground.

The output network is solved each step: branches are the test load, a short through the water
and the patient (fixed part in series with skin R || C). The sink delivers its command unless
the rail cannot: then the compliance limit sets the current. Pulsed DC is averaged: the peak is
the sink current while the gate is on, the patient receives ``duty x peak`` on average, and the
sense amplifiers' anti-alias filters (and the ADC's own averaging over 1.16 ms) see the average.
The electrode voltage is averaged the same way: while the gate conducts, the output voltage;
in the pauses, with the sink open and no current in the body's series part, the voltage the
skin capacitance holds. (An earlier model took the trays to zero in the pauses; that made the
averaged load estimate read low in pulsed DC, by a factor that grew as less of the hands was
in the water, and the density guard was tuned to that artefact: ``docs/safety/campaigns.md``,
finding 10.)

The model is lazy: it integrates up to the present whenever someone looks (an ADC conversion, an
input pin read) or changes something (a pin write, a world event), in steps of at most
:data:`FINE_STEP` (0.25 ms) while anything changes fast and :data:`COARSE_STEP` (20 ms) while
quiescent, with exact solutions of the linear parts, so that the hardware protections (trip
comparator, watchdog) act within a step of their threshold.

Ground truth that only the simulator knows is exposed as plain attributes (``patient_a``,
``peak_a``, ``load_ohm``, ``contact``...). The device program never sees them.
"""

from __future__ import annotations

import math
import random

from hardware import Board

from .patient import Patient

FINE_STEP = 0.25e-3  # s, while anything changes fast
COARSE_STEP = 20e-3  # s, while the board is quiescent (exact parts only)
INF = float("inf")
_TWOPI = 2.0 * math.pi
_Z_BATCH = 128   # pairs of normal draws made at a time


def _box_muller(rng: random.Random) -> list[float]:
    """The next 2 * _Z_BATCH draws of ``rng.gauss(0.0, 1.0)``, the next one last: the same
    formula as the standard library's (Box-Muller, a pair from two uniform draws), without a
    Python-level call per draw. Four draws a control period made that call a hot spot."""
    rnd, cos, sin, sqrt, log = rng.random, math.cos, math.sin, math.sqrt, math.log
    out: list[float] = []
    for _ in range(_Z_BATCH):
        x2pi = rnd() * _TWOPI
        g2rad = sqrt(-2.0 * log(1.0 - rnd()))
        out.append(cos(x2pi) * g2rad)
        out.append(sin(x2pi) * g2rad)
    out.reverse()
    return out


def _library_gauss(rng: random.Random) -> list[float]:
    out = [rng.gauss(0.0, 1.0) for _ in range(2 * _Z_BATCH)]
    out.reverse()
    return out


def _box_muller_is_gauss(seed: int) -> bool:
    """Whether :func:`_box_muller` gives this Python's ``random.gauss`` to the bit (else the
    library is called per draw: the noise must not depend on the speed-up)."""
    a, b = random.Random(seed), random.Random(seed)
    return _box_muller(a)[-8:] == [b.gauss(0.0, 1.0) for _ in range(8)][::-1]


class AnalogBoard:
    """The simulated analog board wired to a simulated patient.

    :param board: the validated hardware description.
    :param clock: the virtual clock.
    :param patient: the load (see :class:`~sim.patient.Patient`).
    :param pins: the :class:`~sim.pins.SimPinFactory` (inputs are driven through it).
    :param seed: seed of the measurement noise.
    :param noise_v: standard deviation of the noise at each ADC input (V).
    :param sink_gain: the sink's real transconductance over its nominal value (component
        tolerance the calibration and the regulator must absorb).
    """

    def __init__(self, board: Board, clock, patient: Patient, pins, *, seed: int = 0,
                 noise_v: float = 60e-6, sink_gain: float = 1.0):
        self.board = board
        self.clock = clock
        self.patient = patient
        self.pins = pins
        self.noise_v = noise_v
        self.sink_gain = sink_gain  # the sink's true transconductance / nominal (tolerance)
        self._rng = random.Random(seed)
        self._z: list[float] = []   # standard normal draws not yet used, last one next
        self._z_batch = _box_muller if _box_muller_is_gauss(seed) else _library_gauss
        self._role_of = {f"GPIO{g.bcm}": role for role, g in board.gpio.items()}
        self._active_high = {role: g.active_high for role, g in board.gpio.items()}
        order = ("current_a", "current_b", "electrode_v", "hv_rail")
        self._kind = {ain: order.index(name) for name, ain in board.adc.channels.items()}
        sn = board.sense
        self._k_a = sn.r_s1_ohm * sn.amp_a_gain
        self._k_b = sn.r_s2_ohm * sn.amp_b_gain
        self._k_e = sn.electrode_gain
        self._e_ref = sn.electrode_ref_v
        self._k_hv = sn.hv_divider
        self._input_pins: dict[str, object] = {}
        self._inputs_dirty = False
        s = board.setpoint
        self._tau_f = s.filter_tau_ms / 1000.0
        self._ma_per_v = s.sink_ma_per_v
        self._pwm_v = s.pwm_v
        self._headroom = s.sink_headroom_v
        self._tau_hv = board.hv.rise_tau_ms / 1000.0
        self._r_s = board.sense.r_s1_ohm + board.sense.r_s2_ohm
        self._trip_a = board.protection.trip_ma / 1000.0
        self._gate_off_trip_a = board.protection.gate_off_trip_ma / 1000.0
        self._limit_a = board.protection.limiter_ma / 1000.0
        self._wd_timeout = board.protection.watchdog_timeout_ms / 1000.0
        self._relay_s = board.output.relay_switch_ms / 1000.0
        self._r_test = board.output.test_load_ohm
        self._hv_nominal = board.hv.nominal_v

        self.t = clock.t
        # Commands as written by the controller (logical, active level already applied).
        self.cmd = {role: False for role in board.gpio}
        self.duty = 0.0          # setpoint PWM duty as written
        self.gate = 0.0          # pulse gate duty (0 off, 1 DC on)
        self.gate_hz: float | None = None
        # Analog state.
        self.v1 = self.v2 = 0.0  # RC filter stages
        self.v_rail = 0.0
        self.v_c = 0.0           # skin capacitance voltage
        # Relay contacts: actual position and pending (position, time).
        self.k_patient = False
        self.k_test = False
        self.k_polarity = 1      # +1 normal, -1 reversed
        self._pending: dict[str, tuple[object, float]] = {}
        # Protections.
        self.tripped = False
        self.trip_at = 0.0
        self.wd_cut = False
        self.last_wdi_edge = -INF
        # World.
        self.button_pressed = False
        self.select_pressed = False
        # Faults (set by sim.rig.SimRig.inject).
        self.f_sense_a = 1.0
        self.f_sense_b_open = False
        self.f_sink_short = False
        self.f_pwm_stuck: float | None = None
        self.f_polarity_stuck = False
        self.f_welded = False
        self.f_rail_v: float | None = None
        self.f_trip_dead = False
        self.f_button_stuck = False
        # Ground truth of the last step.
        self.sink_a = 0.0        # average sink current (through R_S1, R_S2)
        self.peak_a = 0.0        # sink current while the gate is on
        self.patient_a = 0.0     # average current through the patient's body, signed by polarity
        self.test_a = 0.0        # average current through the test load
        self.v_out = 0.0         # voltage across the output node (before the patient relay)
        self.trip_events = 0
        self.wd_events = 0
        self._limited = False    # the compliance limit set the current in the last step
        self.q_abs = 0.0         # integral of |patient current| (C), for the recorder
        self.q_fwd = 0.0         # integral of the patient current in the treatment direction
        self.peak_seen_a = 0.0   # largest patient pulse-peak current since the recorder reset it
        self.last_above_t = -INF  # last time the true patient current was >= 0.1 mA
        self.peak_rev_seen_a = 0.0  # largest reversed current (the skin discharging)

    # ------------------------------------------------------------------------------------------
    # Pins: what the controller wrote, and the inputs the board drives
    # ------------------------------------------------------------------------------------------
    def pin_written(self, name: str, value: float, frequency: float | None) -> None:
        role = self._role_of.get(name)
        if role is None:
            return
        self.sync()
        now = self.clock.t
        if role == "setpoint":
            self.duty = value
            return
        if role == "pulse_gate":
            self.gate = value
            self.gate_hz = frequency
            return
        on = (value > 0.5) == self._active_high[role]
        prev = self.cmd[role]
        self.cmd[role] = on
        if role == "wdi":
            if on != prev:
                self.last_wdi_edge = now
                self._rearm_watchdog(now)
        elif role == "hv_enable":
            self._rearm_watchdog(now)
        elif role == "trip_reset":
            # Set-dominant: the reset clears nothing while either comparator still sees its
            # condition (a shorted sink conducting with the gate off, for the gate-off one).
            if on and not prev and self.sink_a < self._trip_a and self.peak_a < self._trip_a \
                    and not self._gate_off_current():
                self.tripped = False
                self._inputs_dirty = True
        elif role == "polarity_relay":
            if not self.f_polarity_stuck:
                self._pending["polarity"] = (-1 if on else 1, now + self._relay_s)
        elif role == "test_load":
            self._pending["test"] = (on, now + self._relay_s)
        # patient relay: its drive depends on trip/watchdog, resolved in _step.
        if self._inputs_dirty:
            self._drive_inputs()

    def _rearm_watchdog(self, now: float) -> None:
        """The supervisor's cut holds until WDI is alive again *and* HV_EN is low: a program
        that resumes after a hang must first drive the output safe before HV can return."""
        if (self.wd_cut and not self.cmd["hv_enable"]
                and now - self.last_wdi_edge <= self._wd_timeout):
            self.wd_cut = False

    def sync(self) -> None:
        """Bring the model up to the clock's present."""
        t = self.clock.t
        if t > self.t:
            self._advance(t)
            if self._inputs_dirty:
                self._drive_inputs()

    def _input_pin(self, role: str):
        pin = self._input_pins.get(role)
        if pin is None:
            pin = self.pins.pin_by_bcm(self.board.gpio[role].bcm)
            self._input_pins[role] = pin
        return pin

    def _drive_inputs(self) -> None:
        """Set the HW_TRIP, START and SELECT input levels from the latch and the buttons."""
        self._inputs_dirty = False
        if self.pins is None:
            return
        b = self.board.gpio
        for role, active, at in (
                ("hw_trip", self.tripped, self.trip_at),
                ("start_button", self.button_pressed or self.f_button_stuck, self.clock.t),
                ("select_button", self.select_pressed, self.clock.t)):
            pin = self._input_pin(role)
            if pin._function == "input":
                level = active == b[role].active_high
                if pin._state != level:
                    pin.drive_at(level, min(at, self.clock.t) if active else self.clock.t)

    # ------------------------------------------------------------------------------------------
    # ADC inputs
    # ------------------------------------------------------------------------------------------
    def adc_input(self, t: float, ain: int) -> float:
        """Voltage at ADS1115 input ``ain`` (0..3) at time ``t``: the emulator's ``source``."""
        if t > self.t:
            self._advance(t)
            if self._inputs_dirty:
                self._drive_inputs()
        kind = self._kind[ain]
        if kind == 0:
            v = self.sink_a * self._k_a * self.f_sense_a
        elif kind == 1:
            v = 0.0 if self.f_sense_b_open else self.sink_a * self._k_b
        elif kind == 2:
            v = self._e_ref + self._k_e * self.v_out * self.k_polarity
        else:
            v = self.v_rail * self._k_hv
        if not self.noise_v:
            return v
        z = self._z
        if not z:
            self._z = z = self._z_batch(self._rng)
        return v + (0.0 + z.pop() * self.noise_v)   # random.gauss(0.0, noise_v), to the bit

    # ------------------------------------------------------------------------------------------
    # Integration
    # ------------------------------------------------------------------------------------------
    def _advance(self, t_end: float) -> None:
        # Hot path (several steps a control period). A step no longer than FINE_STEP is the
        # same whatever _quiescent() says, so the test is made only for a longer one.
        while self.t < t_end:
            dt = t_end - self.t
            if dt > FINE_STEP:
                limit = COARSE_STEP if self._quiescent() else FINE_STEP
                if dt > limit:
                    dt = limit
            self.t += dt
            self._step(dt)

    def _quiescent(self) -> bool:
        """True when a long step is exact enough: no relay moving, the setpoint filter and the
        rail settled, no compliance limit, the comparator far from its threshold. Then every part
        of the step has an exact or stable solution, and nothing can cross a threshold inside it.
        """
        if self._pending or self._limited:
            return False
        u = (self.duty if self.f_pwm_stuck is None else self.f_pwm_stuck) * self._pwm_v
        ma_per_v = self._ma_per_v
        if abs(self.v2 - u) * ma_per_v > 0.02 or abs(self.v1 - u) * ma_per_v > 0.05:
            return False
        trip = 0.8 * self._trip_a
        if self.peak_a > trip or u * ma_per_v / 1000.0 > trip:
            return False  # near the comparator's threshold: fine steps catch the crossing
        if abs(self.v_rail - self._rail_target()) > 0.05:
            return False
        # The watchdog must be seen to expire on time.
        return self.wd_cut or self.t + COARSE_STEP < self.last_wdi_edge + self._wd_timeout

    def _rail_target(self) -> float:
        if self.cmd["hv_enable"] and not self.tripped and not self.wd_cut:
            return self._hv_nominal if self.f_rail_v is None else self.f_rail_v
        return 0.0

    def _step(self, dt: float) -> None:
        t = self.t
        # Relays reach their new position after their switching time.
        if self._pending:
            for key, (pos, due) in list(self._pending.items()):
                if t >= due and key != "patient":
                    del self._pending[key]
                    if key == "polarity":
                        self.k_polarity = pos
                    elif key == "test":
                        self.k_test = pos
        cmd = self.cmd
        # External watchdog: no WDI edge for the timeout cuts HV and the relay drive.
        if not self.wd_cut and t - self.last_wdi_edge > self._wd_timeout:
            if cmd["hv_enable"] or cmd["patient_relay"]:
                self.wd_events += 1
            self.wd_cut = True
        drive_ok = not self.tripped and not self.wd_cut
        # Patient relay: coil = command AND NOT trip AND NOT watchdog; a welded contact stays shut.
        want = cmd["patient_relay"] and drive_ok
        if want != self.k_patient and not (self.k_patient and self.f_welded):
            pend = self._pending.get("patient")
            if pend is None or pend[0] != want:
                self._pending["patient"] = (want, t - dt + self._relay_s)
            elif t >= pend[1]:
                del self._pending["patient"]
                self.k_patient = want
        elif "patient" in self._pending:
            del self._pending["patient"]
        # HV rail (_rail_target(), inline: this runs several times a control period).
        if cmd["hv_enable"] and drive_ok:
            target = self._hv_nominal if self.f_rail_v is None else self.f_rail_v
        else:
            target = 0.0
        if self.v_rail != target:
            self.v_rail = target + (self.v_rail - target) * math.exp(-dt / self._tau_hv)
        # Setpoint filter (two equal poles, exact for a constant input over dt).
        duty = self.duty if self.f_pwm_stuck is None else self.f_pwm_stuck
        u = duty * self._pwm_v
        s = dt / self._tau_f
        e = math.exp(-s)
        a0 = self.v1 - u
        b0 = self.v2 - u
        self.v1 = u + a0 * e
        self.v2 = u + (b0 + a0 * s) * e
        # Sink: commanded current while enabled (gate on, no trip); a shorted sink conducts always.
        if self.f_sink_short:
            i_cmd, gate, headroom = INF, 1.0, 0.2
        elif self.tripped or self.gate <= 0.0:
            i_cmd, gate, headroom = 0.0, 0.0, self._headroom
        else:
            # max(0.0, v2) and min(1.0, gate), written out (the same values, also for -0.0)
            v2 = self.v2
            i_cmd = (v2 if v2 > 0.0 else 0.0) * self._ma_per_v * self.sink_gain / 1000.0
            gate = self.gate
            if not gate < 1.0:
                gate = 1.0
            headroom = self._headroom
        self._solve(t, dt, i_cmd, gate, headroom)
        # Comparator latch on R_S1: the peak current trips it; so does the gate-off comparator, a
        # current through R_S1 in a pulse pause or with the gate off. Only a sink that conducts
        # without its enable (shorted) can carry one: a working sink is open then, and R_S1 is in
        # series with it. The blanking after each falling edge (gate_off_blanking_us) is far
        # shorter than the shortest pause, so any pause is seen; the model needs no pulse timing.
        if not self.tripped and not self.f_trip_dead and (
                self.peak_a >= self._trip_a
                or (self.f_sink_short and self._gate_off_current())):
            self.tripped = True
            self.trip_at = t
            self.trip_events += 1
            self._inputs_dirty = True

    def _gate_off_current(self) -> bool:
        """The gate-off comparator's condition: current through R_S1 while the gate holds the
        sink off. Only a sink that conducts without its enable (shorted) can carry it."""
        return self.f_sink_short and self.gate < 1.0 and self.peak_a >= self._gate_off_trip_a

    def _solve(self, t: float, dt: float, i_cmd: float, gate: float, headroom: float) -> None:
        """Solve the output network for this step and update the skin capacitance.

        Given the skin voltage ``v_c``, the network is linear, so the body current is
        ``alpha - beta * v_c`` in each mode (sink regulating, compliance-limited, sink off), and
        the skin capacitance follows an exact exponential towards its equilibrium. This stays
        stable for any step length, also with a short or the test load in parallel and at a
        tiny immersed area, where an explicit update would oscillate.
        """
        p = self.patient
        g = 0.0          # conductance of the resistive branches (test load, short)
        branch = None
        if self.k_test:
            g += 1.0 / self._r_test
        # The test-load relay is a changeover (hardware/README.md): switched in, it connects
        # the test load and opens the line to the patient relay, so nothing in the trays is
        # in parallel with the test load, a welded patient relay included.
        elif self.k_patient:
            if p.short_ohm is not None:
                g += 1.0 / p.short_ohm
            branch = p.branch(t)
        v_c = self.v_c
        g_b = 1.0 / branch[0] if branch is not None else 0.0
        g_all = g + g_b
        r_s = self._r_s
        v_avail = self.v_rail - headroom
        if v_avail < 0.0:
            v_avail = 0.0
        limited = False
        # The trays' voltage as a function of the skin voltage, where it is one of the sink's
        # (or the skin's own) and not of the compliance limit: v_out = lin[0] + lin[1] * v_c.
        # It is evaluated again with the skin voltage at the end of the step (below), so that
        # a conversion reads the trays as they are at its time: evaluated at the step's start, a
        # step of several ms (the setpoint settled, the skin still charging) read the skin
        # capacitance's voltage as it was when the step began, and a sample taken soon after
        # a probe step showed a skin transient that had long decayed.
        lin: tuple[float, float] | None = None
        if g_all == 0.0:
            peak = 0.0
            v_out = self.v_rail if (i_cmd > 0.0 and gate > 0.0) else 0.0
            alpha = beta = 0.0
        else:
            inj = g_b * v_c
            v_need = (i_cmd + inj) / g_all if i_cmd != INF else INF
            if v_need + i_cmd * r_s <= v_avail:  # the sink regulates
                peak, v_out = i_cmd, v_need
                if i_cmd != INF:
                    lin = (i_cmd / g_all, g_b / g_all)
                alpha, beta = g_b * i_cmd / g_all, g_b * g / g_all
            else:  # compliance: V_out + I*R_s = V_avail
                limited = True
                den = 1.0 + g_all * r_s
                v_out = (v_avail + inj * r_s) / den
                peak = g_all * v_out - inj
                alpha, beta = g_b * v_avail / den, g_b * (1.0 + g * r_s) / den
            if peak < 0.0:  # the sink cannot source current: the skin discharges into the rest
                peak = 0.0
                v_out = inj / g_all
                lin = (0.0, g_b / g_all)
                alpha, beta = 0.0, g_b * g / g_all
            elif branch is not None and (v_out - v_c) * g_b > self._limit_a:
                # The series limiter in the patient path holds the body current at its level;
                # the resistive branches (test load, short) share what is left.
                limited = True
                lin = None
                lim = self._limit_a
                v_out = max(0.0, (v_avail - lim * r_s) / (1.0 + g * r_s)) if g else v_avail
                if i_cmd != INF:
                    v_out = min(v_out, max(0.0, (i_cmd - lim) / g)) if g else v_out
                peak = lim + g * v_out
                alpha, beta = lim, 0.0
        self._limited = limited
        if branch is not None:
            # Pulsed: on for `gate` of the time, off (sink open) for the rest.
            beta_off = g_b * g / g_all
            a = alpha * gate
            b = beta * gate + beta_off * (1.0 - gate)
            r_skin, c_skin = branch[1], branch[2]
            k = b + 1.0 / r_skin
            v_inf = a / k
            i_on = alpha - beta * v_c          # while the gate conducts
            i_off = -beta_off * v_c            # while it does not (the skin discharges)
            if beta == 0.0 and alpha == self._limit_a:
                i_on = alpha  # limiter: a current source, whatever the skin holds
            i_body = i_on * gate + i_off * (1.0 - gate)
            # max(on, off, 0.0) of the forward and the reverse current, written out as max()
            # evaluates it (the first of equal values wins): the same value, without the call
            on_w, off_w = gate > 0.0, gate < 1.0
            peak_body = i_on if on_w else 0.0
            x = i_off if off_w else 0.0
            if x > peak_body:
                peak_body = x
            if peak_body < 0.0:
                peak_body = 0.0
            peak_rev = -i_on if on_w else 0.0
            x = -i_off if off_w else 0.0
            if x > peak_rev:
                peak_rev = x
            if peak_rev < 0.0:
                peak_rev = 0.0
            self.v_c = v_inf + (v_c - v_inf) * math.exp(-dt * k / c_skin)
        else:
            i_body = peak_body = peak_rev = 0.0
            self.v_c = v_c * math.exp(-dt / 0.05)
        if lin is not None and branch is not None:
            v_out = lin[0] + lin[1] * self.v_c
        self.peak_a = peak if gate > 0.0 else 0.0
        self.sink_a = peak * gate
        if g_all and gate < 1.0:
            # In the pulse pauses the sink is open and no current flows through the body's
            # series resistance: the trays show what the skin capacitance holds (divided with
            # any resistive branch across them), not zero.
            self.v_out = v_out * gate + g_b * self.v_c / g_all * (1.0 - gate)
        else:
            self.v_out = v_out
        self.patient_a = i_body * self.k_polarity
        # the current through the test load (what a reference meter in series with it reads)
        self.test_a = self.v_out / self._r_test if self.k_test else 0.0
        # Ground-truth accumulators for the recorder: charge (absolute, and in the direction of
        # treatment: a skin discharge flows backwards), and the largest instantaneous current.
        a = i_body if i_body >= 0.0 else -i_body
        self.q_abs += a * dt
        self.q_fwd += i_body * dt
        if a >= 1e-4 or peak_body >= 1e-4 or peak_rev >= 1e-4:
            self.last_above_t = t  # the true current is still at or above 0.1 mA
        if peak_body > self.peak_seen_a:
            self.peak_seen_a = peak_body
        if peak_rev > self.peak_rev_seen_a:
            self.peak_rev_seen_a = peak_rev

    # ------------------------------------------------------------------------------------------
    # Ground truth, for tests and the scenario recorder
    # ------------------------------------------------------------------------------------------
    @property
    def patient_ma(self) -> float:
        """True average current through the patient (mA), signed by polarity: positive from
        tray A through the body to tray B (normal polarity, tray A the anode: hardware/README.md,
        "Output path"), negative the other way."""
        return self.patient_a * 1000.0

    @property
    def patient_peak_ma(self) -> float:
        """True current through the patient while a pulse is on (mA, unsigned)."""
        if self.gate <= 0.0 or self.sink_a == 0.0:
            return 0.0
        return abs(self.patient_a) * 1000.0 / min(1.0, self.gate) if not self.f_sink_short \
            else abs(self.patient_a) * 1000.0

    @property
    def load_ohm(self) -> float:
        return self.patient.load_ohm_at(self.t)

    @property
    def contact(self) -> float:
        return self.patient.contact

    @property
    def limited(self) -> bool:
        """True when the compliance voltage, not the sink, sets the current."""
        return self._limited

    @property
    def hv_on(self) -> bool:
        return self.cmd["hv_enable"] and not self.tripped and not self.wd_cut
