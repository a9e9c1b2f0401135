"""The patient's display: a 128x64 SSD1306 OLED through the real adafruit driver.

The driver (adafruit-circuitpython-ssd1306 2.12.24, drawing with adafruit-circuitpython-framebuf
1.6.12) keeps the whole frame in its own buffer and sends it at ``show()``. What it does on the
bus, and what this module adds:

- its construction probes the address (``writeto(0x3C, b"")``, then a one-byte read); a chip
  that does not answer is a plain ``ValueError`` there and a bare ``OSError`` on any later
  transaction. Here both become :class:`~hal.errors.DisplayAbsentError` /
  :class:`~hal.errors.DisplayError`, naming the address;
- the construction then sends its init sequence, one command byte (or argument) per I2C
  transaction ``[0x80, byte]``: display off, horizontal addressing, start line 0, segment
  remap, multiplex 64, COM scan remapped, offset 0, COM pins 0x12, clock 0x80, pre-charge 0xF1,
  VCOMH 0x30, contrast 0xFF, output follows RAM, not inverted, IREF 0x30, charge pump on,
  display on; then it clears and shows the frame;
- ``show()`` sets the column range 0-127 and the page range 0-7 (six transactions) and sends
  the 1024 bytes of the frame in one transaction ``[0x40, ...]``: about 25 ms on a 400 kHz bus;
- ``text()`` needs the font file ``font5x8.bin``, which the package does not ship (it opens it
  from the working directory and raises ``OSError`` when it is not there). The unit carries
  it beside this module (``hal/font5x8.bin``, from the framebuf project's examples, MIT) and
  passes its path.

Layout: the font is 5 x 8 pixels, 6 pixels a character with the spacing, so a line holds at
most 21 characters (126 of the 128 columns). Four lines at most, on a 16-pixel pitch: line
``i`` takes the rows ``16 i + 4`` to ``16 i + 11``, so there are 8 dark rows between two lines
and 4 above the first and below the last. Lines are left-aligned at column 1 (a shorter line
leaves the right of the glass dark) so that a value that changes does not move sideways. A
line that is too long, a fifth line or a character the font has no glyph for (only printable
ASCII) is refused with ``ValueError``: a screen is written to fit, nothing is cut silently.

The driver is built at the first use, not when the hardware is built: building it sends a
whole frame (25 ms of bus time), and a display that does not answer must not keep the unit
from starting (what the device does then is the controller's to decide). After a bus error
the next use probes the chip and sends the init sequence again: a module that lost its power
has lost its settings too.

**A page at a time** (for the control loop, :mod:`firmware.panelscreen`): a whole frame is
longer than a control period, so the device never calls ``show()`` while it treats. It renders
the frame here (:func:`render`: the same bytes the driver's ``text()`` draws, from the same
font file, checked by a test, without the driver's pixel-by-pixel Python), builds the driver
with :meth:`Display.begin` (its init sequence, 26 one-byte commands, about 2.4 ms; the clear
frame the driver's construction sends after it is held back, and the glass is switched off
until a whole frame has been written) and sends the rows of one page, or a column span of
it, with :meth:`Display.write_page`: the driver's column and page commands (six transactions)
and one data transaction, at most 3.5 ms of bus time. A bar (:func:`render`'s ``bars``) is an
outlined box 5 rows tall in the dark rows under a text line, filled to its fraction.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from adafruit_ssd1306 import SSD1306_I2C

from hardware import Board

from .errors import DisplayAbsentError, DisplayError

FONT_FILE = Path(__file__).with_name("font5x8.bin")
GLYPH_W, GLYPH_H = 5, 8
ADVANCE = GLYPH_W + 1
MAX_LINES = 4
LINE_PITCH = 16
TOP_MARGIN = (LINE_PITCH - GLYPH_H) // 2
LEFT_MARGIN = 1
#: errno values with which a bus reports a chip that does not acknowledge
NOT_ANSWERING = {errno.ENXIO, errno.EREMOTEIO, errno.ENODEV}


#: a bar under text line ``i`` starts this many rows below the line's first row, 5 rows tall
BAR_OFFSET, BAR_ROWS = GLYPH_H + 2, 5
SET_COL_ADDR, SET_PAGE_ADDR, NOP = 0x21, 0x22, 0xE3


def line_top(index: int) -> int:
    """The first glass row of text line ``index`` (0-3)."""
    return LINE_PITCH * index + TOP_MARGIN


_GLYPHS: bytes | None = None
_COLUMNS: dict[int, tuple[list[bytes], list[bytes]]] = {}


def _glyph_bytes() -> bytes:
    """The font file's glyphs: after a 2-byte header (width, height), 5 column bytes a
    character, bit 0 at the top (the format adafruit_framebuf's ``BitmapFont`` reads)."""
    global _GLYPHS
    if _GLYPHS is None:
        data = FONT_FILE.read_bytes()
        if data[:2] != bytes((GLYPH_W, GLYPH_H)):
            raise ValueError(f"{FONT_FILE} is not a {GLYPH_W}x{GLYPH_H} font")
        _GLYPHS = data[2:]
    return _GLYPHS


def _columns(shift: int) -> tuple[list[bytes], list[bytes]]:
    """For each character, its 6 column bytes (the glyph and the spacing) in the page a line
    starts in and in the page below, for a line whose top row is ``shift`` rows into a page."""
    if shift not in _COLUMNS:
        glyphs = _glyph_bytes()
        upper, lower = [], []
        for code in range(256):
            cols = glyphs[code * GLYPH_W:(code + 1) * GLYPH_W] + bytes(ADVANCE - GLYPH_W)
            upper.append(bytes((c << shift) & 0xFF for c in cols))
            lower.append(bytes(c >> (8 - shift) if shift else 0 for c in cols))
        _COLUMNS[shift] = (upper, lower)
    return _COLUMNS[shift]


@lru_cache(maxsize=256)
def _line_bytes(line: str, shift: int, room: int) -> tuple[bytes, bytes]:
    """A line's column bytes in its first page and in the page below (at most ``room``)."""
    upper, lower = _columns(shift)
    codes = line.encode("latin-1")
    return (b"".join([upper[c] for c in codes])[:room],
            b"".join([lower[c] for c in codes])[:room])


def render(lines: Sequence[str], bars: Sequence[tuple[int, float]] = (), *,
           width: int = 128, height: int = 64) -> bytearray:
    """The frame for ``lines`` and ``bars`` (``(line, fraction)`` pairs) in the driver's
    layout (MVLSB: ``height // 8`` pages of ``width`` bytes, bit 0 the page's top row), as
    :meth:`Display.show_lines` draws it. Checks nothing: see :meth:`Display.check_lines`."""
    frame = bytearray(width * (height // 8))
    for i, line in enumerate(lines):
        if not line:
            continue
        page, shift = divmod(line_top(i), 8)
        top, below = _line_bytes(line, shift, width - LEFT_MARGIN)
        start = page * width + LEFT_MARGIN
        _or(frame, start, top)
        if shift and page + 1 < height // 8:
            _or(frame, start + width, below)
    for line, fraction in bars:
        top = line_top(line) + BAR_OFFSET
        if top + BAR_ROWS > height:
            raise ValueError(f"no room for a bar under line {line + 1}")
        left, right = LEFT_MARGIN, width - 1 - LEFT_MARGIN
        fill_to = left + round(max(0.0, min(1.0, fraction)) * (right - left))
        for page in range(top >> 3, ((top + BAR_ROWS - 1) >> 3) + 1):
            full = edge = 0
            for row in range(max(top, 8 * page), min(top + BAR_ROWS, 8 * page + 8)):
                full |= 1 << (row & 7)
                if row in (top, top + BAR_ROWS - 1):
                    edge |= 1 << (row & 7)
            inside = max(0, right - fill_to - 1)
            _or(frame, page * width + left, bytes((full,)) * (right - left + 1 - inside - 1)
                + bytes((edge,)) * inside + bytes((full,)))
    return frame


def _or(frame: bytearray, start: int, data: bytes) -> None:
    """``frame[start:]`` |= ``data``, byte by byte (done on whole integers)."""
    end = start + len(data)
    merged = int.from_bytes(frame[start:end], "big") | int.from_bytes(data, "big")
    frame[start:end] = merged.to_bytes(len(data), "big")


class _Driver(SSD1306_I2C):
    """The adafruit driver as it is, but for the clear frame its construction sends after the
    init sequence (``fill(0)``, ``show()``: 24 ms of bus time), which is held back when
    ``hold_first_frame`` is set: the frame then goes out a page at a time."""

    def __init__(self, *args, hold_first_frame: bool = False, **kwargs):
        self._holding = hold_first_frame
        super().__init__(*args, **kwargs)
        self._holding = False

    def show(self) -> None:
        if not self._holding:
            super().show()


class Display:
    """The SSD1306 on the board's I2C bus.

    :param board: the hardware description (``[display]``: bus and address).
    :param i2c: the I2C bus (``busio.I2C`` on the Pi, ``sim.ads1115.SimI2CBus`` in simulation).
    """

    def __init__(self, board: Board, *, i2c):
        self.board = board
        self._i2c = i2c
        self._chip: SSD1306_I2C | None = None
        self.width = board.display.width
        self.height = board.display.height
        self.columns = (self.width - LEFT_MARGIN) // ADVANCE
        self._lines: tuple[str, ...] | None = None

    @property
    def address(self) -> int:
        return self.board.display.address

    @property
    def started(self) -> bool:
        """The driver has been built (the chip answered and took its init sequence)."""
        return self._chip is not None

    @property
    def lines(self) -> tuple[str, ...] | None:
        """The lines last shown (None: nothing shown since the driver was built)."""
        return self._lines

    def _where(self) -> str:
        return f"I2C address 0x{self.address:02x} (bus {self.board.display.i2c_bus})"

    def _fail(self, what: str, exc: OSError) -> DisplayError:
        self._drop()
        hint = "check the display's cable and its power"
        if exc.errno in NOT_ANSWERING:
            return DisplayAbsentError(f"the SSD1306 display at {self._where()} does not answer "
                                      f"({what}): {exc}; {hint}")
        return DisplayError(f"I2C error while {what} the SSD1306 display at {self._where()}: "
                            f"{exc}; {hint}")

    def _drop(self) -> None:
        chip, self._chip, self._lines = self._chip, None, None
        font = getattr(chip, "_font", None)
        if font is not None:
            font.deinit()

    def _driver(self, *, hold_first_frame: bool = False) -> SSD1306_I2C:
        if self._chip is None:
            try:
                self._chip = _Driver(self.width, self.height, self._i2c, addr=self.address,
                                     hold_first_frame=hold_first_frame)
            except ValueError as exc:  # the probe: "No I2C device at address"
                raise DisplayAbsentError(f"no SSD1306 display answers at {self._where()}: {exc}; "
                                         "check the display's cable and its power") from exc
            except OSError as exc:
                raise self._fail("starting", exc) from exc
        return self._chip

    def _io(self, what: str, fn) -> None:
        chip = self._driver()
        try:
            fn(chip)
        except OSError as exc:
            raise self._fail(what, exc) from exc

    # --- drawing ----------------------------------------------------------------------------------
    def check_lines(self, lines: Sequence[str]) -> tuple[str, ...]:
        """``lines`` as they will be shown, or ``ValueError`` saying what does not fit."""
        lines = tuple(lines)
        if len(lines) > MAX_LINES:
            raise ValueError(f"{len(lines)} lines do not fit the display; at most {MAX_LINES}")
        for i, line in enumerate(lines):
            if not isinstance(line, str):
                raise ValueError(f"line {i + 1} is {line!r}, not text")
            if len(line) > self.columns:
                raise ValueError(f"line {i + 1} {line!r} has {len(line)} characters; "
                                 f"at most {self.columns} fit")
            bad = next((c for c in line if not " " <= c <= "~"), None)
            if bad is not None:
                raise ValueError(f"line {i + 1} {line!r}: the font has no {bad!r}; "
                                 "use printable ASCII")
        return lines

    def show_lines(self, lines: Sequence[str]) -> None:
        """Clear the glass and show up to four lines of text (see the module's layout).

        :raises ValueError: the text does not fit; :raises DisplayAbsentError: the display does
            not answer; :raises DisplayError: another bus error.
        """
        lines = self.check_lines(lines)

        def draw(chip: SSD1306_I2C) -> None:
            chip.fill(0)
            for i, line in enumerate(lines):
                if line:
                    chip.text(line, LEFT_MARGIN, line_top(i), 1, font_name=str(FONT_FILE))
            chip.show()

        self._io("writing", draw)
        self._lines = lines

    # --- a page at a time (see the module's docstring) ----------------------------------------
    def begin(self) -> bool:
        """Build the driver if it is not built: True if it was built now (the chip answered,
        took its init sequence and is switched off: its RAM holds no known frame until a
        whole frame is written, then :meth:`power_on`). Raises as :meth:`show_lines`."""
        if self._chip is not None:
            return False
        chip = self._driver(hold_first_frame=True)
        try:
            chip.poweroff()
        except OSError as exc:
            raise self._fail("starting", exc) from exc
        return True

    def write_page(self, frame, page: int, first: int = 0, last: int | None = None) -> None:
        """Send columns ``first`` to ``last`` of page ``page`` of ``frame`` (as
        :func:`render` gives it) to the chip's RAM, in horizontal addressing mode."""
        last = self.width - 1 if last is None else last
        if not 0 <= first <= last < self.width or not 0 <= page < self.height // 8:
            raise ValueError(f"page {page} columns {first}-{last} are not on the display")
        base = page * self.width
        data = bytearray(2 + last - first)
        data[0] = 0x40  # Co = 0, D/C# = 1: display data to the end of the transaction
        data[1:] = frame[base + first:base + last + 1]

        def send(chip: SSD1306_I2C) -> None:
            for byte in (SET_COL_ADDR, first, last, SET_PAGE_ADDR, page, page):
                chip.write_cmd(byte)
            with chip.i2c_device:
                chip.i2c_device.write(data)

        self.begin()
        self._io("writing", send)

    def ping(self) -> None:
        """One NOP command: the chip acknowledges it, or the typed error says it does not."""
        self.begin()
        self._io("reaching", lambda chip: chip.write_cmd(NOP))

    def clear(self) -> None:
        """A dark glass (the display stays on)."""
        self.show_lines(())

    def set_contrast(self, level: int) -> None:
        """The brightness, 0 to 255 (the driver starts at 255)."""
        if not 0 <= level <= 255:
            raise ValueError(f"contrast {level!r}; allowed: 0 to 255")
        self._io("setting the contrast of", lambda chip: chip.contrast(level))

    def power_off(self) -> None:
        """Display off (the chip sleeps; the frame memory is kept)."""
        self._io("switching off", lambda chip: chip.poweroff())

    def power_on(self) -> None:
        self._io("switching on", lambda chip: chip.poweron())

    def close(self) -> None:
        """Switch the glass off if the driver was started, so that no screen stays up after the
        program has gone; a display that no longer answers is left as it is. The bus belongs to
        whoever injected it."""
        if self._chip is None:
            return
        try:
            self._chip.poweroff()
        except OSError:
            pass
        self._drop()
