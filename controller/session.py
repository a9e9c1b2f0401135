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

The session's collaborators, each with its own state:

- :class:`~.delivery.Delivery`: the current in a session (the contact check, the ramps, the
  treatment, the pause and the stop) and the guards that limit it, with the anti-shock and
  density limiters described there;
- :class:`~.faults.FaultLatch`: the reactions to the rules that fire, the latched fault and its
  clearing;
- :class:`~.relays.Sequences`: the self-test and the relay sequences in progress, and the
  polarity;
- :class:`~.context.ContextBuilder`: what the rules see each period.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# (the button's, the service's, the delivery's and the relays' names are also named here by the
# tests, the tools and the console)
from .button import BUTTON_STUCK_S, DEBOUNCE_S, HOLD_ACK_S, StartButton  # noqa: F401
from .comfort import ComfortControl
from .context import ContextBuilder
from .delivery import (  # noqa: F401
    CARRY_REF_S,
    CONTACT_STABLE_S,
    PAUSE_TIMEOUT_S,
    PROBE_MA,
    STOP_RAMP_MAX_S,
    WAIT_CONTACT_TIMEOUT_S,
    Delivery,
)
from .events import EventLog
from .faults import BUTTON_STUCK, Fault, FaultLatch
from .guards import (  # noqa: F401 - the constants are named here by the tests and tools
    CAL_BUDGET,
    DENSITY_MARGIN,
    REDUCED_TARGET_MARGIN,
    cap_ma,
    near_compliance,
    pulsed_load_bias,
)
from .io import PERIOD, Command, Inputs
from .limits import Limits, Prescription
from .rating import RatingPrompt
from .regulator import RegulatorConfig
from .relays import HV_SETTLE_S, RELAY_SETTLE_S, REVERSAL_DWELL_S, Sequences, Then  # noqa: F401
from .rules import RuleContext, RuleEngine
from .select_button import SelectButton
from .selftest import SelfTestFailure, SelfTestSpec, self_test
from .service import NO_SERVICE_FAULTS, ServiceRefused, ServiceRun, prepared  # noqa: F401
from .states import SERVICE_FROM, SESSION_STATES, State, Trigger
from .states import check as check_transition

