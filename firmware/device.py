"""The device program: everything the unit runs, composed once, the same on the Pi and in the
simulator.

:class:`DeviceProgram` takes the hardware bundle and the clock (from :mod:`firmware.backends`)
and builds the rest: calibration and settings from the data folder, the controller, the control
loop, the treatment log, the panel indications, the systemd notifier. ``run()`` loops until told
to stop; ``shutdown()`` drives the safe state first, then closes the log.
"""

from __future__ import annotations

from pathlib import Path

from controller import Controller, ControllerConfig
from controller.states import State
from hardware import Board

from . import calibration as calmod
from . import settings
from .course import CourseService, RtcCalendar
from .indication import Indicator
from .loop import DeviceLoop, Pacer
from .panelscreen import ScreenUpdater
from .sdnotify import Notifier
from .store import StoreError
from .treatlog import FIRST_PROFILE, TreatmentLog, _utc


def controller_config(board: Board) -> ControllerConfig:
    """The hardware facts the controller needs, from the board file (its single source)."""
    return ControllerConfig(test_load_ohm=board.output.test_load_ohm,
                            hv_nominal=board.hv.nominal_v, hv_tolerance=board.hv.tolerance,
                            sink_headroom_v=board.setpoint.sink_headroom_v,
                            r_sense_ohm=board.sense.r_s1_ohm + board.sense.r_s2_ohm)


def control_core(hw, clock, board: Board, rx, limits, *, calibration_ok: bool = True,
                 calibration_problem: str = "", settings_problem: str = ""):
    """The controller and the control loop on a hardware bundle: the core that
    :class:`DeviceProgram` builds its program around, and the one a bench of the control alone
    uses (``simtools.simdevice.SimDevice``: no log, no course), so that both are made in one
    place. Returns ``(controller, loop)``."""
    controller = Controller(rx, limits, controller_config(board),
                            calibration_ok=calibration_ok,
                            calibration_problem=calibration_problem,
                            settings_problem=settings_problem)
    return controller, DeviceLoop(hw, controller, clock)


