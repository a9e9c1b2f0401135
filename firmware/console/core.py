"""The console's lines and its dispatch, and the commands every user may run.

Lines end with ``\\n`` or ``\\r\\n``; every reply ends with a line ``OK`` or
``ERR <CODE>: <message with a hint>``, then the prompt. A line longer than ``MAX_LINE`` bytes,
one that is not UTF-8, or one with control characters is refused with its own ``ERR``; a
command that is not declared gets the nearest declared one as a hint. The console never blocks
the control loop: the transports (:mod:`.transports`) hand it at most ``MAX_BYTES_PER_PERIOD``
bytes a period, and it answers complete lines at once.

The dispatch applies what the registry declares (:mod:`.registry`): the login a command needs
(:meth:`Console.admit`, which the technician's console overrides), the usage, and the refusal
while a treatment runs. The public commands are ``help``, ``status`` and ``version``.
"""

from __future__ import annotations

import difflib

from .. import __version__
from .registry import BUSY, Registry, Reply

MAX_LINE = 256
MAX_BYTES_PER_PERIOD = 1024
PROMPT = b"ionto> "


class Console:
    """Line handling, dispatch and the public commands; ``write`` sends bytes to the
    technician."""

    def __init__(self, program, write):
        self.program = program
        self.write = write
        self.registry = Registry()
        self._buf = bytearray()
        self._discarding = False
        reg = self.registry
        reg.register("help", self.cmd_help, args="[command]", nargs=(0, 1), login=False,
                     desc="the commands, or one command in full")
        reg.register("status", self.cmd_status, login=False,
                     desc="state, setpoint, both current readings, load, HV rail, faults, "
                          "time left")
        reg.register("version", self.cmd_version, login=False, desc="software version")

    # --- lines --------------------------------------------------------------------------------
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
        try:
            result = self.dispatch(words[0].lower(), words[1:])
        except Exception as exc:  # noqa: BLE001 - a console bug must not stop the device
            result = [], f"ERR INTERNAL: {type(exc).__name__}; the device is unaffected"
        if result is None:
            return  # a procedure runs in the control loop; it replies when it ends
        lines, status = result
        self.reply(lines, status)

    # --- dispatch -----------------------------------------------------------------------------
    def dispatch(self, name: str, args: list[str]) -> Reply:
        reg = self.registry
        if name not in reg:
            near = difflib.get_close_matches(name, reg.names(), n=1)
            hint = f"did you mean '{near[0]}'?" if near else "type 'help' for the commands"
            return [], f"ERR UNKNOWN: unknown command '{name[:32]}'; {hint}"
        refused = self.admit(name)
        if refused:
            return [], refused
        spec, rest, error = reg.resolve(name, args)
        if spec is None:
            return [], error
        if spec.idle_only and self.program.controller.busy:
            return [], BUSY
        return spec.handler(rest)

    def admit(self, name: str) -> str | None:
        """``None`` if command ``name`` may run now, else the ERR line (no login here)."""
        return None

    # --- the public commands ------------------------------------------------------------------
    def cmd_help(self, args):
        reg = self.registry
        if args:
            name = args[0].lower()
            if name not in reg:
                return [], f"ERR UNKNOWN: no command '{args[0][:32]}'; type 'help'"
            return reg.help_for(name), "OK"
        return reg.help_lines(), "OK"

    def cmd_status(self, args):
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
        return [f"ionto {__version__}"], "OK"
