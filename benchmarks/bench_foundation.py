"""Benchmark of the hardware layer on the simulator (a benchmark, not a test: it prints figures).

    python benchmarks/bench_foundation.py [--seconds 60] [--repeat 3]

Prints, best of --repeat runs on one core:
- us per four-channel sample through the real adafruit driver on the ADS1115 emulator;
- us per setpoint write (gpiozero PWMOutputDevice on the simulated pins, physics notified);
- simulated seconds per wall second of a bare 100 Hz loop that reads four channels, writes the
  setpoint and toggles WDI (no target of its own: the targets are the session's, the test
  suite's and CI's, README.md "Performance").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hal import build_hardware  # noqa: E402
from hardware import load_board  # noqa: E402
from sim.patient import Patient  # noqa: E402
from sim.rig import SimRig  # noqa: E402

PERIOD = 0.01


def powered_rig():
    board = load_board()
    rig = SimRig(board, patient=Patient(load_ohm=2000.0))
    hw = build_hardware(board, **rig.hardware_kwargs())
    hw.guard.kick()
    hw.output.set_patient_relay(True)
    rig.clock.sleep(0.02)
    hw.guard.kick()
    hw.output.gate_dc()
    hw.output.hv_on()
    hw.output.set_setpoint_ma(10.0)
    for _ in range(20):
        hw.guard.kick()
        rig.clock.sleep(PERIOD)
    return rig, hw


def best(fn, repeat):
    return min(fn() for _ in range(repeat))


def bench_sample(n):
    rig, hw = powered_rig()
    t0 = time.perf_counter()
    for _ in range(n):
        hw.afe.sample()
        hw.guard.kick()
    return (time.perf_counter() - t0) / n * 1e6


def bench_setpoint(n):
    rig, hw = powered_rig()
    values = [10.0 + (i % 50) * 0.01 for i in range(n)]
    t0 = time.perf_counter()
    for v in values:
        hw.output.set_setpoint_ma(v)
    return (time.perf_counter() - t0) / n * 1e6


def bench_loop(sim_seconds):
    rig, hw = powered_rig()
    clock, out, afe, guard = rig.clock, hw.output, hw.afe, hw.guard
    start_sim = clock.now()
    next_t = start_sim
    end = start_sim + sim_seconds
    i = 0
    t0 = time.perf_counter()
    while clock.now() < end:
        afe.sample()
        out.set_setpoint_ma(10.0 + (i % 50) * 0.01)
        guard.kick()
        next_t += PERIOD
        clock.sleep(next_t - clock.now())
        i += 1
    wall = time.perf_counter() - t0
    return wall, (clock.now() - start_sim) / wall, wall / i * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="simulated seconds of loop")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sample_us = best(lambda: bench_sample(5000), args.repeat)
    setpoint_us = best(lambda: bench_setpoint(20000), args.repeat)
    runs = [bench_loop(args.seconds) for _ in range(args.repeat)]
    wall, speed, period_us = max(runs, key=lambda r: r[1])
    print(f"four-channel sample (real driver on emulator): {sample_us:8.1f} us")
    print(f"setpoint write (gpiozero PWM pin + physics):    {setpoint_us:8.1f} us")
    print(f"bare 100 Hz loop: {period_us:.1f} us per period, {speed:.0f}x real time "
          f"({args.seconds:.0f} s simulated in {wall:.2f} s)")


if __name__ == "__main__":
    main()
