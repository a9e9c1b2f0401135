"""The front panel drawn in the terminal for ``ionto device --sim``, with keys for START.

Keys: space = a short press of START, ``h`` = a 3.5 s hold (acknowledges a fault a patient may
clear), ``l`` = lift the hands out of the water / put them back, ``q`` = quit.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import termios
import tty

from controller.faults import Fault
from controller.selftest import HINTS
from controller.states import State
from firmware.indication import PATTERNS

COLOUR_CODES = {"off": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
                "magenta": "35", "cyan": "36", "white": "37"}
#: clear from the cursor to the end of the line: a shorter line leaves nothing of a longer one
CLEAR_EOL = "\x1b[K"


def _ma(x: float | None) -> str:
    """A current for the panel: ``--.--`` when unknown, never ``-0.00`` (the channels' noise
    around zero)."""
    if x is None or not math.isfinite(x):
        return "--.--"
    return f"{0.0 if abs(x) < 0.005 else x:.2f}"


def led_text(state: str) -> str:
    """The status LED as the patient sees it: its colour and its pattern (a blinking LED is
    not ``off`` in its dark half)."""
    colour, hz = PATTERNS.get(state, ("red", 4.0))
    return f"{colour} {'blink ' + format(hz, 'g') + ' Hz' if hz else 'steady'}"


def fault_advice(fault: Fault | None) -> str:
    """What to do about a latched fault, in a line."""
    if fault is None:
        return ""
    code = fault.code
    if fault.patient_clearable:
        todo = "fix it, then hold START 3 s (key h)"
    elif code in HINTS:
        todo = HINTS[code]
    else:
        todo = "hands out of the water; the technician clears it on the console (fault clear)"
    return f"FAULT {code}: {fault.message}; what to do: {todo}"


def hands_text(contact: float) -> str:
    """Where the simulated patient's hands are (key l moves them)."""
    if contact >= 0.999:
        return "hands in water"
    if contact <= 0.001:
        return "hands OUT of water"
    return f"hands {contact:.0%} in water"


def status_line(program, rig, now: float, *, colour: bool = True) -> str:
    """The panel's one status line (without the return and the clearing of the line)."""
    c = program.controller
    panel = program.hw.panel
    state = c.state
    lit = panel.colour != "off"
    pattern_colour = PATTERNS.get(state, ("red", 4.0))[0]
    dot = "●" if lit else "○"
    if colour:
        dot = f"\x1b[{COLOUR_CODES.get(pattern_colour if lit else 'off', '37')}m{dot}\x1b[0m"
    led = f"{dot} {led_text(state):16s}"
    out = ("\x1b[33m●\x1b[0m OUTPUT" if colour else "● OUTPUT") if panel.output_led \
        else "○ output"
    s = program.loop.last_sample
    cur = max(s.current_a_ma, s.current_b_ma) if s is not None else None
    left = ""
    if c.session is not None:
        rem = max(0.0, c.rx.duration_min * 60.0 - c.session.treat_s)
        left = f"  {int(rem // 60):02d}:{int(rem % 60):02d} left"
    buzz = " ♪" if panel.buzzer else "  "
    shown = state if state != State.FAULT or c.fault is None else f"FAULT {c.fault.code}"
    return (f"{now:8.1f} s  {led} {out}{buzz} {shown:14s} {_ma(cur):>6s}/{c.rx.target_ma:.1f} "
            f"mA  {hands_text(rig.patient.contact)}{left}")


class TerminalPanel:
    def __init__(self, program, rig):
        self.program = program
        self.rig = rig
        self.fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        os.set_blocking(self.fd, False)
        self._release_at = None
        self._n = 0
        self._fault_said = None   # the fault whose advice was printed
        print("keys: space = START, h = hold START 3.5 s, l = lift/immerse hands, q = quit")

    def poll(self) -> None:
        now = self.program.clock.now()
        if self._release_at is not None and now >= self._release_at:
            self.rig.set_button(False)
            self._release_at = None
        try:
            keys = os.read(self.fd, 16).decode(errors="ignore")
        except (BlockingIOError, OSError):
            keys = ""
        for k in keys:
            if k == " ":
                self._press(now, 0.2)
            elif k == "h":
                self._press(now, 3.5)
            elif k == "l":
                self.rig.set_contact(0.0 if self.rig.patient.contact > 0 else 1.0)
            elif k == "q":
                self.program.request_stop()
        self._n += 1
        if self._n % 10 == 0:
            self.draw(now)

    def _press(self, now, seconds):
        self.rig.set_button(True)
        self._release_at = now + seconds

    def draw(self, now: float) -> None:
        fault = self.program.controller.fault
        if fault is not None and fault is not self._fault_said:
            # once, on its own line above the status line: what happened and what to do
            sys.stdout.write(f"\r{CLEAR_EOL}{fault_advice(fault)}\n")
        self._fault_said = fault
        line = status_line(self.program, self.rig, now)
        width = shutil.get_terminal_size((120, 24)).columns
        plain = status_line(self.program, self.rig, now, colour=False)
        if len(plain) >= width:   # a wrapped line would defeat the return to its start
            line = plain[:width - 1]
        sys.stdout.write(f"\r{line}{CLEAR_EOL}")
        sys.stdout.flush()

    def close(self) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        os.set_blocking(self.fd, True)
        sys.stdout.write("\n")   # the last status line stays on the screen