class DeviceProgram:
    """:param hw: the hardware bundle. :param clock: ``now()``/``sleep()``.
    :param board: the hardware description. :param data_dir: log, calibration, settings.
    :param notifier: systemd notifier (default: from the environment).
    :param first_profile: the profile id the prescription gets when the treatment log is
        upgraded to profiles, and the profile selected when none was selected before.
    :param read_clock_at_start: read the real-time clock as the program starts (a unit); False:
        at the first need (the first START, ``clock``-dependent commands), which the scenario
        runner uses so that a scenario's control periods are not moved by the clock's read on
        the simulated bus (:mod:`firmware.course`).
    :raises TreatmentLogError: the treatment log cannot be opened (a newer version, a failed
        upgrade); the file is left as it was.
    """

    def __init__(self, hw, clock, *, board: Board, data_dir: Path,
                 notifier: Notifier | None = None, first_profile: str = FIRST_PROFILE,
                 read_clock_at_start: bool = True):
        self.hw = hw
        self.clock = clock
        self.board = board
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.notifier = notifier or Notifier()
        self.stop_requested = False
        # The prescription file's record: on the first start with a log of version 1, the
        # upgrade makes it the first profile, and every session already logged is its.
        self.first_profile = first_profile
        # The dates: the real-time clock, carried on by the program's clock (firmware.course);
        # the log's rows are stamped by it once it is known.
        self.calendar = RtcCalendar(hw.rtc, clock)
        if read_clock_at_start:
            self.calendar.read()
        self.log = TreatmentLog(self.data_dir / "treatment.sqlite",
                                prescription=settings.rx_record(self.data_dir),
                                first_profile=first_profile,
                                utc=lambda: self.calendar.stamp() or _utc())
        interrupted = self.log.mark_interrupted()

        # Calibration: the device refuses to treat without a valid record.
        cal_ok, cal_problem = True, ""
        try:
            self.calibration = calmod.load(self.data_dir, board)
            sp, ca, cb = self.calibration.hal_objects()
            hw.output.calibration = sp
            hw.afe.cal_a, hw.afe.cal_b = ca, cb
        except (StoreError, ValueError) as exc:
            self.calibration = None
            cal_ok, cal_problem = False, f"calibration record {exc}"
        rx, limits, settings_problem = settings.load(self.data_dir)

        self.controller, self.loop = control_core(
            hw, clock, board, rx, limits, calibration_ok=cal_ok,
            calibration_problem=cal_problem, settings_problem=settings_problem)
        self.indicator = Indicator(hw.panel)
        c = self.controller
        c.events.listeners.append(self._on_event)
        c.session_listeners.append(self.log.end_session)
        # The course: the active profile, the gate at START, the advice after a session.
        self.course = CourseService(self, self.calendar, first_profile=first_profile)
        now = clock.now()
        for sid in interrupted:
            c.events.emit(now, "warning", "SESSION-INTERRUPTED",
                          f"session {sid} was cut short by a power loss or crash; marked "
                          "interrupted in the log")
        if self.calibration is not None:
            age = self.calibration.age_days()
            if age is not None and age > calmod.WARN_AFTER_DAYS:
                c.events.emit(now, "warning", "CAL-OLD", f"calibration is {age} days old "
                              "(older than 12 months): recalibrate")
        self.loop.observers.append(self._after_period)
        # The patient's display, drawn after the control work, a page a period at most
        # (firmware.panelscreen); START is refused while it does not show (H-DISPLAY-1).
        self.screen = ScreenUpdater(self, hw.display)
        self.loop.observers.append(self.screen.after_period)
        self.course.display_problem = self.screen.not_showing
        self.notifier.ready()

    # --- wiring -----------------------------------------------------------------------------------
    def _on_event(self, ev) -> None:
        if ev.code == "SESSION-START":
            pid = self.course.session_profile
            self.log.start_session(ev.t, self.controller.rx, profile_id=pid)
        self.log.event(ev)
        self.indicator.on_event(ev)

    def _after_period(self, loop, inp, cmd) -> None:
        c = self.controller
        s = inp.sample
        measured = s is not None and max(s.current_a_ma, s.current_b_ma) > 0.1
        self.indicator.update(inp.now, c.state, cmd.hv or measured)
        if c.session is not None:
            self.log.trace(inp.now, c.state, cmd.setpoint_ma, s, c.load_estimate)
            self.course.after_period(c.state, cmd.setpoint_ma)
        self.notifier.tick(inp.now)

    # --- running ----------------------------------------------------------------------------------
    def step(self) -> None:
        self.loop.step()
        self.loop.sleep_to_next()

    def run(self, until=None, *, before=None, after=None, speed: float | None = None) -> None:
        """Run periods until ``stop_requested`` (or ``until()`` returns True): the one loop
        that drives the unit, on the Pi (``ionto device``) and in the simulator (``ionto device
        --sim``, the scenario runner, courses and campaigns).

        :param before: called before each period (the simulated world's moves: a scenario's
            events), :param after: after it (what watches the period: the ground truth, the
            terminal panel). :param speed: hold the program's clock to at most ``speed`` times
            the computer's time (a simulated clock; None: as fast as it goes; on the Pi the
            clock is the real one and the period's sleep paces it).
        """
        pacer = Pacer(self.clock, speed) if speed is not None else None
        while not self.stop_requested and not (until is not None and until()):
            if before is not None:
                before()
            self.step()
            if after is not None:
                after()
            if pacer is not None:
                pacer.pace()

    def request_stop(self, *_args) -> None:
        self.stop_requested = True

    def shutdown(self, reason: str = "shutdown") -> None:
        """Safe state first, then the log closed."""
        self.loop.safe()
        try:
            self.indicator.update(self.clock.now(),
                                  State.FAULT if reason != "shutdown" else State.IDLE,
                                  False)
            self.hw.panel.set_colour("off")
        except Exception:  # noqa: BLE001 - the panel is not safety-relevant at shutdown
            pass
        # A session cut short by a stop: recorded as interrupted, committed.
        self.controller.interrupt(self.clock.now(), reason)
        self.notifier.stopping()
        self.log.close()
