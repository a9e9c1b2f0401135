"""The console's lines and its dispatch, and the commands every user may run.

The line discipline is a terminal's: a line ends with CR, LF or CRLF (miniterm, PuTTY, screen
and minicom send CR); typed characters are echoed back when the transport is a terminal
(``echo off`` stops it, for scripts); backspace (0x08 or 0x7f) takes back the last character;
Ctrl-C drops the line being typed, or stops a long reply being sent. Every reply ends with a
line ``OK`` or ``ERR <CODE>: <message with a hint>``, then the prompt. A line longer than
``MAX_LINE`` bytes, one that is not UTF-8, or one with other control characters is refused with
its own ``ERR``; a command that is not declared gets the nearest declared one as a hint.

Output is never lost and never holds up the control loop: replies go into an output queue, and
every period (:meth:`Console.pump`) the queue is handed to the transport, which takes what its
line can carry without waiting (``write`` returns how many bytes it took); the rest goes in
later periods, whatever the reader's speed. A long reply (``log export``) is a stream of lines,
produced a page at a time when the queue runs low (at most ``MAX_STREAM_PER_PERIOD`` bytes a
period), so it is sent in full, byte for byte, without being held in memory; what is typed
while it is sent is kept (up to ``MAX_HELD`` bytes) and run after it. The queue is bounded: a
reader that does not read while replies pile up beyond ``MAX_QUEUED`` bytes loses them, and
gets in their place one line ``ERR OVERFLOW`` that says how many bytes were dropped. The
transports hand the console at most ``MAX_BYTES_PER_PERIOD`` bytes of input a period.

The dispatch applies what the registry declares (:mod:`.registry`): the login a command needs
(:meth:`Console.admit`, which the technician's console overrides), the usage, and the refusal
while a treatment runs. The public commands are ``help``, ``status``, ``version`` and ``echo``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from .. import __version__
from .registry import BUSY, Registry, Reply
from .values import num

MAX_LINE = 256
#: input read a period; 115200 baud carries about 115 bytes in 10 ms
MAX_BYTES_PER_PERIOD = 1024
#: a long reply's lines produced a period: about 18 times what 115200 baud carries, and some
#: 0.5 ms of the period on the development PC (reading the log and formatting CSV lines cost
#: about 20 us a line)
MAX_STREAM_PER_PERIOD = 2048
#: a long reply's next page is produced when fewer bytes than this wait in the queue
STREAM_LOW_WATER = 4096
#: replies waiting for a reader; beyond this the queue is dropped with an ERR OVERFLOW line
MAX_QUEUED = 64 * 1024
#: what is kept of the input typed while a long reply is sent
MAX_HELD = 1024
PROMPT = b"ionto> "
CTRL_C = 0x03
BACKSPACES = (0x08, 0x7F)


class Console:
    """Line handling, dispatch and the public commands. ``write(data)`` sends bytes to the
    technician without waiting and returns how many it took (``None``: all of them).
    :param echo: echo what is typed (a terminal on the other end)."""

    def __init__(self, program, write, *, echo: bool = False):
        self.program = program
        self.write = write
        self.echo = echo
        self.echo_default = echo
        self.registry = Registry()
        self._buf = bytearray()
        self._discarding = False
        self._cr = False                 # the last byte was CR: an LF after it is the same end
        self._out = bytearray()          # the output queue
        self._stream: tuple[Iterator[str], str] | None = None
        self._stream_budget = MAX_STREAM_PER_PERIOD
        self._held = bytearray()         # typed while a long reply is sent
        self._held_dropped = 0
        self.dropped = 0                 # bytes of replies dropped, all told (ERR OVERFLOW)
        reg = self.registry
        reg.register("help", self.cmd_help, args="[command]", nargs=(0, 1), login=False,
                     desc="the commands, or one command in full")
        reg.register("status", self.cmd_status, login=False,
                     desc="state, setpoint, both current readings, load, HV rail, faults, "
                          "time left")
        reg.register("version", self.cmd_version, login=False, desc="software version")
        reg.register("echo", self.cmd_echo, args="[on|off]", nargs=(0, 1), login=False,
                     desc="echo what is typed (on for a terminal; off for scripts)")

    # --- output -------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Queue ``data`` for the technician and send what the line takes now."""
        self._out += data
        if len(self._out) > MAX_QUEUED:
            self._overflow()
        self.flush()

    def _overflow(self) -> None:
        n = len(self._out)
        self.dropped += n
        self._out.clear()
        self._stream = None
        self._out += (f"\r\nERR OVERFLOW: {n} bytes of replies were dropped because the "
                      "terminal did not read them; type the command again\r\n").encode() + PROMPT

    def flush(self) -> None:
        """Hand the queue to the transport: as much as it takes without waiting."""
        while True:
            if self._stream is not None and len(self._out) < STREAM_LOW_WATER:
                self._pull()
            if not self._out:
                return
            chunk = bytes(self._out)
            taken = self.write(chunk)
            taken = len(chunk) if taken is None else taken
            del self._out[:taken]
            if taken < len(chunk):
                return  # the line is full: the rest goes in a later period

    def _pull(self) -> None:
        """The next lines of the long reply being sent, up to the period's budget."""
        lines, status = self._stream
        while len(self._out) < STREAM_LOW_WATER and self._stream_budget > 0:
            try:
                line = next(lines)
            except StopIteration:
                self._end_stream(status)
                return
            except Exception as exc:  # noqa: BLE001 - a console bug must not stop the device
                self._end_stream(f"ERR INTERNAL: {type(exc).__name__}; the reply is incomplete")
                return
            data = f"{line}\r\n".encode()
            self._stream_budget -= len(data)
            self._out += data

    def _end_stream(self, status: str) -> None:
        self._stream = None
        self._out += status.encode() + b"\r\n" + PROMPT
        held, self._held = bytes(self._held), bytearray()
        if self._held_dropped:
            self._out += (f"ERR BUSY: {self._held_dropped} bytes typed while the reply was "
                          "sent were dropped; type the command again\r\n").encode() + PROMPT
            self._held_dropped = 0
        if held:
            self.feed(held)

    @property
    def sending(self) -> bool:
        """True while replies wait in the queue or a long reply is being sent."""
        return bool(self._out) or self._stream is not None

    def pump(self) -> None:
        """Once a period: a new budget for long replies, and the queue handed on."""
        self._stream_budget = MAX_STREAM_PER_PERIOD
        self.flush()

    def hangup(self) -> None:
        """The technician's terminal went away: what waits for it is dropped, the terminal
        settings go back to their defaults."""
        self._out.clear()
        self._stream = None
        self._held.clear()
        self._held_dropped = 0
        self._buf.clear()
        self._discarding = False
        self._cr = False
        self.echo = self.echo_default

    # --- lines --------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        echo = bytearray()
        for byte in data:
            if self._stream is not None:
                # a long reply is being sent: what is typed waits for its end (Ctrl-C stops it)
                if byte == CTRL_C:
                    self._interrupt()
                elif len(self._held) < MAX_HELD:
                    self._held.append(byte)
                else:
                    self._held_dropped += 1
                continue
            if byte in (0x0D, 0x0A):
                if byte == 0x0A and self._cr:
                    self._cr = False
                    continue  # CRLF: one line end
                self._cr = byte == 0x0D
                if self.echo:
                    echo += b"\r\n"
                if echo:
                    self.send(bytes(echo))
                    echo.clear()
                self._end_line()
                continue
            self._cr = False
            if byte in BACKSPACES:
                if self._buf and not self._discarding:
                    del self._buf[-1]
                    while self._buf and self._buf[-1] & 0xC0 == 0x80:
                        del self._buf[-1]  # the rest of a UTF-8 character
                    if self.echo:
                        echo += b"\b \b"
            elif byte == CTRL_C:
                self._buf.clear()
                self._discarding = False
                if self.echo:
                    echo += b"^C\r\n"
                echo += PROMPT
            elif self._discarding:
                continue
            else:
                self._buf.append(byte)
                if self.echo and (byte >= 0x20):
                    echo.append(byte)
                if len(self._buf) > MAX_LINE:
                    self._buf.clear()
                    self._discarding = True
        self.send(bytes(echo))

    def _interrupt(self) -> None:
        self._stream = None
        self._held.clear()
        self._held_dropped = 0
        self._out += b"^C\r\nERR INTERRUPTED: the reply was stopped by Ctrl-C\r\n" + PROMPT

    def _end_line(self) -> None:
        line = bytes(self._buf)
        self._buf.clear()
        if self._discarding:
            self._discarding = False
            self.reply([], f"ERR TOO-LONG: lines are at most {MAX_LINE} bytes; "
                       "type the command again")
        else:
            self.handle(line)

    def reply(self, lines, status: str) -> None:
        """Send a reply: ``lines`` a list (sent at once) or an iterator of lines (a long reply,
        produced as the line takes it), then ``status`` and the prompt."""
        if isinstance(lines, list | tuple):
            out = "".join(f"{line}\r\n" for line in lines) + status + "\r\n"
            self.send(out.encode() + PROMPT)
            return
        self._stream = (iter(lines), status)
        self.flush()

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
            self.send(PROMPT)
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
        lines.append(f"fault: {c.fault.code} {c.fault.message}" if c.fault else "fault: none")
        sess = c.session
        if sess is not None:
            left = max(0.0, c.rx.duration_min * 60.0 - sess.treat_s)
            lines.append(f"time_left_s: {num(left, 0)}")
        return lines, "OK"

    def cmd_version(self, args):
        return [f"ionto {__version__}"], "OK"

    def cmd_echo(self, args):
        if args:
            word = args[0].lower()
            if word not in ("on", "off"):
                return [], "ERR ARGS: usage: echo [on|off]"
            self.echo = word == "on"
        return [f"echo: {'on' if self.echo else 'off'}"], "OK"
