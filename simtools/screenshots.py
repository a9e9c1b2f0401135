"""The patient's screens as the glass shows them: each screen of :mod:`firmware.screens` drawn by
the device's own path (:func:`hal.display.render`, then the real adafruit driver a page at a
time, :meth:`hal.display.Display.write_page`) on an emulated SSD1306, and read back from the
emulator's glass (:meth:`sim.ssd1306.Ssd1306Emulator.frame`).

The golden images (``tests/golden/screens/NAME.pbm``, binary PBM: 128 x 64, 1 bit a pixel, 1
lit) are written by ``python tools/golden.py screens --record`` and compared by
``tests/test_golden_screens.py``; they are never edited by hand.
"""

from __future__ import annotations

from pathlib import Path

from firmware.screens import ADVICE, View, screen
from hal.display import Display, render
from hardware import Board, load_board
from sim.ads1115 import SimI2CBus
from sim.clock import VirtualClock
from sim.ssd1306 import Ssd1306Emulator

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden" / "screens"

#: one view a screen worth keeping: every state, and the variants a state's screen has
VIEWS: dict[str, View] = {
    "idle": View("IDLE", profile="anna", due="Due today", profiles=1),
    "idle-family": View("IDLE", profile="anna", due="Not yet: 12-04", profiles=3),
    "idle-no-profile": View("IDLE"),
    "self-test": View("SELF_TEST"),
    "wait-contact": View("WAIT_CONTACT"),
    "ramp-up": View("RAMP_UP", current_ma=4.2, target_ma=15.0, time_left_s=1200,
                    conductance_ms=0.5),
    "treat": View("TREAT", current_ma=15.0, target_ma=15.0, time_left_s=605,
                  conductance_ms=0.55),
    "treat-reduced": View("TREAT", current_ma=7.5, target_ma=15.0, time_left_s=65,
                          conductance_ms=5.0),
    "paused": View("PAUSED", pause_reason="A hand came out"),
    "reversing": View("REVERSING", time_left_s=600),
    "ramp-down": View("RAMP_DOWN"),
    "done": View("DONE", dose_mas=18000, next_date="01-06"),
    "done-rate": View("DONE", dose_mas=18000, next_date="01-06", rate_sweating=True),
    "done-rating": View("DONE", dose_mas=18000, next_date="01-06", rate_sweating=True, score=2),
    "done-rated": View("DONE", dose_mas=18000, next_date="01-06", score=2, score_saved=True),
    "done-not-saved": View("DONE", dose_mas=18000, next_date="01-06", score=2, score_failed=True),
    "fault": View("FAULT", fault_code="R-OC-ABS", fault_todo="Take hands out"),
    "advice-baking-soda": View("ADVICE", advice=ADVICE["baking_soda"]),
}


def glass_of(view: View, board: Board | None = None) -> list[list[int]]:
    """The glass after the device drew ``view``'s screen on a fresh emulated SSD1306."""
    board = board or load_board()
    clock = VirtualClock()
    bus = SimI2CBus(clock)
    emu = Ssd1306Emulator()
    bus.attach(board.display.address, emu)
    display = Display(board, i2c=bus)
    scr = screen(view)
    frame = render(scr.lines, [(b.line, b.fraction) for b in scr.bars])
    display.begin()
    for page in range(display.height // 8):
        display.write_page(frame, page)
    display.power_on()
    return emu.frame()


def pbm(rows: list[list[int]]) -> bytes:
    """A binary PBM (P4) of ``rows`` (1 lit, black in the image)."""
    height, width = len(rows), len(rows[0])
    out = bytearray(f"P4\n{width} {height}\n".encode())
    for row in rows:
        for x in range(0, width, 8):
            byte = 0
            for bit, px in enumerate(row[x:x + 8]):
                if px:
                    byte |= 0x80 >> bit
            out.append(byte)
    return bytes(out)


def record(directory: Path = GOLDEN_DIR) -> list[str]:
    """Write every screen's image; returns the names written. Images of screens no longer in
    :data:`VIEWS` are removed."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.pbm"):
        if old.stem not in VIEWS:
            old.unlink()
    board = load_board()
    for name, view in VIEWS.items():
        (directory / f"{name}.pbm").write_bytes(pbm(glass_of(view, board)))
    return list(VIEWS)


def differences(directory: Path = GOLDEN_DIR) -> list[str]:
    """What differs from the recorded images, one line a screen (empty: all the same)."""
    board = load_board()
    out = []
    recorded = {p.stem for p in directory.glob("*.pbm")}
    for name, view in VIEWS.items():
        path = directory / f"{name}.pbm"
        if not path.exists():
            out.append(f"{name}: no recorded image ({path})")
        elif path.read_bytes() != pbm(glass_of(view, board)):
            out.append(f"{name}: the glass differs from {path}")
    out += [f"{n}: recorded but no longer a screen" for n in sorted(recorded - set(VIEWS))]
    return out
