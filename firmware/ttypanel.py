"""The front panel drawn in the terminal for ``ionto device --sim``, with keys for START.

Keys: space = a short press of START, ``h`` = a 3.5 s hold (acknowledges a fault a patient may
clear), ``l`` = lift the hands out of the water / put them back, ``q`` = quit.
"""

from __future__ import annotations

import os
import sys
import termios
import tty

COLOUR_CODES = {"off": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
                "magenta": "35", "cyan": "36", "white": "37"}


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
        p = self.program
        c = p.controller
        panel = p.hw.panel
        colour = panel.colour
        led = f"\x1b[{COLOUR_CODES.get(colour, '37')}m●\x1b[0m {colour:7s}"
        out = "\x1b[33m●\x1b[0m OUTPUT" if panel.output_led else "○ output"
        s = p.loop.last_sample
        cur = max(s.current_a_ma, s.current_b_ma) if s is not None else float("nan")
        target = c.rx.target_ma
        left = ""
        if c.session is not None:
            rem = max(0.0, c.rx.duration_min * 60.0 - c.session.treat_s)
            left = f" {int(rem // 60):02d}:{int(rem % 60):02d} left"
        buzz = " ♪" if panel.buzzer else "  "
        line = (f"\r{now:8.1f} s  {led} {out}{buzz} {c.state:12s} {cur:6.2f}/{target:.1f} mA"
                f"{left}   ")
        sys.stdout.write(line)
        sys.stdout.flush()

    def close(self) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        os.set_blocking(self.fd, True)
        sys.stdout.write("\n")