DONE_SHOW_S = 10.0


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

    def account(self, ctx: RuleContext, period: float, cmd: Command, treating: bool) -> None:
        """One period: the charge and the peak through the patient (``cmd``, the command of the
        period before, had the patient relay closed and the test load off), and in TREAT
        (``treating``) the time at target and the load."""
        if ctx.i_max is None:
            return
        dt = min(period, 3 * PERIOD)
        if cmd.patient_relay and not cmd.test_load:
            self.dose_ma_min += max(0.0, ctx.i_max) * dt / 60.0
            peak = ctx.i_max / ctx.duty
            if peak > self.peak_ma:
                self.peak_ma = peak
        if treating:
            self.treat_s += dt
            if ctx.load_ohm is not None:
                self.load_sum += ctx.load_ohm
                self.load_n += 1

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
    """The device's treatment logic: the session's state machine, its record and events, the
    START button's meaning in each state and the technician's procedures; the current, the
    fault latch, the sequences and the rules' context are its collaborators' (above).

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
        self.state: State = State.OFF
        #: when the state was entered (s)
        self.state_since = 0.0
        #: the command of the last period
        self.last_command = Command()
        self.button = StartButton(self._on_press, self._on_hold, self._on_stuck)
        #: SELECT (controller/comfort.py): in IDLE ``select_listener(now)`` is called (the
        #: device program's course chooses the next profile); in a session it lowers the level
        self.comfort = ComfortControl()
        self.select = SelectButton(lambda now: self.comfort.on_select(self, now))
        self.select_listener = None
        #: the HDSS score on the DONE screen (controller/rating.py): the course asks for it;
        #: ``rating_listener(now, score)`` saves the score the patient confirms with START
        self.rating = RatingPrompt()
        self.rating_listener = None
        self.latch = FaultLatch(self)
        self.seqs = Sequences()
        self.delivery = Delivery(self)
        self.reader = ContextBuilder()
        self._enter(0.0, State.SELF_TEST, Trigger.POWER_ON, "power-on self-test")
        self.seqs.load(self._make_selftest(), Then.READY)

    # ------------------------------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------------------------------
    @property
    def fault(self) -> Fault | None:
        """The latched fault, or None."""
        return self.latch.fault

    @property
    def load_estimate(self) -> float | None:
        """The load (V / I) of the last period, when the current was measurable."""
        return self.reader.load_estimate

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
        return self.delivery.density.estimate

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
        return self.rx  # the carry (CARRY_REF_S) ends with another site (Delivery)

    def set_limits(self, limits: Limits) -> None:
        if self.busy:
            raise RuntimeError("a treatment is running; change the limits when idle")
        limits = limits.validated()
        self.rx.validated(limits)
        self.limits = limits

    def enter_fault(self, now: float, code: str, message: str, *,
                    patient_clearable: bool = False, trigger: Trigger = Trigger.FAULT) -> None:
        """Latch a fault and go to the safe state (also used by the device program)."""
        self.latch.latch(now, code, message, patient_clearable=patient_clearable,
                         trigger=trigger)

    def clear_fault(self, now: float) -> bool:
        """Technician clear (after a passing self-test); returns whether a fault was cleared."""
        return self.latch.clear(now)

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
            self.delivery.avg_cmd = cmd.setpoint_ma if cmd.gate != "off" else 0.0
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
        self.delivery.avg_cmd = 0.0
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
        """A START press as seen after debouncing (also called by ``run_device --start`` at
        power-on)."""
        self._on_press(now)

    def step(self, inp: Inputs) -> Command:
        now = inp.now
        reader = self.reader
        period = reader.period(now)
        self.button.update(now, inp.start_pressed)
        self.select.update(now, inp.select_pressed)
        ctx = reader.build(inp, period, self)
        if self.session is not None:
            self.session.account(ctx, period, self.last_command, self.state == State.TREAT)
        # Safety rules first: a fault goes to the safe state within this period.
        for rule in self.rules.evaluate(ctx):
            self.latch.react(now, rule)
        if self._service is not None:
            cmd = self._run_service(inp)
        elif self.state == State.FAULT:
            cmd = Command()
        else:
            cmd = self._run_state(inp, ctx)
        self.last_command = cmd
        reader.track_hv(now, cmd.hv)
        return cmd

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
            if self.rating.ignores(self, now, "START", "begin"):
                return   # meant for the score just asked (controller/rating.py)
            refusal = self.start_gate(now) if self.start_gate is not None else None
            if refusal is not None:
                self._emit(now, "warning", refusal.code, refusal.message)
                return
            self._start_session(now)
        elif self.state == State.DONE:
            self.rating.on_start(self, now)   # the score shown saved, if one is asked
        elif self.state == State.SELF_TEST and self.session is not None:
            if self.seqs.then != Then.STOPPED:
                self._emit(now, "info", "STOP-BY-PATIENT", "START pressed: the session will not "
                           "start")
                self.seqs.then = Then.STOPPED
        elif self.state == State.RAMP_DOWN:
            self._emit(now, "info", "STOP-BY-PATIENT", "START pressed: ramping down faster")
            self.delivery.stop_faster()
        elif self.state in SESSION_STATES:
            self._emit(now, "info", "STOP-BY-PATIENT", "START pressed: the patient stops the "
                       "session")
            self.delivery.begin_stop(now, "stopped", Trigger.START_PRESS, quick=True)

    def _on_stuck(self, now: float) -> None:
        if self.state == State.FAULT:
            self.button.rearm_stuck()  # still held: it latches as soon as the fault is cleared
            return
        if self.state in SESSION_STATES:
            self._emit(now, "warning", BUTTON_STUCK.code, BUTTON_STUCK.message)
            self.latch.waiting = BUTTON_STUCK
            if self.state != State.RAMP_DOWN:
                self.delivery.begin_stop(now, "fault", Trigger.BUTTON_STUCK, quick=True)
        else:
            self.latch.latch_def(now, BUTTON_STUCK)

    def _on_hold(self, now: float) -> None:
        self.latch.acknowledge(now)

    # ------------------------------------------------------------------------------------------
    # States
    # ------------------------------------------------------------------------------------------
    def _enter(self, now: float, state: State, trigger: Trigger, why: str = "", *,
               announce: bool = True) -> None:
        """The one change of state: refused unless it is a row of the transition table
        (:data:`.states.TRANSITIONS`); ``announce=False`` leaves the ``state`` event to the
        caller (a fault announces itself after its fault event) or out."""
        check_transition(self.state, trigger, state)
        if self.state == State.DONE and state != State.DONE:
            self.rating.left(now)   # the score's question ends with its screen
        self.state = state
        self.state_since = now
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
        self.rating.clear()
        self.session = SessionRecord(start_t=now, prescription=self.rx)
        self._emit(now, "session", "SESSION-START",
                   f"{self.rx.site}, {self.rx.target_ma:g} mA {self.rx.waveform}, "
                   f"{self.rx.duration_min:g} min")
        self.delivery.start(now)
        self.seqs.polarity = 1   # the self-test's; the session's is start_polarity, at connect
        self.rules.clear()
        self._enter(now, State.SELF_TEST, Trigger.START_PRESS, "self-test before the session")
        self.seqs.load(self._make_selftest(), Then.CONTACT)

    def _end_session(self, now: float, outcome: str, fault_code: str | None = None) -> None:
        sess = self.session
        if sess is None:
            return
        sess.end_t = now
        sess.outcome = outcome
        sess.fault_code = fault_code
        self.delivery.ended(now)
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
        if self.seqs.seq is not None:
            return self._run_sequence(inp)
        if st == State.IDLE:
            return Command()
        if st == State.DONE:
            if inp.now >= self.rating.done_until(self.state_since, DONE_SHOW_S):
                self._enter(inp.now, State.IDLE, Trigger.DONE_SHOWN, "ready")
            return Command()
        d = self.delivery
        if st == State.WAIT_CONTACT:
            return d.wait_contact(inp, ctx)
        if st in (State.RAMP_UP, State.TREAT):
            return d.treat(inp, ctx)
        if st == State.PAUSED:
            return d.paused(inp, ctx)
        if st in (State.RAMP_DOWN, State.REVERSING):
            return d.ramp_down(inp, ctx)
        return Command()

    # ------------------------------------------------------------------------------------------
    # Sequences (.relays): one command a period, and what follows when one ends
    # ------------------------------------------------------------------------------------------
    def _run_sequence(self, inp: Inputs) -> Command:
        seqs = self.seqs
        try:
            cmd = seqs.next_command(inp)
            if cmd.setpoint_ma > 0 and cmd.gate != "off":
                self.delivery.avg_cmd = cmd.setpoint_ma * (cmd.pulse_duty
                                                           if cmd.gate == "pulsed" else 1.0)
            else:
                self.delivery.avg_cmd = 0.0
            return cmd
        except StopIteration as done:
            seqs.seq = None
            return self._sequence_done(inp.now, done.value)
        except SelfTestFailure as f:
            seqs.seq = None
            self._emit(inp.now, "selftest", f.code, f.message)
            self.enter_fault(inp.now, f.code, f"{f.message}; {f.hint}")
            return Command()

    def _sequence_done(self, now: float, value) -> Command:
        seqs, d = self.seqs, self.delivery
        nxt = seqs.then
        if self.state == State.SELF_TEST:
            self._emit(now, "selftest", "ST-PASS", "self-test passed: " + ", ".join(
                f"{k} {v:.3g}" for k, v in (value or {}).items()))
        d.avg_cmd = 0.0
        if nxt is Then.READY:
            self._enter(now, State.IDLE, Trigger.SELF_TEST_PASSED, "ready")
        elif nxt is Then.STOPPED:
            # START was pressed during the session's self-test: the patient was never connected.
            self._end_session(now, "stopped")
            self._enter(now, State.DONE, Trigger.SELF_TEST_PASSED, "stopped")
        elif nxt is Then.CONTACT:
            self._enter(now, State.WAIT_CONTACT, Trigger.SELF_TEST_PASSED,
                        "put both hands in the water")
            d.contact_ok_since = None
            # the session's polarity, switched with the patient relay while HV is off
            seqs.polarity = self.start_polarity
            return seqs.begin(seqs.connect(), Then.PROBE)
        elif nxt is Then.PROBE:
            return d.probe()
        elif nxt is Then.RAMP_UP:
            d.from_zero()
            self._enter(now, State.RAMP_UP, Trigger.REVERSED,
                        "ramping up after the polarity reversal")
            return d.command(0.0)
        elif nxt is Then.DONE:
            if self.latch.latch_waiting(now):
                return Command()
            outcome = d.stop_outcome
            self._end_session(now, outcome)
            self._enter(now, State.DONE, Trigger.RAMP_ENDED, outcome)
        return Command()
