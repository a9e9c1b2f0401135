"""The control core on simulated hardware, for tests and benchmarks of the control alone.

The device program (:class:`firmware.device.DeviceProgram`) is the one composition of the unit,
on the Pi and in the simulator (``ionto device --sim``, the scenario runner, courses,
campaigns). :class:`SimDevice` is a bench of its core only: the HAL on the simulator's pins and
bus, and the controller and its loop made by the same function as the program's
(:func:`firmware.device.control_core`), without the treatment log, the course and the console,
so that a test of a rule or of the regulation sees nothing else. It adds the world's side: a
button a simulated person presses, and a :class:`~sim.truth.TruthRecorder` that watches the true
patient current.
"""

from __future__ import annotations

from controller import Limits, Prescription
from controller.states import State
from firmware.device import control_core
from hardware import Board, load_board
from sim.patient import Patient
from sim.truth import TruthRecorder

from .backend import sim_hardware


class SimDevice:
    def __init__(self, rx: Prescription | None = None, *, patient: Patient | None = None,
                 limits: Limits | None = None, board: Board | None = None, seed: int = 0,
                 calibration_ok: bool = True, calibration_problem: str = "",
                 sink_gain: float = 1.0):
        self.board = board or load_board()
        self.hw, self.rig = sim_hardware(self.board, patient=patient or Patient(), seed=seed,
                                         sink_gain=sink_gain)
        self.clock = self.rig.clock
        self.controller, self.loop = control_core(
            self.hw, self.clock, self.board, rx or Prescription(), limits,
            calibration_ok=calibration_ok, calibration_problem=calibration_problem)
        self.truth = TruthRecorder(self.rig, target_ma=self.target_ma)
        self.loop.observers.append(lambda *_: self.truth.sample())
        self.fault_times: list[float] = []   # every fault the device latched, in order
        self.controller.events.listeners.append(self._on_event)

    def _on_event(self, ev) -> None:
        if ev.kind == "fault":
            self.fault_times.append(ev.t)
        elif ev.code == "SESSION-START":
            self.truth.session_started(ev.t)   # ends an earlier fault's episode (sim.truth)

    def target_ma(self) -> float | None:
        """The target the device is working to (``Controller.target_now_ma``)."""
        return self.controller.target_now_ma

    @property
    def state(self) -> str:
        return self.controller.state

    def run(self, seconds: float) -> None:
        self.loop.run_for(seconds)

    def run_until(self, predicate, timeout: float) -> bool:
        end = self.clock.now() + timeout
        while self.clock.now() < end:
            if predicate(self):
                return True
            self.loop.step()
            self.loop.sleep_to_next()
        return predicate(self)

    def run_until_state(self, state: str, timeout: float) -> bool:
        return self.run_until(lambda d: d.state == state, timeout)

    def press(self, hold_s: float = 0.2) -> None:
        self.rig.set_button(True)
        self.run(hold_s)
        self.rig.set_button(False)

    def select(self, hold_s: float = 0.2) -> None:
        """The patient presses SELECT for ``hold_s``."""
        self.rig.set_select_button(True)
        self.run(hold_s)
        self.rig.set_select_button(False)

    def start_and_treat(self, timeout: float = 120.0) -> bool:
        """Power-on self-test, press START, run until TREAT."""
        self.run_until_state(State.IDLE, 5.0)
        self.press()
        return self.run_until_state(State.TREAT, timeout)

    def close(self) -> None:
        self.loop.safe()
        self.hw.close()
