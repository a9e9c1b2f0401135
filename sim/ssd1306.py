"""An SSD1306 OLED controller emulator, at the register level, that the real adafruit driver
talks to on the simulated I2C bus.

It follows the SSD1306 datasheet (Solomon Systech, rev 1.1), the parts the unit's 128x64
module uses:

- **I2C write** (section 8.1.5): after the address, a *control byte* ``Co D/C# 0 0 0 0 0 0``.
  With Co = 0 every byte after it in the transaction is of the kind D/C# says (0: commands,
  1: display data); with Co = 1 one byte of that kind follows, then another control byte.
  The adafruit driver sends each command byte, and each of its arguments, in its own
  transaction ``[0x80, byte]``, and the frame as ``[0x40, 1024 bytes]``. The command decoder
  keeps waiting for a command's arguments from one transaction to the next, as the chip does.
  An empty write (the driver's probe of the address) is acknowledged and changes nothing. The
  datasheet gives no read over I2C; a read here returns the status byte of the parallel
  interfaces (bit 6: the display is off), which the driver never asks for.
- **Command table** (section 9, descriptions in section 10): ``0x81 A`` contrast (reset 0x7F);
  ``0xA4``/``0xA5`` the output follows the RAM / the entire display on; ``0xA6``/``0xA7``
  normal / inverse; ``0xAE``/``0xAF`` display off (sleep) / on; ``0x20 A`` memory addressing
  mode (A[1:0]: 00 horizontal, 01 vertical, 10 page, the reset; 11 is invalid and ignored);
  ``0x21 A B`` column start and end (A[6:0], B[6:0]; reset 0, 127) and ``0x22 A B`` page start
  and end (A[2:0], B[2:0]; reset 0, 7), each also moving the pointer to the start;
  ``0x00-0x0F``/``0x10-0x1F`` the low/high nibble of the column and ``0xB0-0xB7`` the page, for
  page addressing mode only (ignored in the other two); ``0x40-0x7F`` display start line;
  ``0xA0``/``0xA1`` segment remap (column 0 / column 127 on SEG0), which "only affects
  subsequent data input": it is applied when a byte is written, so data already in the RAM
  does not move (the driver's ``rotate`` says the same: call ``show()`` after it);
  ``0xA8 A`` multiplex ratio (A[5:0] + 1; 0 to 14 invalid and ignored); ``0xC0``/``0xC8`` COM
  scan direction (normal / from COM[N-1] to COM0), which acts at once; ``0xD3 A`` display
  offset (a vertical shift by COM); ``0xDA A`` COM pins hardware configuration (A[4]:
  alternative, the reset 0x12; A[5]: left/right remap); ``0xD5 A`` clock divide and
  oscillator, ``0xD9 A`` pre-charge, ``0xDB A`` VCOMH level (kept, no effect on the frame);
  ``0xE3`` NOP; scrolling ``0x26``/``0x27`` (6 arguments), ``0x29``/``0x2A`` (5), ``0xA3``
  (2), ``0x2E``/``0x2F``, and the advanced ``0x23 A`` (fade/blink) and ``0xD6 A`` (zoom):
  their arguments are taken off the stream and the state kept, but the motion is not
  modelled (the device never scrolls; :attr:`scrolling` says if something asked for it).
  ``0x8D A`` charge pump (the charge pump application note: A = 0x14 on, 0x10 off; off at
  reset): with the module's internal VCC the glass stays dark while it is off. ``0xAD A``
  (internal IREF selection) is not in rev 1.1's table but in later revisions' and the driver
  sends it (``0xAD 0x30``): it is taken with its argument and kept. Any other byte is counted
  in :attr:`unknown_commands` and otherwise ignored (the datasheet does not say what happens).
- **GDDRAM** (section 8.7): 8 pages of 128 bytes, each byte a column of 8 rows, bit 0 at the
  top. Its content at power-up is not defined: here it is seeded noise, so a driver that does
  not clear it shows garbage, as the real glass would.
- **Pointer** (section 10.1.3): horizontal mode counts the column up to the column end, then
  back to the column start and the next page, from the page end back to the page start;
  vertical mode counts the page first, then the column; page mode counts the column only,
  from the column end back to the column start (the datasheet's words, taken literally), the
  page staying.
- **The glass** (:meth:`frame`): what a 128x64 module shows. Display line L (L < N, the
  multiplex ratio) shows RAM row (L + start line) mod 64. The COM that carries line L is
  L + offset in normal scan, N - 1 - L + offset from COM[N-1] down (mod 64). The module's
  panel is wired for the alternative COM pin configuration, with COM0 at the bottom and SEG0
  at the right edge, which is why the common 128x64 modules (and this driver) set the segment
  remap and the remapped COM scan to show the RAM upright. With the sequential configuration
  (A[4] = 0) the chip's COM order across the panel's pins is interleaved (RAM rows 0-31 fill
  every other row of the glass), and A[5] swaps the two halves: an approximation of the
  datasheet's table for DAh (section 10.1) that keeps what such a panel shows. The frame is
  on/off per pixel: the display off, or the charge pump off on internal VCC, is all dark;
  0xA5 lights every driven row; inverse turns the RAM's 0 into a lit pixel. Contrast is a
  brightness, given apart (:attr:`contrast`).

The I2C time of each transaction is the bus's (:class:`sim.ads1115.SimI2CBus`: 400 kHz, 9 bit
times a byte): a whole frame is 1025 bytes, about 23 ms of virtual time.
"""

