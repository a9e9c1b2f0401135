"""``ionto``: the command line of the iontophoresis controller.

Every subcommand prints help with ``-h``. Errors a person can fix are printed as one line with a
hint and exit status 1 (or 2 for a bad input file); they are never a stack trace.
"""

from __future__ import annotations

import argparse
import sys

from hardware import BoardConfigError, load_board


def _board(args):
    return load_board(args.board) if getattr(args, "board", None) else load_board()


def cmd_hw_demo(args) -> int:
    """Step the setpoint through a load on the simulated board and print what the ADC reads and
    what truly flows. The production HAL, gpiozero devices and adafruit driver run unchanged."""
    from sim.patient import Patient

    from .backends import sim_hardware

    board = _board(args)
    hw, rig = sim_hardware(board, patient=Patient(load_ohm=args.load), seed=args.seed)
    clock = rig.clock
    out, guard = hw.output, hw.guard

    def run_for(seconds):
        end = clock.now() + seconds
        while clock.now() < end:
            guard.kick()
            clock.sleep(0.01)

    print(f"Simulated board '{board.name}', patient load {args.load:.0f} ohm at full immersion, "
          f"HV {board.hv.nominal_v:.0f} V, compliance {board.hv.compliance_v:.0f} V")
    print(f"{'setpoint mA':>11} {'ADC A mA':>9} {'ADC B mA':>9} {'tray V':>7} {'HV V':>6} "
          f"{'true mA':>8}  {'note'}")
    guard.kick()
    out.set_polarity(1)
    out.set_patient_relay(True)
    run_for(0.05)
    out.gate_dc()
    out.hv_on()
    run_for(0.05)
    steps = [0.0, 2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    for ma in steps:
        out.set_setpoint_ma(ma)
        run_for(0.2)
        s = hw.afe.sample()
        truth = rig.truth()
        note = "compliance limit" if rig.physics.limited else ""
        print(f"{ma:11.2f} {s.current_a_ma:9.3f} {s.current_b_ma:9.3f} {s.electrode_v:7.2f} "
              f"{s.hv_v:6.2f} {truth['patient_ma']:8.3f}  {note}")
    hw.safe()
    run_for(0.1)
    truth = rig.truth()
    print(f"safe state: HV {truth['supply_v']:.2f} V, true current {truth['patient_ma']:.4f} mA, "
          f"patient relay {'closed' if truth['patient_relay'] else 'open'}; "
          f"{clock.now():.2f} s simulated")
    hw.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ionto",
        description="Tap-water iontophoresis controller: device program, simulator and tools.")
    p.add_argument("--board", metavar="FILE",
                   help="hardware description (default: the board.toml shipped in hardware/)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("hw-demo", help="step the setpoint on the simulated board and print "
                       "ADC readings against the true current",
                       description=cmd_hw_demo.__doc__)
    d.add_argument("--load", type=float, default=2000.0, metavar="OHM",
                   help="patient load at full immersion (default 2000)")
    d.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    d.set_defaults(func=cmd_hw_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except BoardConfigError as exc:
        print(f"ionto: hardware file error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
