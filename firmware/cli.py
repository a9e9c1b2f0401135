"""``ionto``: the command line of the iontophoresis controller.

Every subcommand prints help with ``-h``. Errors a person can fix are printed as one line with a
hint and exit status 1 (or 2 for a bad input file); they are never a stack trace.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def cmd_device(args) -> int:
    from .run_device import run
    return run(args)


def _open_log(args):
    from .config import load_config
    from .treatlog import TreatmentLog
    data_dir = Path(args.data_dir) if args.data_dir else load_config(args.config).data_dir
    path = data_dir / "treatment.sqlite"
    if not path.exists():
        raise SystemExit(_err(f"no treatment log at {path}; give --data-dir"))
    return TreatmentLog(path)


def _err(msg: str) -> int:
    print(f"ionto log: {msg}", file=sys.stderr)
    return 1


def cmd_log(args) -> int:
    log = _open_log(args)
    try:
        if args.log_cmd == "list":
            print(f"{'id':>4} {'start (UTC)':25s} {'outcome':12s} {'treat min':>9} "
                  f"{'dose mA*min':>11} {'peak mA':>8} {'fault':10s}")
            for r in log.sessions():
                print(f"{r['id']:>4} {r['start_utc']:25s} {r['outcome']:12s} "
                      f"{(r['treat_s'] or 0) / 60:9.1f} {r['dose_ma_min'] or 0:11.1f} "
                      f"{r['peak_ma'] or 0:8.2f} {r['fault_code'] or '':10s}")
            return 0
        if args.log_cmd == "audit":
            from .console.service_cmds import audit_line
            for r in log.audit_rows(args.last):
                print(audit_line(r))
            return 0
        row = log.session(args.id)
        if row is None:
            return _err(f"no session {args.id}; 'ionto log list' shows the sessions")
        if args.log_cmd == "show":
            for k, v in row.items():
                print(f"{k:16s} {v}")
            print("events:")
            for e in log.events_of(args.id):
                print(f"  {e['t_s']:10.2f} {e['kind']:9s} {e['code']:22s} {e['message']}")
            return 0
        if args.log_cmd == "export":
            text = log.export_csv(args.id)
            if args.out:
                Path(args.out).write_text(text)
            else:
                sys.stdout.write(text)
            return 0
        if args.log_cmd == "plot":
            from .plots import plot_logged_session
            plot_logged_session(log, args.id, Path(args.out))
            print(f"wrote {args.out}")
            return 0
    finally:
        log.close()
    return 0


def cmd_tech(args) -> int:
    """Provision the technician PIN on the device itself (there is no default PIN)."""
    from .config import load_config
    from .console import provision_pin
    data_dir = Path(args.data_dir) if args.data_dir else load_config(args.config).data_dir
    if args.pin_stdin:
        first = second = sys.stdin.readline().strip()
    else:
        import getpass
        first = getpass.getpass("new technician PIN (6-12 digits): ")
        second = getpass.getpass("again: ")
    if first != second:
        print("ionto tech: the two PINs differ; nothing was changed", file=sys.stderr)
        return 1
    try:
        provision_pin(data_dir, first)
    except ValueError as exc:
        print(f"ionto tech: {exc}; nothing was changed", file=sys.stderr)
        return 1
    print(f"technician PIN set in {data_dir}")
    return 0


def cmd_sim(args) -> int:
    """Play a scenario file against the complete device program on simulated hardware."""
    import json

    from sim.scenario import ScenarioError, load_scenario

    from .simrun import check_expect, prescription_of, run_scenario
    try:
        sc = load_scenario(args.scenario)
        prescription_of(sc)
    except ScenarioError as exc:
        print(f"ionto sim: invalid scenario: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a loader bug: exit 1 in one line, nothing simulated
        print(f"ionto sim: internal error while reading {args.scenario}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    speed = None
    if args.speed != "max":
        try:
            speed = float(args.speed)
            if not speed > 0:
                raise ValueError
        except ValueError:
            print(f"ionto sim: --speed {args.speed!r}: allowed: max or a factor above 0",
                  file=sys.stderr)
            return 2
    out = Path(args.out) if args.out else Path("sim-out") / Path(args.scenario).stem
    progress = not args.quiet and sys.stderr.isatty()
    try:
        summary = run_scenario(sc, out, plot=args.plot, progress=progress, speed=speed)
    except Exception as exc:  # noqa: BLE001 - exit 1: an internal error, said in one line
        print(f"ionto sim: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        keys = ("outcome", "fault", "treatment_s", "dose_ma_min", "dose_ma_min_measured",
                "peak_ma", "max_step_ma", "max_density_ma_cm2", "sim_s", "wall_s", "speed")
        print(json.dumps({k: summary[k] for k in keys}, indent=1))
        bad = check_expect(sc, summary)
        if sc.expect:
            print("expect: " + ("all hold" if not bad else "; ".join(bad)))
        print(f"wrote {out}/summary.json, trace.csv" + (", session.png" if args.plot else ""))
    return 0


def cmd_campaign(args) -> int:
    from .campaign import run_campaign
    report = run_campaign(args.runs, args.seed, Path(args.out), jobs=args.jobs,
                          progress=not args.quiet and sys.stderr.isatty(), profile=args.profile,
                          first=args.first)
    part = f", runs {args.first}..{args.first + args.runs - 1}" if args.first else ""
    print(f"{report['runs']} {args.profile} runs (seed {args.seed}{part}) in "
          f"{report['wall_s']:.1f} s ({report['runs_per_min']} runs/min, {args.jobs} process(es)); "
          f"outcomes {report['outcomes']}; worst {report['worst']}")
    if report["violations"]:
        print(f"{len(report['violations'])} run(s) broke a safety property; replay them from "
              f"{args.out}/violations/")
        return 3
    print("no safety property was broken")
    return 0


def build_campaign_parser() -> argparse.ArgumentParser:
    from .campaign import PROFILES
    c = argparse.ArgumentParser(prog="ionto sim campaign",
                                description="Random scenarios hunting for unsafe behaviour.")
    c.add_argument("--runs", type=int, required=True)
    c.add_argument("--seed", type=int, required=True)
    c.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    c.add_argument("--profile", choices=PROFILES, default="full",
                   help="full: whole sessions (default); short: each run stops after 20-150 "
                   "simulated s (self-test, contact, ramp, early treatment), the CI gate's profile")
    c.add_argument("--first", type=int, default=0,
                   help="index of the first run (default 0): a large campaign can be played in "
                   "parts with the result of one run")
    c.add_argument("--out", default="sim-out/campaign", help="default: sim-out/campaign")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_campaign)
    return c


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

    dv = sub.add_parser("device", help="run the device program (on the Pi, or with --sim on "
                        "the simulator)", description=(
                            "Run the device program. Without --sim it drives the real unit and "
                            "fails with a hint on a computer without its hardware."))
    dv.add_argument("--sim", action="store_true",
                    help="run on the simulated hardware (never chosen automatically)")
    dv.add_argument("--speed", default="1", metavar="N|max",
                    help="simulation speed: N times real time, or max (default 1)")
    dv.add_argument("--config", metavar="FILE", help="device configuration "
                    "(default: firmware/config.default.toml)")
    dv.add_argument("--data-dir", metavar="DIR", help="treatment log, calibration and settings "
                    "(default: from the configuration; with --sim: ./sim-out/device-data)")
    dv.add_argument("--load", type=float, default=2000.0, metavar="OHM",
                    help="--sim: the simulated patient's load (default 2000)")
    dv.add_argument("--seed", type=int, default=0, help="--sim: noise seed")
    dv.add_argument("--start", action="store_true",
                    help="--sim: press START once the device is ready")
    dv.add_argument("--exit-after", type=float, metavar="S",
                    help="--sim: stop after S simulated seconds")
    dv.add_argument("--quiet", action="store_true", help="--sim: no terminal panel")
    dv.set_defaults(func=cmd_device)

    lg = sub.add_parser("log", help="read the treatment log (on any computer)")
    lg.add_argument("--data-dir", metavar="DIR", help="folder holding treatment.sqlite")
    lg.add_argument("--config", metavar="FILE", help="device configuration (for its data dir)")
    lsub = lg.add_subparsers(dest="log_cmd", metavar="list|show|export|plot|audit",
                             required=True)
    lsub.add_parser("list", help="one line per session")
    au = lsub.add_parser("audit", help="the technician's audit trail: logins, logouts, "
                         "lockouts, changes with old -> new and the console they came from")
    au.add_argument("--last", type=int, metavar="N", help="only the newest N rows")
    for name, helptext in (("show", "a session and its events"),
                           ("export", "a session's 1 Hz trace as CSV"),
                           ("plot", "a session's trace as a PNG")):
        sp = lsub.add_parser(name, help=helptext)
        sp.add_argument("id", type=int)
        if name == "export":
            sp.add_argument("--csv", action="store_true", help="CSV (the only format)")
            sp.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
        if name == "plot":
            sp.add_argument("--out", metavar="FILE.png", required=True)
    lg.set_defaults(func=cmd_log)

    sm = sub.add_parser("sim", help="play a scenario file (or 'sim campaign ...')",
                        description="Play SCENARIO.toml against the complete device program "
                        "on simulated hardware and write summary.json and trace.csv. "
                        "'ionto sim campaign --runs N --seed S [--jobs J] [--out DIR]' runs a "
                        "random campaign.")
    sm.add_argument("scenario", metavar="SCENARIO.toml")
    sm.add_argument("--out", metavar="DIR", help="default: sim-out/<scenario file stem>/")
    sm.add_argument("--speed", default="max", metavar="max|FACTOR")
    sm.add_argument("--plot", action="store_true", help="also write session.png")
    sm.add_argument("--quiet", action="store_true", help="no progress line, no summary")
    sm.set_defaults(func=cmd_sim)

    tc = sub.add_parser("tech", help="technician set-up on the device (set-pin)")
    tsub = tc.add_subparsers(dest="tech_cmd", metavar="set-pin", required=True)
    sp = tsub.add_parser("set-pin", help="set the console PIN (stored as a salted scrypt hash)")
    sp.add_argument("--data-dir", metavar="DIR", help="the device's data folder")
    sp.add_argument("--config", metavar="FILE", help="device configuration (for its data dir)")
    sp.add_argument("--pin-stdin", action="store_true",
                    help="read the PIN from standard input (for provisioning scripts)")
    tc.set_defaults(func=cmd_tech)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["sim", "campaign"]:
        parser = build_campaign_parser()
        args = parser.parse_args(argv[2:])
    else:
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
    except SystemExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