from __future__ import annotations

import random
from collections import deque

WIDTH, HEIGHT, PAGES = 128, 64, 8
MODE_HORIZONTAL, MODE_VERTICAL, MODE_PAGE = 0, 1, 2
CONTROL_CO, CONTROL_DC = 0x80, 0x40
#: how many argument bytes follow each command byte that takes any (datasheet section 9)
ARGUMENTS = {
    0x20: 1, 0x21: 2, 0x22: 2, 0x23: 1, 0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5, 0x81: 1, 0x8D: 1,
    0xA3: 2, 0xA8: 1, 0xAD: 1, 0xD3: 1, 0xD5: 1, 0xD6: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1,
}
#: single-byte commands besides the ranges 0x00-0x1F, 0x40-0x7F, 0xB0-0xB7
SINGLE = {0x2E, 0x2F, 0xA0, 0xA1, 0xA4, 0xA5, 0xA6, 0xA7, 0xAE, 0xAF, 0xC0, 0xC8, 0xE3}
STATUS_DISPLAY_OFF = 0x40


class Ssd1306Emulator:
    """The SSD1306's command decoder, its settings, the GDDRAM and the glass.

    :param seed: seeds the GDDRAM's content at power-up.
    :param external_vcc: the panel's VCC comes from outside (then the charge pump is not
        needed to light it); the unit's module makes it with the charge pump (False).
    """

    def __init__(self, *, seed: int = 0, external_vcc: bool = False):
        self.external_vcc = external_vcc
        self._rng = random.Random(seed ^ 0x1306)
        self.transactions = 0
        self.data_bytes = 0
        self.unknown_commands = 0
        #: the last complete commands, each (command byte, arguments...)
        self.commands: deque[tuple[int, ...]] = deque(maxlen=256)
        self.power_on()

    # --- the simulator's side -----------------------------------------------------------------
    def power_on(self) -> None:
        """Every setting at its reset value (datasheet section 9, "Reset" column); the RAM
        holds whatever it came up with."""
        self.gddram = bytearray(self._rng.randbytes(PAGES * WIDTH))
        self.display_on = False
        self.contrast = 0x7F
        self.entire_on = False
        self.inverse = False
        self.mode = MODE_PAGE
        self.col_start, self.col_end = 0, WIDTH - 1
        self.page_start, self.page_end = 0, PAGES - 1
        self.column, self.page = 0, 0
        self.start_line = 0
        self.segment_remap = False
        self.mux = HEIGHT            # N, the multiplex ratio
        self.com_remapped = False    # True: scan from COM[N-1] to COM0
        self.offset = 0
        self.com_pins = 0x12
        self.clock_div = 0x80
        self.precharge = 0x22
        self.vcomh = 0x20
        self.charge_pump = False
        self.iref = 0x00
        self.scrolling = False
        self._pending: list[int] = []   # a command byte and the arguments received so far

    @property
    def lit(self) -> bool:
        """The glass shows something: the display is on and the panel has its voltage."""
        return self.display_on and (self.charge_pump or self.external_vcc)

    # --- the I2C side ---------------------------------------------------------------------------
    def write(self, data, start: int = 0, end: int | None = None) -> None:
        """An I2C write of ``data[start:end]``: control bytes, commands and display data."""
        end = len(data) if end is None else end
        if end - start <= 0:
            return  # address probe: ACK, nothing written
        self.transactions += 1
        i = start
        while i < end:
            control = data[i]
            i += 1
            is_data = bool(control & CONTROL_DC)
            if control & CONTROL_CO:
                if i < end:
                    self._byte(data[i], is_data)
                    i += 1
                continue
            if is_data:
                self._data(data, i, end)
            else:
                for j in range(i, end):
                    self._command(data[j])
            return

    def read_into(self, buffer, start: int, end: int) -> None:
        """A read: the status byte (bit 6: display off) for each byte asked."""
        self.transactions += 1
        status = 0 if self.display_on else STATUS_DISPLAY_OFF
        for i in range(start, end):
            buffer[i] = status

    def _byte(self, byte: int, is_data: bool) -> None:
        if is_data:
            self._data((byte,), 0, 1)
        else:
            self._command(byte)

    # --- display data -------------------------------------------------------------------------
    def _data(self, data, start: int, end: int) -> None:
        ram = self.gddram
        remap = self.segment_remap
        for i in range(start, end):
            seg = WIDTH - 1 - self.column if remap else self.column
            ram[self.page * WIDTH + seg] = data[i]
            self._advance()
        self.data_bytes += end - start

    def _advance(self) -> None:
        """Move the pointer on after one byte (section 10.1.3)."""
        if self.mode == MODE_VERTICAL:
            if self.page == self.page_end:
                self.page = self.page_start
                self.column = self.col_start if self.column == self.col_end \
                    else (self.column + 1) % WIDTH
            else:
                self.page = (self.page + 1) % PAGES
            return
        if self.column != self.col_end:
            self.column = (self.column + 1) % WIDTH
            return
        self.column = self.col_start
        if self.mode == MODE_HORIZONTAL:
            self.page = self.page_start if self.page == self.page_end \
                else (self.page + 1) % PAGES

    # --- commands -------------------------------------------------------------------------------
    def _command(self, byte: int) -> None:
        pending = self._pending
        if pending:
            pending.append(byte)
            if len(pending) == 1 + ARGUMENTS[pending[0]]:
                self._pending = []
                self._execute(pending[0], pending[1:])
            return
        if byte in ARGUMENTS:
            self._pending = [byte]
            return
        self._execute(byte, [])

    def _execute(self, cmd: int, args: list[int]) -> None:
        self.commands.append((cmd, *args))
        page_mode = self.mode == MODE_PAGE
        if cmd <= 0x0F:
            if page_mode:
                self.column = (self.column & 0xF0) | cmd
        elif cmd <= 0x1F:
            if page_mode:
                self.column = ((cmd & 0x07) << 4) | (self.column & 0x0F)
        elif cmd == 0x20:
            if args[0] & 0x03 != 0x03:
                self.mode = args[0] & 0x03
        elif cmd == 0x21:
            self.col_start, self.col_end = args[0] & 0x7F, args[1] & 0x7F
            self.column = self.col_start
        elif cmd == 0x22:
            self.page_start, self.page_end = args[0] & 0x07, args[1] & 0x07
            self.page = self.page_start
        elif 0x40 <= cmd <= 0x7F:
            self.start_line = cmd & 0x3F
        elif 0xB0 <= cmd <= 0xB7:
            if page_mode:
                self.page = cmd & 0x07
        elif cmd == 0x81:
            self.contrast = args[0]
        elif cmd in (0xA4, 0xA5):
            self.entire_on = cmd == 0xA5
        elif cmd in (0xA6, 0xA7):
            self.inverse = cmd == 0xA7
        elif cmd in (0xAE, 0xAF):
            self.display_on = cmd == 0xAF
        elif cmd in (0xA0, 0xA1):
            self.segment_remap = cmd == 0xA1
        elif cmd == 0xA8:
            if args[0] & 0x3F >= 15:
                self.mux = (args[0] & 0x3F) + 1
        elif cmd in (0xC0, 0xC8):
            self.com_remapped = cmd == 0xC8
        elif cmd == 0xD3:
            self.offset = args[0] & 0x3F
        elif cmd == 0xDA:
            self.com_pins = args[0] & 0x32
        elif cmd == 0xD5:
            self.clock_div = args[0]
        elif cmd == 0xD9:
            self.precharge = args[0]
        elif cmd == 0xDB:
            self.vcomh = args[0] & 0x70
        elif cmd == 0x8D:
            self.charge_pump = bool(args[0] & 0x04)
        elif cmd == 0xAD:
            self.iref = args[0]
        elif cmd == 0x2F:
            self.scrolling = True
        elif cmd == 0x2E:
            self.scrolling = False
        elif cmd in ARGUMENTS or cmd == 0xE3:
            pass  # scroll set-up, fade, zoom, NOP: taken, not modelled
        else:
            self.unknown_commands += 1

    # --- the glass ------------------------------------------------------------------------------
    def _line_on_com(self, com: int) -> int | None:
        """The display line the chip drives on COM ``com``, or None (not driven: dark)."""
        n = self.mux
        shifted = (com - self.offset) % HEIGHT
        line = (n - 1 - shifted) % HEIGHT if self.com_remapped else shifted
        return line if line < n else None

    def _com_at_glass_row(self) -> list[int]:
        """For each glass row (0 at the top) the COM that lights it, by the panel's wiring."""
        alternative = bool(self.com_pins & 0x10)
        lr_remap = bool(self.com_pins & 0x20)
        half = HEIGHT // 2
        pin_of_com = []
        for com in range(HEIGHT):
            c = (com + half) % HEIGHT if lr_remap else com
            pin_of_com.append(c if alternative else (2 * c if c < half else 2 * (c - half) + 1))
        com_at_pin = [0] * HEIGHT
        for com, pin in enumerate(pin_of_com):
            com_at_pin[pin] = com
        return [com_at_pin[HEIGHT - 1 - row] for row in range(HEIGHT)]

    def frame(self) -> list[list[int]]:
        """The 64 rows of 128 pixels the glass shows (1 lit, 0 dark), row 0 at the top."""
        rows = [[0] * WIDTH for _ in range(HEIGHT)]
        if not self.lit:
            return rows
        ram = self.gddram
        for row, com in enumerate(self._com_at_glass_row()):
            line = self._line_on_com(com)
            if line is None:
                continue
            if self.entire_on:
                rows[row] = [1] * WIDTH
                continue
            ram_row = (line + self.start_line) % HEIGHT
            base, bit = (ram_row >> 3) * WIDTH, ram_row & 7
            flip = 1 if self.inverse else 0
            out = rows[row]
            for x in range(WIDTH):
                # glass column x is on SEG(127 - x)
                out[x] = ((ram[base + WIDTH - 1 - x] >> bit) & 1) ^ flip
        return rows

    def text_art(self) -> str:
        """The frame as text, ``#`` lit and ``.`` dark, for messages and debugging."""
        return "\n".join("".join("#" if p else "." for p in row) for row in self.frame())
