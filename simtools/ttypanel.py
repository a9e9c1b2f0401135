"""The front panel drawn in the terminal for ``ionto device --sim``, with keys for START.

Keys: space = a short press of START, ``h`` = a 3.5 s hold (acknowledges a fault a patient may
clear), ``l`` = lift the hands out of the water / put them back, ``q`` = quit.

The panel is redrawn in place, below the lines printed before it (the console's path, the
banner), every tenth period: the display's glass as the patient sees it (the emulated
SSD1306's frame, :meth:`sim.ssd1306.Ssd1306Emulator.frame`, lit or dark as the chip drives it,
not what the program meant to show), the status line (the LED, the OUTPUT light, the buzzer,
the state, the current, where the hands are), a line with where the hands are (again: an
80-column terminal cuts the status line's end), the fault and what to do about it, and the
keys. Every line is cleared to its end and the screen below the panel is cleared, so nothing
of an older, longer frame stays.

The glass is 128 x 64 pixels. In half blocks (``▀▄█``, two pixel rows a character) it is 128
columns by 32 rows, more than an 80 x 24 terminal; halving it to fit would merge the columns
of a 5 x 8 font and the text would no longer read. So a terminal narrower than
:data:`HALF_BLOCK_COLUMNS` or shorter than :data:`HALF_BLOCK_ROWS` gets the glass in braille
cells (2 x 4 pixels a character, ``U+2800``-``U+28FF``): 64 columns by 16 rows, every pixel
kept, which fits 80 x 24 with its frame and the three lines; a larger terminal gets half blocks.
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
#: the screen below the cursor cleared
CLEAR_BELOW = "\x1b[J"
#: a terminal this large (columns, rows) draws the glass in half blocks, a smaller one in braille
HALF_BLOCK_COLUMNS, HALF_BLOCK_ROWS = 130, 37
HALF_BLOCKS = {(0, 0): " ", (1, 0): "\u2580", (0, 1): "\u2584", (1, 1): "\u2588"}
#: braille dot bits by (row in the cell, column in the cell)
BRAILLE_DOTS = {(0, 0): 0x01, (1, 0): 0x02, (2, 0): 0x04, (3, 0): 0x40,
                (0, 1): 0x08, (1, 1): 0x10, (2, 1): 0x20, (3, 1): 0x80}


def glass_half_blocks(rows: list[list[int]]) -> list[str]:
    """The glass in half blocks: two pixel rows a character (128 x 64 -> 128 x 32)."""
    out = []
    for y in range(0, len(rows), 2):
        top, bottom = rows[y], rows[y + 1] if y + 1 < len(rows) else [0] * len(rows[y])
        out.append("".join(HALF_BLOCKS[(a, b)] for a, b in zip(top, bottom, strict=True)))
    return out


def glass_braille(rows: list[list[int]]) -> list[str]:
    """The glass in braille cells: 2 x 4 pixels a character (128 x 64 -> 64 x 16)."""
    height, width = len(rows), len(rows[0]) if rows else 0
    out = []
    for y in range(0, height, 4):
        line = []
        for x in range(0, width, 2):
            bits = 0
            for (dy, dx), bit in BRAILLE_DOTS.items():
                if y + dy < height and x + dx < width and rows[y + dy][x + dx]:
                    bits |= bit
            line.append(chr(0x2800 + bits))
        out.append("".join(line))
    return out


def glass_lines(rows: list[list[int]], columns: int, lines: int) -> list[str]:
    """The glass framed, in half blocks if the terminal has room, else in braille."""
    half = columns >= HALF_BLOCK_COLUMNS and lines >= HALF_BLOCK_ROWS
    cells = glass_half_blocks(rows) if half else glass_braille(rows)
    width = len(cells[0]) if cells else 0
    return ["┌" + "─" * width + "┐", *("│" + c + "│" for c in cells), "└" + "─" * width + "┘"]


def fault_line(program) -> str:
    """The fault latched and what to do, or that there is none."""
    fault = program.controller.fault
    return fault_advice(fault) if fault is not None else "no fault"


def panel_lines(program, rig, now: float, *, columns: int, lines: int,
                colour: bool = True) -> list[str]:
    """The whole panel, line by line (without the clearing of the lines)."""
    out = []
    display = getattr(rig, "display", None)
    if display is not None:
        out += glass_lines(display.frame(), columns, lines)
    out.append(status_line(program, rig, now, colour=colour))
    # where the hands are and the fault again on a short line of their own: a status line cut
    # to an 80-column terminal loses its end
    out.append(f"{hands_text(rig.patient.contact)}; {fault_line(program)}")
    out.append(KEYS)
    return out


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


KEYS = "keys: space = START, h = hold START 3.5 s, l = lift/immerse hands, q = quit"


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
        self._drawn = 0   # how many lines the panel took when it was drawn last

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
        size = shutil.get_terminal_size((120, 24))
        rows = panel_lines(self.program, self.rig, now, columns=size.columns,
                           lines=size.lines)
        plain = panel_lines(self.program, self.rig, now, columns=size.columns,
                            lines=size.lines, colour=False)
        out = []
        for line, bare in zip(rows, plain, strict=True):
            if len(bare) >= size.columns:   # a wrapped line would move every line below it
                line = bare[:size.columns - 1]
            out.append(line + CLEAR_EOL)
        # back to the first line of the panel drawn last (the lines above it, the console's
        # path and the banner, stay), then every line again
        up = f"\r\x1b[{self._drawn}A" if getattr(self, "_drawn", 0) else "\r"
        sys.stdout.write(up + "\n".join(out) + "\n" + CLEAR_BELOW)
        sys.stdout.flush()
        self._drawn = len(out)

    def close(self) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        os.set_blocking(self.fd, True)
        sys.stdout.write("\n")   # the last panel stays on the screen
