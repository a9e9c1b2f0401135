"""``ionto device``: start the device program on the Raspberry Pi, or on the simulator.

On the Pi (no ``--sim``) a machine without the hardware ends with exit status 1 and one line
that says what is missing and suggests ``--sim``. With ``--sim`` the same program runs on the
simulated board, in real time or faster, with the front panel drawn in the terminal and keys
standing in for the START button; the technician console is a pseudo-terminal whose path is
printed as ``console: /dev/pts/N``.

SIGTERM, SIGINT or an unexpected exception: the safe state first, the log closed, then exit
(status 0 for a signal, 1 for an exception).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

from controller.states import State
from hardware import load_board

from .config import ConfigError, load_config

#: the technician PIN of every simulated unit (``ionto device --sim`` and the scenario runner),
#: so that scenarios and a developer can log in on its console; a real unit has no default PIN
SIM_PIN = "123456"


def _fail(msg: str) -> int:
    print(f"ionto device: {msg}", file=sys.stderr)
    return 1


def run(args) -> int:
    """``ionto device``: the hardware, the program, its console, then the program's loop."""
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"ionto device: configuration error: {exc}", file=sys.stderr)
        return 2
    board = load_board(getattr(args, "board", None) or cfg.board_file or None)
    data_dir = Path(args.data_dir) if args.data_dir else (
        Path(default_sim_data_dir()) if args.sim else cfg.data_dir)
    made = _hardware(args, board, data_dir)
    if isinstance(made, int):
        return made
    hw, clock, rig = made
    program = _program(hw, clock, board, data_dir, rig)
    if isinstance(program, int):
        return program
    console = _console(args, cfg, program, data_dir)
    signal.signal(signal.SIGTERM, program.request_stop)
    signal.signal(signal.SIGINT, program.request_stop)
    panel = None
    if args.sim and sys.stdin.isatty() and sys.stdout.isatty() and not args.quiet:
        from simtools.ttypanel import TerminalPanel
        panel = TerminalPanel(program, rig)
    status = 0
    try:
        _loop(args, program, rig, panel)
    except Exception:  # noqa: BLE001 - any doubt: safe state, then say why
        status = 1
        program.loop.safe()
        traceback.print_exc()
    finally:
        if panel is not None:
            panel.close()
        program.shutdown("stopped" if status == 0 else "crashed")
        if console is not None:
            console.close()
        hw.close()
    return status


def _hardware(args, board, data_dir: Path):
    """The hardware bundle, the clock and (simulated) the rig; or the exit status."""
    from hal import AdcAbsentError, BackendUnavailable
    rig = None
    if args.sim:
        from simtools.backend import sim_unit
        hw, rig = sim_unit(board, load_ohm=args.load, seed=args.seed)
        clock = rig.clock
        _provision_sim(data_dir, board)
    else:
        from .backends import pi_hardware
        try:
            hw, clock = pi_hardware(board)
        except (BackendUnavailable, AdcAbsentError) as exc:
            return _fail(str(exc))
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        hw.safe()
        return _fail(f"cannot use the data folder {data_dir}: {exc}")
    return hw, clock, rig


def _program(hw, clock, board, data_dir: Path, rig):
    """The device program (firmware.device, the one composition); or the exit status."""
    from .device import DeviceProgram
    from .treatlog import TreatmentLogError
    try:
        program = DeviceProgram(hw, clock, board=board, data_dir=data_dir)
    except TreatmentLogError as exc:
        hw.safe()
        return _fail(str(exc))
    if rig is not None:
        from simtools.backend import screen_as_provisioned
        screen_as_provisioned(program, rig)
    return program


def _console(args, cfg, program, data_dir: Path):
    """The technician's console: a pseudo-terminal in the simulator, the serial port on the
    Pi; polled after each period. None when the port cannot be opened (the device runs on,
    and says so in the log)."""
    if args.sim:
        from concurrent.futures import ThreadPoolExecutor

        from .console import PtyConsole
        # In real time the slow console work runs off the loop; at --speed max it runs inline,
        # so that a run is reproducible.
        console = PtyConsole(program, executor=None if args.speed is None
                             else ThreadPoolExecutor(1))
        # the console's line first: scripts and tests read it as the first line
        print(f"console: {console.path}", flush=True)
        print(f"simulated unit, data folder {data_dir} (technician PIN {SIM_PIN})", flush=True)
    else:
        from .console import SerialConsole
        try:
            console = SerialConsole(program, cfg.console_port, cfg.console_baud)
        except Exception as exc:  # noqa: BLE001 - the device runs without its console
            program.controller.events.emit(program.clock.now(), "warning", "CONSOLE",
                                           f"console {cfg.console_port} unavailable: {exc}")
            return None
    program.loop.observers.append(lambda *_: console.poll())
    return console


def _loop(args, program, rig, panel) -> None:
    """The program's loop; in the simulator with ``--start`` (START pressed once the unit is
    idle), ``--exit-after`` and the terminal panel, paced by ``--speed``."""
    if rig is None:
        program.run()
        return
    clock = program.clock
    sim0 = clock.now()
    pressed = False

    def after() -> None:
        nonlocal pressed
        if args.start and not pressed and program.controller.state == State.IDLE:
            pressed = True
            program.controller.press(clock.now())
        if panel is not None:
            panel.poll()

    def until() -> bool:
        return args.exit_after is not None and clock.now() - sim0 >= args.exit_after

    program.run(until=until, after=after, speed=args.speed)


def _provision_sim(data_dir: Path, board) -> None:
    """A simulated unit comes from the factory calibrated to its nominal values, with the
    default prescription and the simulated unit's technician PIN (:data:`SIM_PIN`), as a real
    one would leave the factory calibrated (a real unit's PIN is set on site with ``ionto tech
    set-pin``). Existing files are left alone (a corrupt one then makes the device refuse to
    treat, as it should; a PIN changed on the console stays)."""
    from controller import Limits, Prescription

    from . import calibration as calmod
    from . import settings
    from .console import set_pin
    from .console.auth import pin_path
    data_dir.mkdir(parents=True, exist_ok=True)
    if not calmod.path_in(data_dir).exists() and not \
            calmod.path_in(data_dir).with_name("calibration.json.prev").exists():
        calmod.save(data_dir, calmod.Calibration.nominal(board), board)
    if not settings.rx_path(data_dir).exists():
        settings.save(data_dir, rx=Prescription().validated(), limits=Limits())
    if not pin_path(data_dir).exists():
        set_pin(data_dir, SIM_PIN)


def default_sim_data_dir() -> str:
    return os.path.join(os.getcwd(), "sim-out", "device-data")
