"""The device's control loop: read, decide, write, kick the watchdog, sleep to the next period.

The loop is the only place where the controller meets the hardware. It is the same on the Pi and
in the simulator; only the hardware bundle and the clock differ.

Order within a period: one ADC sample (4.65 ms at 860 SPS), the trip line, the buttons (START,
then SELECT), the controller's decision, the outputs, then one WDI edge. The watchdog is kicked
from this loop itself, never from a thread, so a loop that hangs stops the edges and the
external supervisor cuts HV after 200 ms.

Outputs are applied in an order that keeps relays dead-switched: the setpoint and the gate first,
HV off before any relay moves, relays, then HV on. If the hardware layer refuses anything, the
loop drives the safe state and latches a fault.
"""

from __future__ import annotations

import time

from controller import PERIOD, Command, Controller, Inputs
from hal import AdcError, Hardware


class DeviceLoop:
    def __init__(self, hw: Hardware, controller: Controller, clock, *, period: float = PERIOD):
        self.hw = hw
        self.controller = controller
        self.clock = clock
        self.period = period
        self.next_t = clock.now()
        self.last_cmd = Command()
        self.last_sample = None
        self.periods = 0
        self.observers: list = []   # called as fn(loop, inputs, command) after each period
        self.observer_errors: list[str] = []

    def read(self) -> Inputs:
        hw = self.hw
        try:
            # The skin test's step samples read the electrode voltage first (hal/afe.py).
            sample = hw.afe.sample(electrode_first=True) if self.last_cmd.electrode_first \
                else hw.afe.sample()
            error = None
        except AdcError as exc:
            sample, error = None, str(exc)
        self.last_sample = sample
        now = self.clock.now()
        tripped = hw.guard.tripped
        edge = None
        if tripped:
            active = hw.guard.trip_active_for
            edge = now - active if active is not None else None
        # SELECT is read after START at the same instant: in the simulator an input's read
        # brings the physics up to the present, which START's read has done already.
        start = hw.panel.start_pressed
        return Inputs(now=now, sample=sample, adc_error=error, start_pressed=start,
                      hw_trip=tripped, trip_edge_t=edge, select_pressed=hw.panel.select_pressed)

    def apply(self, cmd: Command) -> None:
        out = self.hw.output
        out.set_setpoint_ma(cmd.setpoint_ma)
        if cmd.gate == "off":
            out.gate_off()
        elif cmd.gate == "dc":
            out.gate_dc()
        else:
            out.gate_pulsed(cmd.pulse_hz, cmd.pulse_duty)
        if not cmd.hv:
            out.hv_off()
        if not cmd.patient_relay:
            out.set_patient_relay(False)
        if not cmd.test_load:
            out.set_test_load(False)
        out.set_polarity(cmd.polarity)
        if cmd.test_load:
            out.set_test_load(True)
        if cmd.patient_relay:
            out.set_patient_relay(True)
        if cmd.hv:
            out.hv_on()
        if cmd.trip_reset:
            self.hw.guard.reset_trip()
        self.hw.panel.set_output_led(cmd.output_led or out.hv_enabled)

    def step(self) -> Command:
        """One control period (without the sleep)."""
        inp = self.read()
        ctrl = self.controller
        try:
            cmd = ctrl.step(inp)
            self.apply(cmd)
        except Exception as exc:  # noqa: BLE001 - any doubt: safe state, then say why
            self.safe()
            ctrl.enter_fault(inp.now, "SW-ERROR", f"{type(exc).__name__}: {exc}")
            cmd = Command()
        try:
            self.hw.guard.kick()
        except Exception as exc:  # noqa: BLE001 - no WDI edge: the supervisor will cut HV
            self.safe()
            ctrl.enter_fault(inp.now, "SW-ERROR", f"watchdog output: {exc}")
        self.last_cmd = cmd
        self.periods += 1
        for fn in self.observers:
            try:
                fn(self, inp, cmd)
            except Exception as exc:  # noqa: BLE001 - the log, panel or console failing
                self.observer_errors.append(f"{type(exc).__name__}: {exc}")  # must not stop
                del self.observer_errors[:-20]                                # the control
        return cmd

    def safe(self) -> None:
        try:
            self.hw.safe()
        except Exception:  # noqa: BLE001 - the safe state is tried line by line in hal
            pass

    def sleep_to_next(self) -> None:
        self.next_t += self.period
        now = self.clock.now()
        if now > self.next_t:  # overran: do not try to catch up, start counting again
            self.next_t = now
        self.clock.sleep(self.next_t - now)

    def run_for(self, seconds: float) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            self.step()
            self.sleep_to_next()


class Pacer:
    """Holds a simulated clock to at most ``speed`` times the computer's time: after each
    period, sleep for as long as the simulation is ahead (``ionto device --sim --speed N``,
    ``ionto sim --speed N``). Behind, it never hurries: the simulated periods are the same
    either way, only the wall time differs."""

    def __init__(self, clock, speed: float, *, wall=time.monotonic, sleep=time.sleep):
        if speed <= 0:
            raise ValueError(f"speed must be above 0, not {speed}")
        self.clock = clock
        self.speed = speed
        self._wall, self._sleep = wall, sleep
        self.wall0 = wall()
        self.sim0 = clock.now()

    def pace(self) -> None:
        ahead = (self.clock.now() - self.sim0) / self.speed - (self._wall() - self.wall0)
        if ahead > 0:
            self._sleep(ahead)
