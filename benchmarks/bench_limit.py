"""The architecture's limit: the production code of a control period (the controller, the HAL,
the real adafruit driver and gpiozero) on a bus and pins that cost nothing.

    python benchmarks/bench_limit.py [--seconds 60] [--repeat 3]

However fast the simulator became, a simulated period could not cost less than this: the code
that runs on the Pi, in CPython, with nothing behind the I2C bus and the pins. So
``10 ms / this`` is the speed-up over real time that no simulator work can pass. It is the
control core's cost only: the device program adds its own work each period (the indicator, the
treatment log's trace, the course, the display's updater: ``firmware/device.py``), so a whole
unit's limit is lower still, and this figure is an upper bound of it.

How it is measured, so that the controller timed is a live, treating one (a controller fed
inputs recorded from another one's session latches a fault at once: its commands no longer
match the currents it reads, and it then costs less than a treating one):

1. ``--seconds`` of a hands session at 15 mA are played on the simulator through the control
   core (:class:`simtools.simdevice.SimDevice`: the HAL and the control loop that the device
   program uses, without its log, course and display), and every period's inputs and command
   are recorded: the counts of each conversion, the START, SELECT and trip lines with their
   edge times, the time.
2. The same periods are played again by a second control core, made by the same function
   (:func:`firmware.device.control_core`), whose bus is a :class:`FreeBus` (it answers the
   ADS1115's registers from the record, at once, and takes no virtual time) and whose pins have
   no physics behind them (gpiozero's mock pins, driven to the recorded input levels). The
   clock is set to each period's recorded time.
3. Each period's command and sample read must equal the live one's (checked in every period,
   else the figure is refused): so the timed controller goes through the same self-test,
   contact check, ramp and treatment. Only ``DeviceLoop.step`` is timed, best of ``--repeat``
   rounds; each round also times the live periods, so that the production code's share of a
   simulated period is a ratio measured on one state of the machine (a shared machine's speed
   moves by a third from one minute to the next).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller import Controller, Prescription  # noqa: E402
from firmware.device import control_core, controller_config  # noqa: E402
from hal import build_hardware  # noqa: E402
from sim.ads1115 import CONFIG_DEFAULT, MUX_INPUTS, POINTER_CONFIG  # noqa: E402
from sim.clock import VirtualClock  # noqa: E402
from sim.patient import Patient  # noqa: E402
from sim.pins import SimPinFactory  # noqa: E402
from simtools.simdevice import SimDevice  # noqa: E402

RX = Prescription(site="hands", target_ma=15.0, duration_min=20.0)
INPUT_ROLES = ("hw_trip", "start_button", "select_button")


class FreeBus:
    """An I2C bus with an ADS1115 at ``address`` that answers at once and costs no virtual time:
    the OS bit is always set (the conversion is done), and the conversion register gives the
    recorded count of the input the last configuration word selected."""

    def __init__(self, address: int, counts_by_ain: list[dict[int, int]]):
        self.address = address
        self.counts = counts_by_ain   # one {ain: count} a period
        self.period = 0               # set by the player before each period
        self._ain = 0
        self._config = CONFIG_DEFAULT

    def try_lock(self) -> bool:
        return True

    def unlock(self) -> None:
        pass

    def _check(self, address: int) -> None:
        if address != self.address:
            raise OSError(6, f"No device at I2C address 0x{address:02x}")

    def writeto(self, address, buffer, *, start=0, end=None):
        self._check(address)
        end = len(buffer) if end is None else end
        if end - start == 3 and buffer[start] & 0x03 == POINTER_CONFIG:
            self._config = (buffer[start + 1] << 8) | buffer[start + 2]
            self._ain = MUX_INPUTS[(self._config >> 12) & 0x7][0]   # single-ended: AINx

    def readfrom_into(self, address, buffer, *, start=0, end=None):
        self._check(address)

    def writeto_then_readfrom(self, address, buffer_out, buffer_in, *, out_start=0,
                              out_end=None, in_start=0, in_end=None):
        self._check(address)
        if buffer_out[out_start] & 0x03 == POINTER_CONFIG:
            value = self._config | 0x8000
        else:
            counts = self.counts[self.period]
            if self._ain not in counts:   # the live period had no sample: the bus fails
                raise OSError(5, f"I2C transaction with 0x{address:02x} failed (recorded)")
            value = counts[self._ain] & 0xFFFF
        buffer_in[in_start] = (value >> 8) & 0xFF
        buffer_in[in_start + 1] = value & 0xFF


def record(seconds: float, times: list[float] | None = None):
    """The live session's periods, (time, {ain: count}, inputs, command), and its controller's
    state after each period; ``times`` receives
    the time of each live ``DeviceLoop.step`` (the control core on the simulator, with the
    truth recorder and this recording)."""
    dev = SimDevice(RX, patient=Patient(load_ohm=2000.0))
    board = dev.board
    ains = [board.adc.channels[n] for n in ("current_a", "current_b", "electrode_v", "hv_rail")]
    periods = []
    states: list[str] = []      # the controller's state after each period

    def keep(_loop, inp, cmd):
        counts = None if inp.sample is None else dict(zip(ains, inp.sample.raw, strict=True))
        periods.append((inp.now, counts, inp, cmd))
        states.append(dev.controller.state)

    dev.loop.observers.append(keep)
    pressed_at = 1.0
    perf = time.perf_counter
    while dev.clock.now() < seconds:
        t = dev.clock.now()
        dev.rig.set_button(pressed_at <= t < pressed_at + 0.2)
        t0 = perf()
        dev.loop.step()
        if times is not None:
            times.append(perf() - t0)
        dev.loop.sleep_to_next()
    return board, periods, states


def replay(board, periods) -> tuple[list[float], int]:
    """Play the recorded periods on the free bus and pins; the time of each ``DeviceLoop.step``
    and the number of periods whose command, or sample read, differs from the live one."""
    clock = VirtualClock()
    bus = FreeBus(board.adc.address, [c or {} for _t, c, _inp, _cmd in periods])
    factory = SimPinFactory(clock, listener=None)
    hw = build_hardware(board, pin_factory=factory, i2c=bus, clock=clock.now)
    _ctrl, loop = control_core(hw, clock, board, RX, None)
    pins = {role: (factory.pin_by_bcm(board.gpio[role].bcm), board.gpio[role].active_high)
            for role in INPUT_ROLES}
    times, differ = [], 0
    perf = time.perf_counter
    for k, (t, _c, inp, cmd) in enumerate(periods):
        clock.t = t
        # each input line at the level the live period read, the trip stamped with its edge
        for role, active, since in (("hw_trip", inp.hw_trip, inp.trip_edge_t),
                                    ("start_button", inp.start_pressed, None),
                                    ("select_button", inp.select_pressed, None)):
            pin, active_high = pins[role]
            level = active == active_high
            if pin._state != level:
                pin.drive_at(level, t if since is None else since)
        bus.period = k
        t0 = perf()
        got = loop.step()
        times.append(perf() - t0)
        read = loop.last_sample.raw if loop.last_sample is not None else None
        differ += got != cmd or read != (inp.sample.raw if inp.sample is not None else None)
    return times, differ


def controller_alone(board, periods) -> tuple[list[float], int]:
    """The controller alone on the recorded inputs, from the first period (so that it is the
    live controller's twin, not a controller that meets a session in the middle): the time of
    each ``Controller.step`` and the number of commands that differ from the live ones."""
    ctrl = Controller(RX, None, controller_config(board))
    times, differ = [], 0
    perf = time.perf_counter
    for _t, _c, inp, cmd in periods:
        t0 = perf()
        got = ctrl.step(inp)
        times.append(perf() - t0)
        differ += got != cmd
    return times, differ


def _treating_us(times: list[float], states: list[str]) -> float:
    """The mean over the periods the live controller spent in TREAT, in µs."""
    treating = [t for t, state in zip(times, states, strict=True) if state == "TREAT"]
    return sum(treating) / len(treating) * 1e6


def measure(seconds: float = 60.0, repeat: int = 3) -> dict:
    """Best of ``repeat`` rounds, each of a live recording, the controller alone and the free
    replay one after another (so that each round's share is measured on one state of the
    machine), averaged over the periods spent treating (TREAT): ``us``, the production code of
    a period; ``controller_us``, the controller's part; ``live_us``, the same periods on the
    simulator; ``share``, the median of the rounds' ``us / live_us``; ``limit_x``, 10 ms over
    ``us``."""
    rounds = []
    for _ in range(repeat):
        live: list[float] = []
        board, periods, states = record(seconds, live)
        if states[-1] != "TREAT":
            raise SystemExit(f"the live session is in {states[-1]} after {seconds:g} s, not "
                             "treating")
        figures = [_treating_us(live, states)]
        for fn, what in ((controller_alone, "the controller alone"),
                         (replay, "the free replay")):
            times, differ = fn(board, periods)
            if differ:
                raise SystemExit(f"{what} commanded otherwise than the live session in {differ} "
                                 f"of {len(periods)} periods: no figure")
            figures.append(_treating_us(times, states))
        rounds.append(figures)
    us = min(r[2] for r in rounds)
    return {"us": us, "controller_us": min(r[1] for r in rounds),
            "live_us": min(r[0] for r in rounds),
            "share": statistics.median(r[2] / r[0] for r in rounds),
            "periods": len(periods), "limit_x": 0.01 / (us / 1e6)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = ap.parse_args(argv)
    r = measure(args.seconds, args.repeat)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"controller alone, a live treating one:             {r['controller_us']:6.1f} µs "
          f"a period")
    print(f"production code of a period on a free bus and pins: {r['us']:6.1f} µs "
          f"({r['periods']} periods replayed, every command and sample as in the live session, "
          f"which was treating at the end); the limit: {r['limit_x']:.0f}x real time")
    print(f"the same periods on the simulator (the control core, the emulated chips, the "
          f"physics, the truth recorder): {r['live_us']:.1f} µs; the production code's share "
          f"{100 * r['share']:.0f} % (median of the rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
