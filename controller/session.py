"""The treatment controller: the session state machine, ramps, regulation and the safety rules.

Pure logic: :meth:`Controller.step` receives the time and the measurements
(:class:`~controller.io.Inputs`) and returns the outputs (:class:`~controller.io.Command`). It
never sleeps, never reads a clock and imports no hardware library, so it runs identically on
the Pi, on the simulator and in unit tests.

States (the ``state`` column of a trace; the whole table, with every trigger, guard and
action, is :data:`.states.TRANSITIONS`, shown in ``docs/state-machine.md``)::

    SELF_TEST -> IDLE --START--> SELF_TEST -> WAIT_CONTACT -> RAMP_UP -> TREAT
        -> [REVERSING -> RAMP_UP -> TREAT] -> RAMP_DOWN -> DONE -> IDLE
    any session state --contact lost / short--> PAUSED --contact back 2 s--> RAMP_UP
    any state --rule with reaction FAULT--> FAULT (latched) --acknowledged--> IDLE

Anti-shock and current-density guard (limiters on the reference, every period):

- the reference rises at the ramp rate only, and the regulator's command may exceed the measured
  current by at most 0.3 mA and rise by at most 0.4 mA in 100 ms (see :mod:`.regulator`);
- contact lost or a short: the output drops to the 0.2 mA contact probe at once, and current
  returns only by a ramp from zero after contact has been stable for 2 s;
- density: the immersed fraction is estimated from the load against the lowest load seen in this
  session within the contact range (the share of the load that does not scale with the area is
  taken as the largest the body can have for that load, 30 % to 80 %:
  :func:`.immersion.body_fraction_bound`), and the reference is cut at once to
  ``density limit x site area x fraction``.
  The area follows a rise of the load at once but a fall only when it is sudden (a hand going
  back into the water), never a slow one (the skin's resistance falling during the session):
  see :mod:`.immersion`.
  Limitation: a load can only tell a *change* of immersion. Hands that are only partly in the
  water from the very start look like full immersion. A session that starts within
  ``CARRY_REF_S`` of the last one's end, at the same site (finding 21), therefore takes the lowest
  full-immersion load of that session as its reference when it is lower than its own contact
  load (a patient who stopped, lifted a hand half out and pressed START again: the random
  campaign's finding 17); before the first session of a sitting, the patient instructions
  (hands flat on the bottom of the trays before pressing START) carry that part of the risk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

# (the button's and the service's names are also named here by the tests and the console)
from .button import BUTTON_STUCK_S, DEBOUNCE_S, HOLD_ACK_S, StartButton  # noqa: F401
from .comfort import ComfortControl
from .contact import SHUNT_CODE, SHUNT_TEXT, ContactWatch, contact_state
from .events import EventLog
from .guards import (  # noqa: F401 - the constants are named here by the tests and tools
    CAL_BUDGET,
    DENSITY_MARGIN,
    REDUCED_TARGET_MARGIN,
    ComplianceWatch,
    DensityGuard,
    cap_ma,
    near_compliance,
    pulsed_load_bias,
)
from .io import Command, Inputs, hold
from .limits import DEVICE_MAX_MA, Limits, Prescription
from .regulator import Regulator, RegulatorConfig
from .rules import Reaction, Rule, RuleContext, RuleEngine
from .select_button import SelectButton
from .selftest import HINTS, SelfTestFailure, SelfTestSpec, self_test
from .service import NO_SERVICE_FAULTS, ServiceRefused, ServiceRun, prepared  # noqa: F401
from .states import CONTACT_RULE_STATES, SERVICE_FROM, SESSION_STATES, State, Trigger
from .states import check as check_transition

PERIOD = 0.010                # s, nominal control period
PROBE_MA = 0.2                # contact-check test current (at most 0.3 mA)
CONTACT_STABLE_S = 2.0
WAIT_CONTACT_TIMEOUT_S = 120.0
PAUSE_TIMEOUT_S = 300.0
REVERSAL_DWELL_S = 0.5
STOP_RAMP_MAX_S = 5.0
HV_SETTLE_S = 0.06
RELAY_SETTLE_S = 0.03
DONE_SHOW_S = 10.0
#: a session that starts this soon (s) after the last one ended, at the same site (the same
#: trays), takes the last one's full-immersion load as its reference where that is lower than its
#: own contact load: the same person back at the trays, whose skin has not had the time to dry
#: back. A fresh contact load well above the carried one is a hand partly out of the water, and
#: the density guard limits the current as it would in one session. A new target, duration,
#: waveform or ramp keeps the carry: they change what the device gives, not whose hands are in
#: the water (the CI campaign's fresh seed 7756744, run 90: the technician raised a child's
#: target between two sessions, the carry ended with it, and the second session took a contact
#: load with a quarter of the hands in the water for full immersion: 0.208 mA/cm2 for 3.4 s).
#: Another site ends it. The price: another person with a higher load who starts on the same
#: trays within this time is treated at a lowered current (the DENSITY-LIMIT warning says so)
#: until the load falls.
CARRY_REF_S = 15 * 60.0


#: SESSION_STATES and CONTACT_RULE_STATES (the states in which the contact rules watch the load)
#: live in :mod:`.states`. The ramps down (a stop, the end of the treatment, the one before
#: the polarity switch) are among the latter: a short that appears on the way down takes the
#: ramp's current away from the patient, and when it goes, the whole of that current steps back
#: into the patient; a hand lifted on the way down and dipped again gets the ramp's current at
#: once. There, either rule ends the ramp at once (see ``_react``): the current goes to zero,
#: which never shocks, and the session ends (or the polarity switch goes on) as it would have.
#: Faults a patient may acknowledge with a 3 s hold of START; the rest need the technician.
PATIENT_CLEARABLE = {"CONTACT-TIMEOUT", "SHORT-AT-START"}
class Then(Enum):
    """What follows when a sequence of the session (the self-test, a relay sequence) ends: a
    continuation, not a state (the state is the one the sequence runs in)."""

    READY = "the power-on self-test passed: IDLE"
    STOPPED = "START pressed during the session's self-test: DONE"
    CONTACT = "the session's self-test passed: WAIT_CONTACT, connect"
    PROBE = "connected: the contact probe starts"
    RAMP_UP = "the polarity switched: RAMP_UP"
    DONE = "disconnected: DONE, or the fault a stop left waiting"


@dataclass
class SessionRecord:
    """What happened in one session: the treatment log's row."""

    start_t: float
    prescription: Prescription
    end_t: float | None = None
    outcome: str | None = None          # completed | stopped | fault | incomplete
    fault_code: str | None = None
    treat_s: float = 0.0
    #: The session's dose, its one definition: the charge the device measured through the
    #: patient (patient relay closed, test load off) from the session's start to its end, the
    #: ramps up and down and any re-ramp after a pause included, in mA*min: the patient receives
    #: all of it, and it is what the treatment log records. Said once, at SESSION-END, when it
    #: is final (TREATMENT-COMPLETE comes before the ramp down, which still adds to it).
    dose_ma_min: float = 0.0
    peak_ma: float = 0.0                # measured, pulse peak
    load_sum: float = 0.0
    load_n: int = 0
    pauses: int = 0
    reversals: int = 0
    reduced_target_ma: float | None = None   # the lower target in force now, if any
    lowest_target_ma: float | None = None    # the lowest target the device had to settle for
    comfort_lowest_ma: float | None = None   # the lowest level the patient chose (SELECT)

    @property
    def mean_load_ohm(self) -> float | None:
        return self.load_sum / self.load_n if self.load_n else None

    def treat_done(self, rx: Prescription) -> bool:
        """Whether the treatment's time is done: the prescribed time at target, extended (up
        to +50 %) to deliver the dose when the device had to settle for a lower target."""
        dur = rx.duration_min * 60.0
        if self.treat_s < dur:
            return False
        if self.lowest_target_ma is None:
            return True
        return self.dose_ma_min >= rx.dose_ma_min or self.treat_s >= 1.5 * dur

    def note_target(self, reduced: float | None) -> None:
        """The lower target in force now (None: the prescription's), and the lowest one."""
        self.reduced_target_ma = reduced
        if reduced is not None and (self.lowest_target_ma is None
                                    or reduced < self.lowest_target_ma):
            self.lowest_target_ma = reduced


