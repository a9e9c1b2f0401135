"""The technician console's transport: a pseudo-terminal in the simulator, pyserial on the Pi.

The console never blocks the control loop: each period it reads what is waiting (at most
``MAX_BYTES_PER_PERIOD``), answers complete lines, and returns. Lines end with ``\\n`` or
``\\r\\n``; every reply ends with a line ``OK`` or ``ERR <CODE>: <message with a hint>``.

This module carries the commands every user may run (``help``, ``status``, ``version``); the
authenticated technician commands build on :class:`Console`.
"""

from __future__ import annotations

import os

from . import __version__

MAX_LINE = 256
MAX_BYTES_PER_PERIOD = 1024
PROMPT = b"ionto> "


class Console:
    """Line handling and the public commands; ``write`` sends bytes to the technician."""

    def __init__(self, program, write):
        self.program = program
        self.write = write
        self._buf = bytearray()
        self._discarding = False
        self.commands = {"help": self.cmd_help, "status": self.cmd_status,
                         "version": self.cmd_version}

    def feed(self, data: bytes) -> None:
        for byte in data:
            if byte == 0x0A:  # \n ends a line (a preceding \r is stripped)
                line = bytes(self._buf)
                self._buf.clear()
                if self._discarding:
                    self._discarding = False
                    self.reply([], f"ERR TOO-LONG: lines are at most {MAX_LINE} bytes; "
                               "type the command again")
                else:
                    self.handle(line.rstrip(b"\r"))
            elif self._discarding:
                continue
            else:
                self._buf.append(byte)
                if len(self._buf) > MAX_LINE:
                    self._buf.clear()
                    self._discarding = True

    def reply(self, lines, status: str) -> None:
        out = "".join(f"{line}\r\n" for line in lines) + status + "\r\n"
        self.write(out.encode() + PROMPT)

    def handle(self, raw: bytes) -> None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.reply([], "ERR ENCODING: the line is not UTF-8 text; type plain commands")
            return
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in line):
            self.reply([], "ERR CONTROL: control characters are not accepted; type plain "
                       "commands")
            return
        words = line.split()
        if not words:
            self.write(PROMPT)
            return
        name, args = words[0].lower(), words[1:]
        fn = self.lookup(name)
        if fn is None:
            import difflib
            near = difflib.get_close_matches(name, self.commands, n=1)
            hint = f"did you mean '{near[0]}'?" if near else "type 'help' for the commands"
            self.reply([], f"ERR UNKNOWN: unknown command '{name[:32]}'; {hint}")
            return
        try:
            result = fn(args)
        except Exception as exc:  # noqa: BLE001 - a console bug must not stop the device
            result = [], f"ERR INTERNAL: {type(exc).__name__}; the device is unaffected"
        if result is None:
            return  # a procedure runs in the control loop; it replies when it ends
        lines, status = result
        self.reply(lines, status)

    def lookup(self, name: str):
        """The function for command ``name`` (subclasses add access control here)."""
        return self.commands.get(name)

    # --- commands -----------------------------------------------------------------------------
    def cmd_help(self, args):
        """help [command]: the commands, or one command in full"""
        if args:
            fn = self.commands.get(args[0].lower())
            if fn is None:
                return [], f"ERR UNKNOWN: no command '{args[0][:32]}'; type 'help'"
            return [(fn.__doc__ or "").strip()], "OK"
        return [f"{name:10s} {((fn.__doc__ or '').strip().splitlines() or [''])[0]}"
                for name, fn in sorted(self.commands.items())], "OK"

    def cmd_status(self, args):
        """status: state, setpoint, both current readings, load, HV rail, faults, time left"""
        if args:
            return [], "ERR ARGS: status takes no arguments"
        p = self.program
        c = p.controller
        s = p.loop.last_sample
        cmd = p.loop.last_cmd
        lines = [f"state: {c.state}", f"setpoint_ma: {cmd.setpoint_ma:.3f}"]
        if s is not None:
            lines += [f"current_a_ma: {s.current_a_ma:.3f}", f"current_b_ma: {s.current_b_ma:.3f}",
                      f"hv_v: {s.hv_v:.2f}"]
        else:
            lines.append("adc: no reading")
        load = c.load_estimate
        lines.append(f"load_ohm: {load:.0f}" if load is not None else "load_ohm: -")
        lines.append(f"fault: {c.fault['code']} {c.fault['message']}" if c.fault else "fault: none")
        sess = c.session
        if sess is not None:
            left = max(0.0, c.rx.duration_min * 60.0 - sess.treat_s)
            lines.append(f"time_left_s: {left:.0f}")
        return lines, "OK"

    def cmd_version(self, args):
        """version: software version"""
        return [f"ionto {__version__}"], "OK"


class PtyConsole:
    """The console on a pseudo-terminal (``ionto device --sim``)."""

    def __init__(self, program, executor=None):
        import pty
        import tty
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        from .techconsole import TechConsole
        self.console = TechConsole(program, self._write, executor=executor)

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass  # nobody reading: the reply is dropped, the device goes on

    def poll(self) -> None:
        self.console.poll_jobs()
        try:
            data = os.read(self.master, MAX_BYTES_PER_PERIOD)
        except (BlockingIOError, OSError):
            return
        if data:
            self.console.feed(data)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class SerialConsole:
    """The console on the UART through pyserial (on the Pi)."""

    def __init__(self, program, port: str, baud: int):
        from concurrent.futures import ThreadPoolExecutor

        import serial

        from .techconsole import TechConsole
        self.ser = serial.Serial(port, baud, timeout=0, write_timeout=0)
        # The scrypt PIN check and fsync'd writes run on this thread, never in the loop.
        self.console = TechConsole(program, self._write, executor=ThreadPoolExecutor(1))

    def _write(self, data: bytes) -> None:
        try:
            self.ser.write(data)
        except Exception:  # noqa: BLE001 - a full output buffer must not stop the device
            pass

    def poll(self) -> None:
        self.console.poll_jobs()
        try:
            n = min(self.ser.in_waiting, MAX_BYTES_PER_PERIOD)
            if n:
                self.console.feed(self.ser.read(n))
        except Exception:  # noqa: BLE001 - a cable pulled mid-session must not stop the loop
            pass

    def close(self) -> None:
        self.ser.close()
