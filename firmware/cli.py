"""``ionto``: the command line of the iontophoresis controller.

Every subcommand prints help with ``-h``. Errors a person can fix are printed as one line with a
hint and exit status 1 (or 2 for a bad input file); they are never a stack trace.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hardware import BoardConfigError, load_board

from .cliargs import (
    Parser,
    address_arg,
    existing_dir,
    existing_file,
    new_dir,
    number_arg,
    out_file,
    profile_id_arg,
    speed_arg,
)
from .config import ConfigError
from .run_device import SIM_PIN


def _board(args):
    return load_board(args.board) if getattr(args, "board", None) else load_board()


def cmd_hw_demo(args) -> int:
    """Step the setpoint through a load on the simulated board and print what the ADC reads and
    what truly flows. The production HAL, gpiozero devices and adafruit driver run unchanged."""
    from simtools.backend import sim_unit

    board = _board(args)
    hw, rig = sim_unit(board, load_ohm=args.load, seed=args.seed)
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


def _data_dir(args) -> Path:
    from .config import load_config
    return Path(args.data_dir) if args.data_dir else load_config(args.config).data_dir


def _open_log(args):
    import sqlite3

    from . import settings
    from .treatlog import TreatmentLog, TreatmentLogError
    data_dir = _data_dir(args)
    path = data_dir / "treatment.sqlite"
    if not path.exists():
        raise SystemExit(_err(f"no treatment log at {path}; give --data-dir"))
    try:   # a log of an older version is upgraded as the device's next start would do it
        return TreatmentLog(path, prescription=settings.rx_record(data_dir))
    except TreatmentLogError as exc:
        raise SystemExit(_err(str(exc))) from None
    except (sqlite3.Error, OSError) as exc:
        raise SystemExit(_err(f"cannot read the treatment log {path}: {exc}")) from None


def _err(msg: str) -> int:
    print(f"ionto log: {msg}", file=sys.stderr)
    return 1


def _usage(msg: str) -> int:
    """A bad option or value: one line, exit 2."""
    print(msg, file=sys.stderr)
    return 2


def cmd_log(args) -> int:
    import sqlite3
    profile = getattr(args, "profile", None)
    if (profile is None) == (args.log_cmd is None):
        return _usage("ionto log: give a subcommand (list, show, export, plot, audit) or "
                      "--profile ID, not both")
    if profile is None and (args.course_csv or args.course_plot):
        return _usage("ionto log: --csv and --plot go with --profile ID")
    log = _open_log(args)
    try:
        return _log_command(log, args)
    except sqlite3.Error as exc:
        return _err(f"cannot read the treatment log: {exc}")
    except OSError as exc:
        return _err(f"cannot write {exc.filename or args.out}: {exc.strerror or exc}")
    finally:
        log.close()


def _log_command(log, args) -> int:
    """One of list, show, export, plot on the open log, or ``--profile ID``'s course."""
    profile = getattr(args, "profile", None)
    if profile is not None:
        from .coursereport import course_report, report_lines, write_csv
        if profile not in log.profiles():
            return _usage(f"ionto log: no profile {profile!r}; the profiles are: "
                          f"{', '.join(log.profiles()) or 'none'}")
        rep = course_report(log, profile)
        print("\n".join(report_lines(rep)))
        if args.course_csv:
            write_csv(rep, Path(args.course_csv))
            print(f"wrote {args.course_csv}")
        if args.course_plot:
            from simtools.plots import plot_course_report
            try:
                plot_course_report(rep, Path(args.course_plot))
            except ValueError as exc:
                return _err(str(exc))
            print(f"wrote {args.course_plot}")
        return 0
    if args.log_cmd == "list":
        print(f"{'id':>4} {'start (UTC)':25s} {'outcome':12s} {'treat min':>9} "
              f"{'dose mA*min':>11} {'peak mA':>8} {'fault':10s}")
        for r in log.sessions():
            print(f"{r['id']:>4} {r['start_utc']:25s} {r['outcome'] or 'in progress':12s} "
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
        from .console.service_cmds import session_lines
        for line in session_lines(row):   # rounded as the console shows it, - for none
            k, _, v = line.partition(": ")
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
        from simtools.plots import plot_logged_session
        plot_logged_session(log, args.id, Path(args.out))
        print(f"wrote {args.out}")
        return 0
    return 0


def cmd_tech(args) -> int:
    """Provision the technician PIN on the device itself (there is no default PIN)."""
    from .console import provision_pin
    data_dir = _data_dir(args)
    if not data_dir.is_dir():
        # the configuration's folder (--data-dir is checked as it is read): never made here,
        # a PIN in a new folder would be a PIN the device does not read
        print(f"ionto tech: the data folder {data_dir} does not exist; give --data-dir with "
              "the device's data folder; nothing was changed", file=sys.stderr)
        return 2
    try:
        if args.pin_stdin:
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            first = second = line.strip()
        elif not sys.stdin.isatty():
            # getpass would fall back to reading standard input with a warning that the PIN
            # may be echoed: a script says so with --pin-stdin
            print("ionto tech: standard input is not a terminal to type the PIN on; a "
                  "provisioning script gives --pin-stdin; nothing was changed", file=sys.stderr)
            return 1
        else:
            import getpass
            first = getpass.getpass("new technician PIN (6-12 digits): ")
            second = getpass.getpass("again: ")
    except EOFError:
        print("ionto tech: no PIN was given (standard input ended); nothing was changed",
              file=sys.stderr)
        return 1
    if first != second:
        print("ionto tech: the two PINs differ; nothing was changed", file=sys.stderr)
        return 1
    try:
        provision_pin(data_dir, first)
    except ValueError as exc:
        print(f"ionto tech: {exc}; nothing was changed", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ionto tech: cannot write the PIN in {data_dir}: {exc.strerror or exc}; "
              "nothing was changed", file=sys.stderr)
        return 1
    print(f"technician PIN set in {data_dir}")
    return 0


def _played(play, out: Path):
    """What ``play()`` returns (a scenario's summary, a course's result), or None once the error
    it met is said in one line (the caller exits 1): ``out`` not writable, or an internal error."""
    try:
        return play()
    except OSError as exc:
        print(f"ionto sim: cannot write in {out}: {exc}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - exit 1: an internal error, said in one line
        print(f"ionto sim: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return None


def cmd_sim(args) -> int:
    """Play a scenario file against the complete device program on simulated hardware."""
    import json

    from simtools.courserun import is_course, read_toml
    from simtools.simrun import (
        ScenarioError,
        check_expect,
        load_scenario,
        prescription_of,
        run_scenario,
    )
    try:
        if is_course(read_toml(Path(args.scenario))):
            return cmd_course(args)
        sc = load_scenario(args.scenario)
        prescription_of(sc)
    except ScenarioError as exc:
        print(f"ionto sim: invalid scenario: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a loader bug: exit 1 in one line, nothing simulated
        print(f"ionto sim: internal error while reading {args.scenario}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path("sim-out") / Path(args.scenario).stem
    progress = not args.quiet and sys.stderr.isatty()
    summary = _played(lambda: run_scenario(sc, out, plot=args.plot, progress=progress,
                                           speed=args.speed), out)
    if summary is None:
        return 1
    bad = check_expect(sc, summary)
    if not args.quiet:
        keys = ("outcome", "fault", "treatment_s", "dose_ma_min", "dose_ma_min_measured",
                "peak_ma", "max_step_ma", "max_density_ma_cm2", "sim_s", "wall_s", "speed")
        print(json.dumps({k: summary[k] for k in keys}, indent=1))
        if sc.expect:
            print("expect: " + ("all hold" if not bad else "; ".join(bad)))
        print(f"wrote {out}/summary.json, trace.csv" + (", session.png" if args.plot else ""))
    if bad:
        # a scenario whose expectation does not hold is a failed check, for a script or CI
        print(f"ionto sim: {sc.name}: expectation not met: {'; '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def cmd_course(args) -> int:
    """Play a course file (a file with [[profile]] tables): visits over days on one unit."""
    import json

    from simtools.courserun import (
        ScenarioError,
        _scenario,
        check_course_expect,
        load_course,
        run_course,
    )
    from simtools.simrun import prescription_of
    if args.plot:
        print("ionto sim: --plot draws a scenario's session; a course writes course.json and "
              "each session's trace.csv (plot one with 'ionto log plot')", file=sys.stderr)
        return 2
    try:
        course = load_course(args.scenario)
        for pid, prof in course.profiles.items():   # the device's own rules, before anything
            prescription_of(_scenario(course, None, prof, events=[], name=pid))
    except ScenarioError as exc:
        print(f"ionto sim: invalid course: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("sim-out") / Path(args.scenario).stem
    result = _played(lambda: run_course(course, out, quiet=args.quiet), out)
    if result is None:
        return 1
    bad = check_course_expect(course, result)
    if not args.quiet:
        for pid, prof in result["profiles"].items():
            phase = prof["phase"][-1]["phase"] if prof["phase"] else "-"
            done = sum(s["outcome"] == "completed" for s in prof["sessions"])
            refused = [s["refused"] for s in prof["sessions"] if s["refused"]]
            print(f"{pid}: {done} completed, refused {refused or 'none'}, phase {phase}, "
                  f"advice {[a['code'] for a in prof['advice']] or 'none'}, next due "
                  f"{prof['next_due'] or '-'}")
        if course.expect:
            print("expect: " + ("all hold" if not bad else "; ".join(bad)))
        print(f"wrote {out}/course.json ({json.dumps(result['sim_s'])} sim s in "
              f"{result['wall_s']} s)")
    if bad:
        print(f"ionto sim: {course.name}: expectation not met: {'; '.join(bad)}",
              file=sys.stderr)
        return 1
    return 0


def cmd_campaign(args) -> int:
    from concurrent.futures.process import BrokenProcessPool

    from simtools.campaign import JournalError, resume_header, run_campaign
    if args.resume is None and (args.runs is None or args.seed is None):
        missing = "--runs" if args.runs is None else "--seed"
        print(f"ionto sim campaign: {missing} is needed to start a campaign (or --resume DIR "
              "to continue one) ('ionto sim campaign --help' lists the options)", file=sys.stderr)
        return 2
    if args.resume is not None and args.out is not None and \
            Path(args.out).resolve() != Path(args.resume).resolve():
        print("ionto sim campaign: --resume continues the campaign in its own folder; leave "
              "--out out", file=sys.stderr)
        return 2
    out = Path(args.resume if args.resume is not None else args.out or "sim-out/campaign")
    try:
        if args.resume is not None:
            h = resume_header(out, runs=args.runs, seed=args.seed, profile=args.profile,
                              first=args.first)
            runs, seed, profile, first = h["runs"], h["seed"], h["profile"], h["first"]
        else:
            runs, seed, profile, first = args.runs, args.seed, args.profile or "full", \
                args.first or 0
        kw = dict(jobs=args.jobs or 1, progress=not args.quiet, profile=profile, first=first,
                  resume=args.resume is not None)
        if args.scheduler or args.workers:
            from simtools.cluster import ClusterError, connect
            try:
                with connect(scheduler=args.scheduler, workers=args.workers) as client:
                    report = run_campaign(runs, seed, out, client=client, **kw)
            except ClusterError as exc:
                print(f"ionto sim campaign: {exc}", file=sys.stderr)
                return 2
        else:
            report = run_campaign(runs, seed, out, **kw)
    except JournalError as exc:
        print(f"ionto sim campaign: {exc}", file=sys.stderr)
        return 2
    except BrokenProcessPool as exc:
        print(f"ionto sim campaign: a process of the local pool died ({exc}); the runs that "
              f"finished are kept: continue with --resume {out}, or play on a Dask cluster "
              "(--workers N), where a run that kills its process is reported as a crash",
              file=sys.stderr)
        return 1
    part = f", runs {first}..{first + runs - 1}" if first else ""
    eng = report["engine"]
    lost = (f"; {eng['workers_lost']} worker(s) died holding {eng['runs_reassigned']} run(s), "
            "each played again" if eng.get("workers_lost") else "")
    print(f"{report['runs']} {profile} runs (seed {seed}{part}) in {report['wall_s']:.1f} s "
          f"({report['runs_per_min']} runs/min, {eng['engine']}{lost}); "
          f"outcomes {report['outcomes']}; worst {report['worst']}")
    if report["violations"]:
        print(f"{len(report['violations'])} run(s) broke a safety property; replay them from "
              f"{out}/violations/")
        return 3
    print("no safety property was broken")
    return 0


#: the checks of every value the commands take (firmware/cliargs.py), named once
LOAD_OHM = number_arg(50, 1_000_000, unit="ohm")          # the scenario files' patient.load_ohm
SEED = number_arg(0, 2 ** 31, integer=True)          # the scenario files' seed
CAMPAIGN_SEED = number_arg(0, 2 ** 63 - 1, integer=True)
RUNS = number_arg(1, 1_000_000, integer=True)
JOBS = number_arg(1, 256, integer=True)
WORKERS = number_arg(1, 1024, integer=True)
SCHEDULER = address_arg()
FIRST = number_arg(0, 10 ** 12, integer=True)
EXIT_AFTER = number_arg(0, 7 * 86400, low_open=True, unit="simulated s")
SESSION_ID = number_arg(1, 2 ** 63 - 1, integer=True)   # SQLite's INTEGER
AUDIT_ROWS = number_arg(1, 2 ** 63 - 1, integer=True)
SPEED = speed_arg()
CONFIG_FILE = existing_file("device configuration file")
DATA_DIR = existing_dir("folder")


def _data_dir_options(p: argparse.ArgumentParser, *, after: bool) -> None:
    """``--data-dir`` and ``--config``, accepted both before and after the subcommand
    (``ionto log --data-dir D list`` and ``ionto log list --data-dir D``). After it they
    default to SUPPRESS, so that a subcommand that is not given them does not overwrite the
    value given before it with its own default."""
    default = argparse.SUPPRESS if after else None
    p.add_argument("--data-dir", metavar="DIR", type=DATA_DIR, default=default,
                   help="the device's data folder, holding treatment.sqlite, the calibration, "
                   "the settings and the PIN (default: the configuration's data_dir); "
                   f"allowed: {DATA_DIR.allowed}")
    p.add_argument("--config", metavar="FILE", type=CONFIG_FILE, default=default,
                   help="device configuration, for its data folder "
                   "(default: firmware/config.default.toml)")


def build_campaign_parser() -> argparse.ArgumentParser:
    from simtools.campaign import PROFILES
    c = Parser(prog="ionto sim campaign",
               description="Random scenarios hunting for unsafe behaviour. Exit status 0: no "
               "safety property was broken; 3: at least one run broke one (each saved as a "
               "scenario file under OUT/violations/ that 'ionto sim' replays); 1: a process of the "
               "local pool died (the finished runs are kept: --resume); 2: a bad option, a Dask "
               "cluster that cannot be used, or a campaign folder that cannot be resumed. Each "
               "run's result is written to OUT/runs.jsonl as it finishes; the report is "
               "OUT/campaign.json and OUT/campaign.png.")
    c.add_argument("--runs", type=RUNS, metavar="N",
                   help=f"how many random scenarios to play (needed unless --resume); allowed: "
                   f"{RUNS.allowed}")
    c.add_argument("--seed", type=CAMPAIGN_SEED, metavar="S",
                   help="the seed every run is drawn from (needed unless --resume): the same "
                   f"seed, index and profile give the same scenario; allowed: "
                   f"{CAMPAIGN_SEED.allowed}")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=JOBS, metavar="J",
                       help=f"play on a local pool of J processes (the default, with 1); "
                       f"allowed: {JOBS.allowed}")
    where.add_argument("--workers", type=WORKERS, metavar="N",
                       help="play on a local Dask cluster of N worker processes (needs the "
                       f"cluster extra: pip install -e '.[cluster]'); allowed: {WORKERS.allowed}")
    where.add_argument("--scheduler", type=SCHEDULER, metavar="ADDRESS",
                       help="play on the workers of the Dask cluster whose scheduler is at "
                       "ADDRESS (needs the cluster extra; firmware/README.md); allowed: "
                       f"{SCHEDULER.allowed}")
    c.add_argument("--profile", choices=PROFILES,
                   help="full: whole sessions (default); short: each run stops after 20-150 "
                   "simulated s (self-test, contact, ramp, early treatment), the CI gate's profile")
    c.add_argument("--first", type=FIRST, metavar="I",
                   help="index of the first run (default 0): a large campaign can be played in "
                   "parts with the result of one run")
    c.add_argument("--out", type=new_dir(), metavar="DIR",
                   help="report, journal and violations folder (default: sim-out/campaign)")
    c.add_argument("--resume", type=existing_dir("campaign folder"), metavar="DIR",
                   help="continue the campaign that was killed in DIR (its journal runs.jsonl): "
                   "the runs it holds are not played again; --runs, --seed, --profile and "
                   f"--first may be left out; allowed: {existing_dir('campaign folder').allowed}")
    c.add_argument("--quiet", action="store_true", help="no progress line")
    c.set_defaults(func=cmd_campaign)
    return c


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="ionto",
        description="Tap-water iontophoresis controller: device program, simulator and tools. "
        "Exit status 0: done; 1: an error the command names (or a scenario's expectation that "
        "does not hold); 2: a bad option, value or input file.")
    p.add_argument("--board", metavar="FILE", type=existing_file("hardware description file"),
                   help="hardware description (default: the board.toml shipped in hardware/)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    _add_hw_demo(sub)
    _add_device(sub)
    _add_log(sub)
    _add_sim(sub)
    _add_tech(sub)
    return p


def _add_hw_demo(sub) -> None:
    """the simulated board's demonstration."""
    d = sub.add_parser("hw-demo", help="step the setpoint on the simulated board and print "
                       "ADC readings against the true current",
                       description=cmd_hw_demo.__doc__)
    d.add_argument("--load", type=LOAD_OHM, default=2000.0, metavar="OHM",
                   help=f"patient load at full immersion (default 2000); allowed: "
                   f"{LOAD_OHM.allowed}")
    d.add_argument("--seed", type=SEED, default=0, help=f"noise seed (default 0); allowed: "
                   f"{SEED.allowed}")
    d.set_defaults(func=cmd_hw_demo)


def _add_device(sub) -> None:
    """``ionto device``."""
    dv = sub.add_parser("device", help="run the device program (on the Pi, or with --sim on "
                        "the simulator)", description=(
                            "Run the device program. Without --sim it drives the real unit and "
                            "fails with a hint on a computer without its hardware. With --sim "
                            "the simulated unit is provisioned in its data folder like a unit "
                            "from the factory: nominal calibration, the default prescription "
                            f"and the technician PIN {SIM_PIN} (a simulated unit's PIN; a real "
                            "unit has none until 'ionto tech set-pin')."))
    dv.add_argument("--sim", action="store_true",
                    help="run on the simulated hardware (never chosen automatically)")
    dv.add_argument("--speed", type=SPEED, default="1", metavar="N|max",
                    help=f"--sim: simulation speed (default 1); allowed: {SPEED.allowed}")
    dv.add_argument("--config", metavar="FILE", type=CONFIG_FILE, help="device configuration "
                    "(default: firmware/config.default.toml)")
    dv.add_argument("--data-dir", metavar="DIR", type=DATA_DIR,
                    help="treatment log, calibration, settings and PIN (default: from the "
                    "configuration; with --sim: ./sim-out/device-data, made if missing); "
                    f"allowed: {DATA_DIR.allowed}")
    dv.add_argument("--load", type=LOAD_OHM, default=2000.0, metavar="OHM",
                    help=f"--sim: the simulated patient's load (default 2000); allowed: "
                    f"{LOAD_OHM.allowed}")
    dv.add_argument("--seed", type=SEED, default=0,
                    help=f"--sim: noise seed (default 0); allowed: {SEED.allowed}")
    dv.add_argument("--start", action="store_true",
                    help="--sim: press START once the device is ready")
    dv.add_argument("--exit-after", type=EXIT_AFTER, metavar="S",
                    help=f"--sim: stop after S simulated seconds; allowed: {EXIT_AFTER.allowed}")
    dv.add_argument("--quiet", action="store_true", help="--sim: no terminal panel")
    dv.set_defaults(func=cmd_device)


def _add_log(sub) -> None:
    """``ionto log`` and its subcommands."""
    lg = sub.add_parser("log", help="read the treatment log (on any computer)",
                        description="Read the treatment log of a device's data folder. "
                        "--data-dir and --config go before or after the subcommand.")
    _data_dir_options(lg, after=False)
    lg.add_argument("--profile", metavar="ID", type=profile_id_arg(),
                    help="a profile's course (sessions per week, dose, HDSS, phase, adherence, "
                    "next due), instead of a subcommand")
    lg.add_argument("--csv", metavar="FILE", type=out_file(), dest="course_csv",
                    help="--profile: also write the course as CSV (for the dermatologist)")
    lg.add_argument("--plot", metavar="FILE.png", type=out_file(".png"), dest="course_plot",
                    help="--profile: also draw the course as a PNG")
    lsub = lg.add_subparsers(dest="log_cmd", metavar="list|show|export|plot|audit")
    ls = lsub.add_parser("list", help="one line per session")
    _data_dir_options(ls, after=True)
    au = lsub.add_parser("audit", help="the technician's audit trail: logins, logouts, "
                         "lockouts, changes with old -> new and the console they came from")
    au.add_argument("--last", type=AUDIT_ROWS, metavar="N",
                    help=f"only the newest N rows; allowed: {AUDIT_ROWS.allowed}")
    _data_dir_options(au, after=True)
    for name, helptext in (("show", "a session and its events"),
                           ("export", "a session's 1 Hz trace as CSV"),
                           ("plot", "a session's trace as a PNG")):
        sp = lsub.add_parser(name, help=helptext, description=helptext)
        sp.add_argument("id", type=SESSION_ID, metavar="ID",
                        help="the session's number, the first column of 'ionto log list'")
        _data_dir_options(sp, after=True)
        if name == "export":
            sp.add_argument("--csv", action="store_true", help="CSV (the only format)")
            sp.add_argument("--out", metavar="FILE", type=out_file(),
                            help="write to FILE instead of stdout")
        if name == "plot":
            sp.add_argument("--out", metavar="FILE.png", type=out_file(".png"), required=True,
                            help="the PNG to write")
    lg.set_defaults(func=cmd_log)


def _add_sim(sub) -> None:
    """``ionto sim`` (a scenario or course; campaigns have their own parser)."""
    sm = sub.add_parser("sim", help="play a scenario or course file (or 'sim campaign ...')",
                        description="Play SCENARIO.toml against the complete device program "
                        "on simulated hardware and write summary.json and trace.csv; a file "
                        "with [[profile]] tables is a course (visits over days on one unit), "
                        "which writes course.json and a folder per session. Exit "
                        "status 0: played and every [expect] holds; 1: an expectation does not "
                        "hold (each named); 2: a bad scenario file or option. "
                        "'ionto sim campaign --runs N --seed S [--jobs J] [--out DIR]' runs a "
                        "random campaign ('ionto sim campaign --help').")
    sm.add_argument("scenario", metavar="SCENARIO.toml", type=existing_file("scenario file"),
                    help="the scenario to play (scenarios/README.md)")
    sm.add_argument("--out", metavar="DIR", type=new_dir(),
                    help="output folder (default: sim-out/<scenario file stem>/)")
    sm.add_argument("--speed", type=SPEED, default="max", metavar="max|FACTOR",
                    help="max: as fast as the machine allows (default); FACTOR: paced at "
                    f"FACTOR times real time; allowed: {SPEED.allowed}")
    sm.add_argument("--plot", action="store_true", help="also write session.png")
    sm.add_argument("--quiet", action="store_true",
                    help="no progress line, no summary (the exit status still tells whether "
                    "the expectations hold)")
    sm.set_defaults(func=cmd_sim)


def _add_tech(sub) -> None:
    """``ionto tech``."""
    tc = sub.add_parser("tech", help="technician set-up on the device (set-pin)",
                        description="Technician set-up. --data-dir and --config go before or "
                        "after the subcommand.")
    _data_dir_options(tc, after=False)
    tsub = tc.add_subparsers(dest="tech_cmd", metavar="set-pin", required=True)
    sp = tsub.add_parser("set-pin", help="set the console PIN (stored as a salted scrypt hash)",
                         description="Set the technician console's PIN in the device's data "
                         "folder (which must exist).")
    _data_dir_options(sp, after=True)
    sp.add_argument("--pin-stdin", action="store_true",
                    help="read the PIN from standard input (for provisioning scripts)")
    tc.set_defaults(func=cmd_tech)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        # `ionto sim FILE` and `ionto sim campaign ...` are both the simulator's contract
        # (../shared/SCENARIOS.md): argparse cannot give one level a positional file and a
        # subcommand at once, so the campaign's own parser is chosen here, by the two words;
        # a scenario file named "campaign" would have to be given as ./campaign.
        if argv[:2] == ["sim", "campaign"]:
            parser = build_campaign_parser()
            args = parser.parse_args(argv[2:])
        else:
            parser = build_parser()
            args = parser.parse_args(argv)
    except SystemExit as exc:   # --help (0) or a refused option (2), already said
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)   # no command given: a usage error
        return 2
    try:
        return args.func(args)
    except BoardConfigError as exc:
        print(f"ionto: hardware file error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"ionto: configuration error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