@dataclass
class ControllerConfig:
    test_load_ohm: float = 1000.0
    hv_nominal: float = 60.0
    hv_tolerance: float = 0.15
    sink_headroom_v: float = 2.0
    r_sense_ohm: float = 149.9
    compliance_margin_v: float = 3.0   # "near compliance" below this much spare voltage
    regulator: RegulatorConfig = field(default_factory=RegulatorConfig)


class Controller:
    """The device's treatment logic.

    :param prescription: what to deliver (validated against ``limits``).
    :param limits: technician limits.
    :param config: hardware facts the logic needs (from the board file, via ``firmware``).
    :param calibration_ok, calibration_problem: whether the calibration record is valid.
    """

    def __init__(self, prescription: Prescription, limits: Limits | None = None,
                 config: ControllerConfig | None = None, *, calibration_ok: bool = True,
                 calibration_problem: str = "", settings_problem: str = ""):
        self.limits = (limits or Limits()).validated()
        self.rx = prescription.validated(self.limits)
        self.cfg = config or ControllerConfig()
        self.calibration_ok = calibration_ok
        self.calibration_problem = calibration_problem
        self.settings_problem = settings_problem
        self.events = EventLog()
        self.rules = RuleEngine()
        self.reg = Regulator(self.cfg.regulator)
        self._service: ServiceRun | None = None
        self.session: SessionRecord | None = None
        self.sessions_done: list[SessionRecord] = []
        self.session_listeners: list = []
        #: consulted when START is pressed in IDLE: ``gate(now)`` returns None to let the session
        #: start, or a refusal (``.code``, ``.message``: a warning event, and the unit stays IDLE)
        self.start_gate = None
        #: the polarity a session starts at: +1, normal, tray A the anode (+); -1, tray B the
        #: anode (hardware/README.md, "Output path"). The course's medication mode sets it from
        #: the drug's tray before the session starts (firmware/course.py), and it holds for the
        #: whole session, as a drug profile has no reversal
        self.start_polarity = 1
        self.fault: dict | None = None
        self.state: State = State.OFF
        self._cmd = Command()
        self._last_now: float | None = None
        self._adc_failures = 0
        self._last_sample_t: float | None = None
        self._hv_since: float | None = None
        self._hv_off_since: float | None = 0.0
        self.button = StartButton(self._on_press, self._on_hold, self._on_stuck)
        #: SELECT (controller/comfort.py): in IDLE ``select_listener(now)`` is called (the
        #: device program's course chooses the next profile); in a session it lowers the level
        self.comfort = ComfortControl()
        self.select = SelectButton(lambda now: self.comfort.on_select(self, now))
        self.select_listener = None
        self._stop_fault: tuple[str, str] | None = None  # latched when a gentle stop ends
        # session
        self._seq = None
        self._seq_next = Then.READY
        self._ref = 0.0
        self._avg_cmd = 0.0
        self._state_t = 0.0
        self._contact_ok_since: float | None = None
        self._carry: tuple[float, float, Prescription] | None = None  # (end t, load, rx)
        self.density = DensityGuard()
        self.compliance = ComplianceWatch()
        self._contact = ContactWatch(150.0)
        self._polarity = 1
        self._reversed = False
        self._stop_outcome = "stopped"
        self._stop_rate = 0.0
        self._limit_note_t = -1e9
        self.load_estimate: float | None = None
        self._enter(0.0, State.SELF_TEST, Trigger.POWER_ON, "power-on self-test")
        self._seq = self._make_selftest()
        self._seq_next = Then.READY
        self._seq_started = False

    # ------------------------------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------------------------------
    @property
    def target_now_ma(self) -> float | None:
        """The average current the device is working to now: the reduced target if the
        session reported one, in TREAT the prescription's average
        (:meth:`Prescription.max_average_ma`: in pulsed DC the pulse peak bounds it), else
        ``None``. The one definition the simulator's judges and the panel read."""
        sess = self.session
        if sess is not None and sess.reduced_target_ma is not None:
            return sess.reduced_target_ma
        if self.state != State.TREAT:
            return None
        return self.comfort.target(self.rx.max_average_ma(self.limits))

    @property
    def density_estimate(self) -> float | None:
        """The last current density the density guard estimated (mA/cm²)."""
        return self.density.estimate

    def interrupt(self, now: float, reason: str) -> None:
        """The program stops with a session running (a shutdown, a signal): the session is
        recorded as interrupted. The output's safe state is the program's to drive first."""
        if self.session is None:
            return
        self._emit(now, "warning", "SESSION-INTERRUPTED", f"program {reason}")
        self._end_session(now, "interrupted", None)

    @property
    def busy(self) -> bool:
        """True while a session (or its self-test) runs: settings may not change."""
        return (self.state in SESSION_STATES or self.state == State.SERVICE
                or (self.state == State.SELF_TEST and self.session is not None))

    def set_prescription(self, rx: Prescription) -> Prescription:
        if self.busy:
            raise RuntimeError("a treatment is running; change the prescription when idle")
        self.rx = rx.validated(self.limits)
        return self.rx  # the carry (CARRY_REF_S) ends with another site, in _carried_ref

    def set_limits(self, limits: Limits) -> None:
        if self.busy:
            raise RuntimeError("a treatment is running; change the limits when idle")
        limits = limits.validated()
        self.rx.validated(limits)
        self.limits = limits

    # --- technician service procedures (self-test on demand, calibration) -----------------------
    def start_service(self, now: float, sequence, done) -> None:
        """Run a technician procedure: ``sequence`` is a generator like the self-test (receives
        Inputs, yields Commands, returns a result); ``done(result, error)`` is called when it
        ends. Allowed only when idle or faulted; the previous state is restored afterwards.

        Every procedure runs inside :func:`~controller.selftest.guarded`: the open-output probe
        before it (a welded patient relay with someone in the water refuses it with ST-RELAY
        before any test current flows), I x R against the test load while it drives current,
        and the probe again after it."""
        if self.state not in SERVICE_FROM or self._service is not None:
            raise RuntimeError("a treatment or procedure is running; wait until the device "
                               "is idle")
        sequence = prepared(sequence, self.fault, self.cfg.test_load_ohm)
        self._service = ServiceRun(sequence, done, self.state)
        self.rules.clear()  # a fresh start for every persistence timer
        self._enter(now, State.SERVICE, Trigger.SERVICE_START, "technician procedure")

    def _run_service(self, inp: Inputs) -> Command:
        run = self._service
        back, done = run.back, run.done
        try:
            cmd = run.next_command(inp)
            self._avg_cmd = cmd.setpoint_ma if cmd.gate != "off" else 0.0
            return cmd
        except StopIteration as fin:
            self._finish_service(inp.now, back, done, fin.value, None)
        except SelfTestFailure as f:
            # A self-test failure refuses treatment whoever ran it: latch its fault.
            self._service = None
            self._emit(inp.now, "selftest", f.code, f.message)
            if self.fault is None:
                self.enter_fault(inp.now, f.code, f"{f.message}; {f.hint}")
            else:
                # back to the fault latched before, without a state event (as it always was)
                self._enter(inp.now, State.FAULT, Trigger.SERVICE_FAILED, announce=False)
            done(None, f)
        except Exception as exc:  # noqa: BLE001 - a procedure failure is reported, not raised
            self._finish_service(inp.now, back, done, None, exc)
        self._avg_cmd = 0.0
        return Command()

    def _finish_service(self, now, back, done, result, error) -> None:
        self._service = None
        to = State.FAULT if (back == State.FAULT or self.fault is not None) else State.IDLE
        self._enter(now, to, Trigger.SERVICE_END, "technician procedure finished")
        done(result, error)

    def abort_service(self, now: float, why: str) -> None:
        if self._service is not None:
            run = self._service
            self._finish_service(now, run.back, run.done, None, RuntimeError(why))

    def press(self, now: float) -> None:
        """A START press as seen after debouncing (also called by the console's ``start``)."""
        self._on_press(now)

    def step(self, inp: Inputs) -> Command:
        now = inp.now
        period = PERIOD if self._last_now is None else now - self._last_now
        self._last_now = now
        # Measurements.
        s = inp.sample
        if s is None:
            self._adc_failures += 1
        else:
            self._adc_failures = 0
            self._last_sample_t = s.t
        self.button.update(now, inp.start_pressed)
        self.select.update(now, inp.select_pressed)
        ctx = self._context(inp, period)
        self._account(ctx, period)
        # Safety rules first: a fault goes to the safe state within this period.
        for rule in self.rules.evaluate(ctx):
            self._react(now, rule)
        if self._service is not None:
            cmd = self._run_service(inp)
            self._cmd = cmd
            self._track_hv(now, cmd.hv)
            return cmd
        if self.state == State.FAULT:
            self._cmd = Command()
            self._track_hv(now, False)
            return self._cmd
        cmd = self._run_state(inp, ctx)
        self._cmd = cmd
        self._track_hv(now, cmd.hv)
        return cmd

    # ------------------------------------------------------------------------------------------
    # Context, accounting
    # ------------------------------------------------------------------------------------------
    def _context(self, inp: Inputs, period: float) -> RuleContext:
        s = inp.sample
        now = inp.now
        i_a = i_b = i_max = v_e = hv = None
        raw_a = raw_b = None
        load = None
        if s is not None:
            i_a, i_b, v_e, hv = s.current_a_ma, s.current_b_ma, s.electrode_v, s.hv_v
            i_max = i_a if i_a > i_b else i_b
            raw_a, raw_b = s.raw[0], s.raw[1]
            if i_max >= 0.05 and self._cmd.patient_relay and not self._cmd.test_load:
                load = abs(v_e) / (i_max / 1000.0)
        self.load_estimate = load
        age = now - self._last_sample_t if self._last_sample_t is not None else 0.0
        cmd = self._cmd
        in_contact = (self.state in CONTACT_RULE_STATES
                      and cmd.patient_relay and cmd.hv and cmd.setpoint_ma > 0.0
                      and self._hv_since is not None and now - self._hv_since >= HV_SETTLE_S)
        sess = self.session
        return RuleContext(
            now=now, period=period, nominal_period=PERIOD, state=self.state,
            i_a=i_a, i_b=i_b, i_max=i_max, v_e=v_e, hv=hv, raw_a=raw_a, raw_b=raw_b,
            raw=tuple(s.raw) if s is not None else None,
            adc_failures=self._adc_failures, sample_age=age,
            command_ma=self._avg_cmd, duty=cmd.pulse_duty if cmd.gate == "pulsed" else 1.0,
            peak_cap_ma=min(self.limits.site_limit(self.rx.site, self.rx.child), DEVICE_MAX_MA),
            hv_enabled_for=(now - self._hv_since) if self._hv_since is not None else -1.0,
            hv_disabled_for=(now - self._hv_off_since) if self._hv_off_since is not None
            else -1.0,
            hv_nominal=self.cfg.hv_nominal, hv_tolerance=self.cfg.hv_tolerance,
            hw_trip=inp.hw_trip and self.state not in (State.SELF_TEST, State.SERVICE),
            polarity=self._polarity, self_test=self.state in (State.SELF_TEST, State.SERVICE),
            in_contact_phase=in_contact, load_ohm=load,
            treat_s=sess.treat_s if sess else 0.0, duration_s=self.rx.duration_min * 60.0,
            dose_ma_min=sess.dose_ma_min if sess else 0.0,
            rx_dose_ma_min=self.rx.dose_ma_min,
        )

    def _account(self, ctx: RuleContext, period: float) -> None:
        sess = self.session
        if sess is None or ctx.i_max is None:
            return
        dt = min(period, 3 * PERIOD)
        if self._cmd.patient_relay and not self._cmd.test_load:
            sess.dose_ma_min += max(0.0, ctx.i_max) * dt / 60.0
            peak = ctx.i_max / ctx.duty
            if peak > sess.peak_ma:
                sess.peak_ma = peak
        if self.state == State.TREAT:
            sess.treat_s += dt
            if ctx.load_ohm is not None:
                sess.load_sum += ctx.load_ohm
                sess.load_n += 1

    def _track_hv(self, now: float, hv: bool) -> None:
        if hv and self._hv_since is None:
            self._hv_since, self._hv_off_since = now, None
        elif not hv and self._hv_off_since is None:
            self._hv_since, self._hv_off_since = None, now

    # ------------------------------------------------------------------------------------------
    # What the START button does in each state (its debounce, hold and stuck: .button)
    # ------------------------------------------------------------------------------------------
    def _on_press(self, now: float) -> None:
        """START: begins a session when idle, and stops it in every other state of a session.

        - during the session's self-test (the patient is not connected yet): the self-test runs
          to its end, so that it leaves the board as it found it (trip latch reset, test load
          out), and the session ends there, stopped, without connecting the patient;
        - while current flows or may flow: a ramp down that ends within ``STOP_RAMP_MAX_S``;
        - on a ramp down already under way (the end of the treatment at a slow prescribed rate,
          the ramp before the polarity switch): the ramp is made fast enough to end within
          ``STOP_RAMP_MAX_S`` from the press. A completed treatment stays completed.
        """
        if self.state == State.IDLE:
            refusal = self.start_gate(now) if self.start_gate is not None else None
            if refusal is not None:
                self._emit(now, "warning", refusal.code, refusal.message)
                return
            self._start_session(now)
        elif self.state == State.SELF_TEST and self.session is not None:
            if self._seq_next != Then.STOPPED:
                self._emit(now, "info", "STOP-BY-PATIENT", "START pressed: the session will not "
                           "start")
                self._seq_next = Then.STOPPED
        elif self.state == State.RAMP_DOWN:
            self._emit(now, "info", "STOP-BY-PATIENT", "START pressed: ramping down faster")
            if self._seq is None and self._ref > 0:
                self._stop_rate = max(self._stop_rate, self._ref / STOP_RAMP_MAX_S)
        elif self.state in SESSION_STATES:
            self._emit(now, "info", "STOP-BY-PATIENT", "START pressed: the patient stops the "
                       "session")
            self._begin_stop(now, "stopped", STOP_RAMP_MAX_S, Trigger.START_PRESS)

    def _on_stuck(self, now: float) -> None:
        if self.state == State.FAULT:
            self.button.rearm_stuck()  # still held: it latches as soon as the fault is cleared
            return
        text = (f"START held for {BUTTON_STUCK_S:g} s without a release: the button is stuck "
                "and the patient cannot stop a session; have the button checked")
        if self.state in SESSION_STATES:
            self._emit(now, "warning", "BUTTON-STUCK", text)
            self._stop_fault = ("BUTTON-STUCK", text)
            if self.state != State.RAMP_DOWN:
                self._begin_stop(now, "fault", STOP_RAMP_MAX_S, Trigger.BUTTON_STUCK)
        else:
            self.enter_fault(now, "BUTTON-STUCK", text)

    def _on_hold(self, now: float) -> None:
        if self.state == State.FAULT and self.fault is not None:
            if self.fault["code"] in PATIENT_CLEARABLE:
                self._emit(now, "info", "FAULT-ACK", f"fault {self.fault['code']} acknowledged "
                           "by a 3 s hold of START")
                self.fault = None
                self.rules.clear()
                self._enter(now, State.IDLE, Trigger.START_HOLD, "ready")
            else:
                self._emit(now, "warning", "FAULT-NEEDS-TECHNICIAN",
                           f"fault {self.fault['code']} must be cleared by the technician")

    # ------------------------------------------------------------------------------------------
    # Reactions
    # ------------------------------------------------------------------------------------------
    def _react(self, now: float, rule: Rule) -> None:
        if self.state == State.FAULT:
            return  # latched already; the first fault is the one that counts
        if self._service is not None and self.fault is not None:
            # A procedure run while faulted (the technician's self-test) fails: abort it and
            # stay in the fault that is already latched.
            if rule.reaction is Reaction.FAULT:
                done = self._service.done
                self._service = None
                # back to the fault latched before, without a state event (as it always was)
                self._enter(now, State.FAULT, Trigger.SERVICE_FAILED, announce=False)
                self._emit(now, "rule", rule.id, rule.text)
                done(None, RuntimeError(f"{rule.id}: {rule.text}"))
            return
        if rule.reaction is Reaction.FAULT:
            self._emit(now, "rule", rule.id, rule.text)
            if self.state == State.SELF_TEST and rule.self_test_code is not None:
                code = rule.self_test_code
                self.enter_fault(now, code, f"{rule.text}; {HINTS[code]}")
            else:
                self.enter_fault(now, rule.id, rule.text)
        elif rule.reaction is Reaction.PAUSE:
            if self.state in (State.RAMP_UP, State.TREAT):
                self._emit(now, "rule", rule.id, rule.text)
                self._pause(now, rule)
            elif self.state in (State.RAMP_DOWN, State.REVERSING) and self._ref > 0.0:
                # On the way down a pause would only delay the end: the current goes to zero now
                # and the ramp's sequence (the disconnect, or the polarity switch and a fresh ramp
                # up that the contact rules watch again) follows as it would have.
                self._emit(now, "rule", rule.id, rule.text)
                self._cut_ramp_down(now, rule)
            elif self.state == State.WAIT_CONTACT and rule.contact_check_fault is not None:
                self._emit(now, "rule", rule.id, rule.text)
                self.enter_fault(now, *rule.contact_check_fault)
        elif rule.reaction is Reaction.STOP and \
                self.state in (State.RAMP_UP, State.TREAT, State.PAUSED):
            self._emit(now, "rule", rule.id, rule.text)
            self._begin_stop(now, "incomplete", STOP_RAMP_MAX_S, Trigger.STOP_RULE)

    def enter_fault(self, now: float, code: str, message: str, *,
                    trigger: Trigger = Trigger.FAULT) -> None:
        """Latch a fault and go to the safe state (also used by the device program)."""
        if self.state == State.FAULT:
            return
        if self._service is not None:
            done = self._service.done
            self._service = None
            done(None, RuntimeError(f"{code}: {message}"))
        self.fault = {"code": code, "message": message, "at_s": now}
        # first: whatever a listener does, the outputs go safe (the state event comes last)
        self._enter(now, State.FAULT, trigger, announce=False)
        self._stop_fault = None
        self._ref = 0.0
        self._avg_cmd = 0.0
        self.reg.reset()
        self._seq = None
        self._emit(now, "fault", code, message)
        self._end_session(now, "fault", code)
        self._emit(now, "state", State.FAULT.value, f"{code}: {message}")

    def clear_fault(self, now: float) -> bool:
        """Technician clear (after a passing self-test); returns whether a fault was cleared."""
        if self.state != State.FAULT:
            return False
        self._emit(now, "info", "FAULT-CLEARED", f"fault {self.fault['code'] if self.fault else ''}"
                   " cleared by the technician")
        self.fault = None
        self.rules.clear()
        self.button.rearm_stuck()  # a button still jammed latches again at once
        self._enter(now, State.IDLE, Trigger.TECH_CLEAR, "ready")
        return True

    # ------------------------------------------------------------------------------------------
    # States
    # ------------------------------------------------------------------------------------------
    def _enter(self, now: float, state: State, trigger: Trigger, why: str = "", *,
               announce: bool = True) -> None:
        """The one change of state: refused unless it is a row of the transition table
        (:data:`.states.TRANSITIONS`); ``announce=False`` leaves the ``state`` event to the
        caller (a fault announces itself after its fault event) or out."""
        check_transition(self.state, trigger, state)
        self.state = state
        self._state_t = now
        if announce:
            self._emit(now, "state", state.value, why)

    def _emit(self, now, kind, code, message):
        return self.events.emit(now, kind, code, message)

    def selftest_sequence(self):
        """A fresh self-test generator (for the technician's ``selftest``)."""
        return self._make_selftest()

    def _make_selftest(self):
        return self_test(SelfTestSpec(self.cfg.test_load_ohm, self.cfg.hv_nominal,
                                      self.cfg.hv_tolerance, self.calibration_ok,
                                      self.calibration_problem, self.settings_problem))

    def _start_session(self, now: float) -> None:
        self.session = SessionRecord(start_t=now, prescription=self.rx)
        self._emit(now, "session", "SESSION-START",
                   f"{self.rx.site}, {self.rx.target_ma:g} mA {self.rx.waveform}, "
                   f"{self.rx.duration_min:g} min")
        cap = cap_ma(self.rx, self.limits)
        if self.rx.max_average_ma(self.limits) >= self.rx.target_ma > cap:
            self._emit(now, "warning", "AT-LIMIT",
                       f"the target is at the site's limit: the current is held at {cap:.2f} "
                       f"mA, {CAL_BUDGET * 100:.1f} % under it (the calibration's error budget)")
        elif cap < self.rx.target_ma:
            self._emit(now, "warning", "PULSED-REDUCED",
                       f"pulsed DC at {self.rx.pulse_duty:.0%} duty: the average is reduced to "
                       f"{cap:.2f} mA so that the pulse peak stays within the limit; the time "
                       "is extended to deliver the dose")
        self._polarity = 1   # the self-test's; the session's is start_polarity, from _connect
        self._reversed = False
        self.density.restart(self.rx.duty)
        self._contact = ContactWatch(self.rx.area_cm2)
        self.compliance.reset()
        self.comfort.restart()
        self.rules.clear()
        self._enter(now, State.SELF_TEST, Trigger.START_PRESS, "self-test before the session")
        self._seq = self._make_selftest()
        self._seq_started = False
        self._seq_next = Then.CONTACT

    def _end_session(self, now: float, outcome: str, fault_code: str | None = None) -> None:
        sess = self.session
        if sess is None:
            return
        sess.end_t = now
        sess.outcome = outcome
        sess.fault_code = fault_code
        loads = [r for r in (self.density.r_ref, self.density.immersion.r_full) if r is not None]
        if loads:
            self._carry = (now, min(loads), self.rx)
        self._emit(now, "session", "SESSION-END",
                   f"{outcome}: {sess.treat_s:.0f} s at target, {sess.dose_ma_min:.1f} mA*min")
        self.sessions_done.append(sess)
        if len(self.sessions_done) > 50:
            del self.sessions_done[0]
        self.session = None
        for fn in self.session_listeners:
            fn(sess)

    def _run_state(self, inp: Inputs, ctx: RuleContext) -> Command:
        st = self.state
        now = inp.now
        if self._seq is not None:
            return self._run_sequence(inp)
        if st == State.IDLE:
            return Command()
        if st == State.DONE:
            if now - self._state_t >= DONE_SHOW_S:
                self._enter(now, State.IDLE, Trigger.DONE_SHOWN, "ready")
            return Command()
        if st == State.WAIT_CONTACT:
            return self._wait_contact(inp, ctx)
        if st in (State.RAMP_UP, State.TREAT):
            return self._treat(inp, ctx)
        if st == State.PAUSED:
            return self._paused(inp, ctx)
        if st in (State.RAMP_DOWN, State.REVERSING):
            return self._ramp_down(inp, ctx)
        return Command()

    def _run_sequence(self, inp: Inputs) -> Command:
        try:
            cmd = next(self._seq) if not self._seq_started else self._seq.send(inp)
            self._seq_started = True
            if cmd.setpoint_ma > 0 and cmd.gate != "off":
                self._avg_cmd = cmd.setpoint_ma * (cmd.pulse_duty if cmd.gate == "pulsed"
                                                   else 1.0)
            else:
                self._avg_cmd = 0.0
            return cmd
        except StopIteration as done:
            self._seq = None
            return self._sequence_done(inp.now, done.value)
        except SelfTestFailure as f:
            self._seq = None
            self._emit(inp.now, "selftest", f.code, f.message)
            self.enter_fault(inp.now, f.code, f"{f.message}; {f.hint}")
            return Command()

    def _sequence_done(self, now: float, value) -> Command:
        nxt = self._seq_next
        if self.state == State.SELF_TEST:
            self._emit(now, "selftest", "ST-PASS", "self-test passed: " + ", ".join(
                f"{k} {v:.3g}" for k, v in (value or {}).items()))
        self._avg_cmd = 0.0
        if nxt is Then.READY:
            self._enter(now, State.IDLE, Trigger.SELF_TEST_PASSED, "ready")
        elif nxt is Then.STOPPED:
            # START was pressed during the session's self-test: the patient was never connected.
            self._end_session(now, "stopped")
            self._enter(now, State.DONE, Trigger.SELF_TEST_PASSED, "stopped")
        elif nxt is Then.CONTACT:
            self._enter(now, State.WAIT_CONTACT, Trigger.SELF_TEST_PASSED,
                        "put both hands in the water")
            self._contact_ok_since = None
            # the session's polarity, switched with the patient relay while HV is off
            self._polarity = self.start_polarity
            return self._begin_sequence(self._connect(), Then.PROBE)
        elif nxt is Then.PROBE:
            self._contact_ok_since = None
            return self._cmd_base(PROBE_MA, probe=True)
        elif nxt is Then.RAMP_UP:
            self._ref = 0.0
            self.reg.reset()
            self._enter(now, State.RAMP_UP, Trigger.REVERSED,
                        "ramping up after the polarity reversal")
            return self._cmd_base(0.0)
        elif nxt is Then.DONE:
            if self._stop_fault is not None:
                code, text = self._stop_fault
                self._stop_fault = None
                self.enter_fault(now, code, text, trigger=Trigger.RAMP_ENDED)
                return Command()
            outcome = self._stop_outcome
            self._end_session(now, outcome)
            self._enter(now, State.DONE, Trigger.RAMP_ENDED, outcome)
        return Command()

    def _begin_sequence(self, seq, then: Then) -> Command:
        """Start a relay sequence now; ``then`` says what follows when it ends. Returns its
        first command."""
        self._seq, self._seq_next = seq, then
        cmd = next(seq)
        self._seq_started = True
        return cmd

    # --- sequences ------------------------------------------------------------------------------
    def _connect(self):
        """Close the patient relay with HV off, then enable HV: relays switch dead."""
        yield from hold(Command(patient_relay=True, polarity=self._polarity),
                              RELAY_SETTLE_S)
        yield from hold(Command(patient_relay=True, polarity=self._polarity, hv=True,
                                      gate="dc", output_led=True), HV_SETTLE_S)

    def _reverse(self):
        """Ramp down (done by the caller), current off, dwell, switch, HV on again."""
        p = self._polarity
        yield from hold(Command(patient_relay=True, polarity=p, output_led=True),
                              REVERSAL_DWELL_S)
        new = -p
        self._polarity = new
        yield from hold(Command(patient_relay=True, polarity=new), RELAY_SETTLE_S)
        yield from hold(Command(patient_relay=True, polarity=new, hv=True, gate="dc",
                                      output_led=True), HV_SETTLE_S)

    def _disconnect(self):
        """Current is zero: HV off, wait for the rail, open the patient relay."""
        p = self._polarity
        yield from hold(Command(patient_relay=True, polarity=p, output_led=True), 0.1)
        yield from hold(Command(polarity=p), RELAY_SETTLE_S)

    # --- helpers --------------------------------------------------------------------------------
    def _cmd_base(self, avg_ma: float, *, probe: bool = False) -> Command:
        """Output connected to the patient with ``avg_ma`` average current."""
        rx = self.rx
        pulsed = rx.waveform == "pulsed" and not probe and avg_ma > 0.0
        duty = rx.pulse_duty if pulsed else 1.0
        self._avg_cmd = avg_ma
        return Command(setpoint_ma=avg_ma / duty, gate="pulsed" if pulsed else "dc",
                       pulse_hz=rx.pulse_hz if pulsed else 0.0, pulse_duty=duty, hv=True,
                       patient_relay=True, polarity=self._polarity, output_led=True)

    def _wait_contact(self, inp: Inputs, ctx: RuleContext) -> Command:
        now = inp.now
        if now - self._state_t > WAIT_CONTACT_TIMEOUT_S:
            self.enter_fault(now, "CONTACT-TIMEOUT", "no contact: the hands did not reach the "
                             "water in time; hold START 3 s, then press START again")
            return Command()
        return self._probe_until_contact(inp, ctx, first=True)

    def _probe_until_contact(self, inp: Inputs, ctx: RuleContext, *, first: bool) -> Command:
        """Hold the probe current until the load has been in the contact range for
        CONTACT_STABLE_S, then ramp up from the probe level (WAIT_CONTACT and PAUSED)."""
        now = inp.now
        c = contact_state(ctx) if ctx.in_contact_phase else "unknown"
        # The skin test's probe pattern and the shunt estimate (controller/contact.py).
        c, probe_ma = self._contact.at_probe(self, ctx, c)
        if c != "ok":
            self._contact_ok_since = None
        elif self._contact_ok_since is None:
            self._contact_ok_since = now
        elif now - self._contact_ok_since >= CONTACT_STABLE_S and self._contact.may_start():
            if first:
                # A load beside a known path (a bridge the skin test found) is no reference for
                # full immersion: the first load without it becomes the reference (_allowed_ma).
                self.density.r_ref = None if self._contact.excluded else ctx.load_ohm
                self._emit(now, "info", "CONTACT", f"contact: load {ctx.load_ohm:.0f} ohm")
                carried = self._carried_ref(now)
                if carried is not None and carried < ctx.load_ohm:
                    self.density.r_ref = carried
                    self._contact.guard.carry(carried)
                if carried is not None and carried < ctx.load_ohm / 1.1:
                    self._emit(now, "info", "CONTACT-CARRIED",
                               f"the load at full immersion {(now - self._carry[0]) / 60:.0f} "
                               f"min ago was {carried:.0f} ohm: taken as this session's "
                               "reference (a hand partly out of the water shows as a lowered "
                               "current)")
            else:
                # The load left the contact range and came back: the next load is a step from
                # the last one before the pause (ImmersionEstimate.resume).
                self.density.immersion.resume()
                self._emit(now, "resume", "CONTACT", f"contact back: load "
                           f"{ctx.load_ohm:.0f} ohm; ramping up from zero")
            self._ref = PROBE_MA
            self.reg.reset(PROBE_MA)
            self._enter(now, State.RAMP_UP, Trigger.CONTACT_STABLE,
                        "ramping up" if first else "ramping up after a pause")
            return self._treat(inp, ctx)
        cmd = self._cmd_base(probe_ma, probe=True)
        # The skin test's step samples read the electrode voltage first (controller/contact.py).
        cmd.electrode_first = self._contact.skin.step_sample
        return cmd

    def _carried_ref(self, now: float) -> float | None:
        """The last session's full-immersion load, if it ended within CARRY_REF_S at the site
        of the prescription in force now."""
        if self._carry is None:
            return None
        t_end, load, rx = self._carry
        if now - t_end > CARRY_REF_S or rx.site != self.rx.site:
            return None
        return load

    def _allowed_ma(self, ctx: RuleContext) -> float:
        """The highest average current the density guard allows now (.guards)."""
        # A path beside the patient: its removal must not step the patient's current, and its
        # loads are no reference for full immersion (controller/contact.py).
        cap = self._contact.in_treatment(self, ctx, cap_ma(self.rx, self.limits))
        return self.density.allowed(ctx, self.rx, self.limits, cap, self._contact.excluded)

    def _treat(self, inp: Inputs, ctx: RuleContext) -> Command:
        now = inp.now
        rx = self.rx
        sess = self.session
        goal = self._allowed_ma(ctx)
        if self._contact.pause_now:
            self._pause(now, None)
            return self._cmd_base(PROBE_MA, probe=True)
        allowed = goal   # the patient's lower level (SELECT) comes down at the ramp rate
        goal = self.comfort.limit(goal, self._ref, rx.ramp_ma_s, PERIOD)
        if goal < self._ref:
            if goal == allowed and goal < rx.target_ma * 0.98 and \
                    now - self._limit_note_t > 5.0 and not self._contact.capped:
                self._limit_note_t = now
                self._emit(now, "warning", "DENSITY-LIMIT",
                           f"current reduced to {goal:.2f} mA: the immersed area looks smaller "
                           "(a hand partly out of the water?)")
            self._ref = goal  # a fall never shocks: cut at once
        elif self._ref < goal:
            self._ref = min(goal, self._ref + rx.ramp_ma_s * PERIOD)
        measured = ctx.i_max if ctx.i_max is not None else self.reg.output
        # The command may exceed the goal by the calibration's residual error (a sink a few per
        # cent weak); what the limits judge is the measured current.
        u = self.reg.update(self._ref, measured, PERIOD, goal * 1.1 + 0.1,
                            near_compliance(ctx, self.cfg, self.density.r_ref), rx.duty)
        reach = self._compliance(now, ctx)
        if sess is not None:
            reduced = goal if goal < self.comfort.target(rx.target_ma) * 0.98 else None
            if reach is not None:
                reduced = reach if reduced is None else min(reduced, reach)
            sess.note_target(reduced)
        if self.state == State.RAMP_UP and self._ref >= goal - 1e-9 and \
                (ctx.i_max is None or ctx.i_max >= 0.9 * goal or self.compliance.since is not None):
            self._enter(now, State.TREAT, Trigger.TARGET_REACHED, f"treating at {goal:.2f} mA")
        if self.state == State.TREAT and sess is not None:
            done = sess.treat_done(rx)
            if done:
                self._emit(now, "info", "TREATMENT-COMPLETE",
                           f"{sess.treat_s / 60:.1f} min at target; ramping down (the session's "
                           "dose is given at its end)")
                self._begin_stop(now, "completed", None, Trigger.TREATMENT_COMPLETE)
                return self._ramp_down(inp, ctx)
            if rx.reverse_polarity and not self._reversed and \
                    sess.treat_s >= rx.duration_min * 30.0:
                self._reversed = True
                sess.reversals += 1
                self._emit(now, "info", "REVERSAL", "half time: reversing the polarity")
                self._enter(now, State.REVERSING, Trigger.HALF_TIME,
                            "ramping down to reverse the polarity")
                self._stop_rate = rx.ramp_ma_s
        return self._cmd_base(u)

    def _compliance(self, now: float, ctx: RuleContext) -> float | None:
        """The reduced target while the compliance voltage holds the current below the
        reference (.guards.ComplianceWatch), with its COMPLIANCE warning."""
        reach, measured, first = self.compliance.update(now, ctx.i_max, self._ref,
                                                        self.reg.clamped)
        if measured is not None and (first or now - self._limit_note_t > 5.0):
            self._limit_note_t = now
            self._emit(now, "warning", "COMPLIANCE",
                       f"load too high for the target: holding {measured:.2f} mA "
                       f"({100 * measured / self.rx.target_ma:.0f} % of target); the "
                       "time is extended to deliver the dose")
        return reach

    def _pause(self, now: float, rule: Rule | None) -> None:
        """Pause for ``rule``, or (``None``) for a shunt that controller/contact.py found."""
        sess = self.session
        if sess is not None:
            sess.pauses += 1
        self._ref = 0.0
        self.reg.reset()
        self._contact_ok_since = None
        if rule is None:
            code, why = SHUNT_CODE, SHUNT_TEXT
        else:
            code, why = rule.id, rule.pause_text
        self._emit(now, "pause", code, why)
        self._enter(now, State.PAUSED, Trigger.CONTACT_LOST, why)

    def _cut_ramp_down(self, now: float, rule: Rule) -> None:
        """A contact rule fired on a ramp down: the current goes to zero at once."""
        self._ref = 0.0
        self.reg.reset()
        self._emit(now, "warning", rule.id, rule.ramp_down_text)

    def _paused(self, inp: Inputs, ctx: RuleContext) -> Command:
        now = inp.now
        if now - self._state_t > PAUSE_TIMEOUT_S:
            self._emit(now, "warning", "PAUSE-TIMEOUT", "contact did not come back within "
                       "5 min: the session ends")
            self._begin_stop(now, "incomplete", None, Trigger.PAUSE_TIMEOUT)
            return self._ramp_down(inp, ctx)
        return self._probe_until_contact(inp, ctx, first=False)

    def _begin_stop(self, now: float, outcome: str, within_s: float | None,
                    trigger: Trigger) -> None:
        self._stop_outcome = outcome
        rate = self.rx.ramp_ma_s
        if within_s is not None and self._ref > 0:
            rate = max(rate, self._ref / within_s)
        self._stop_rate = rate
        self._seq = None
        self._enter(now, State.RAMP_DOWN, trigger, f"ramping down ({outcome})")

    def _ramp_down(self, inp: Inputs, ctx: RuleContext) -> Command:
        # The density guard holds on the way down too: a patient often lifts the hands as the
        # session ends, and the reversal's ramp down at the prescribed rate takes many seconds.
        self._ref = max(0.0, min(self._ref - self._stop_rate * PERIOD, self._allowed_ma(ctx)))
        measured = ctx.i_max if ctx.i_max is not None else self._ref
        if self._ref <= 0.0:
            self.reg.reset()
            self._avg_cmd = 0.0
            if self.state == State.REVERSING:
                return self._begin_sequence(self._reverse(), Then.RAMP_UP)
            return self._begin_sequence(self._disconnect(), Then.DONE)
        near = near_compliance(ctx, self.cfg, self.density.r_ref)
        u = min(self.reg.update(self._ref, measured, PERIOD, self._ref, near, self.rx.duty),
                self._ref)
        self.reg.output = u
        return self._cmd_base(u)

