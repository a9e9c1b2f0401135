"""The SSD1306 emulator against the datasheet's command set, the real adafruit driver on it, and
the HAL display built from the board file (hal/display.py)."""

from __future__ import annotations

import hashlib
import random

import adafruit_framebuf
import adafruit_ssd1306
import pytest
from adafruit_ssd1306 import SSD1306_I2C

from hal import DisplayAbsentError, DisplayError
from hal.display import FONT_FILE, MAX_LINES, line_top
from sim.ads1115 import SimI2CBus
from sim.clock import VirtualClock
from sim.ssd1306 import HEIGHT, MODE_HORIZONTAL, MODE_PAGE, MODE_VERTICAL, WIDTH, Ssd1306Emulator
from simtools.backend import sim_hardware

ADDR = 0x3C


def bus_with_chip(**kwargs):
    clock = VirtualClock()
    bus = SimI2CBus(clock)
    emu = Ssd1306Emulator(**kwargs)
    bus.attach(ADDR, emu)
    return clock, bus, emu


def cmd(emu, *data):
    """Commands in one transaction with Co = 0, D/C# = 0."""
    emu.write(bytes((0x00, *data)))


def data(emu, *data):
    """Display data in one transaction with Co = 0, D/C# = 1."""
    emu.write(bytes((0x40, *data)))


def ram(emu, page, seg):
    return emu.gddram[page * WIDTH + seg]


def lit_chip(**kwargs):
    """A chip switched on with the charge pump, RAM cleared, in horizontal mode."""
    emu = Ssd1306Emulator(**kwargs)
    cmd(emu, 0x8D, 0x14, 0xAF, 0x20, 0x00)
    data(emu, *bytes(WIDTH * 8))
    return emu


# ---------------------------------------------------------------------------------------------
# The emulator against the datasheet
# ---------------------------------------------------------------------------------------------
def test_driver_versions_are_the_pinned_ones():
    # hal/display.py and sim/ssd1306.py document these versions' transactions.
    assert adafruit_ssd1306.__version__ == "2.12.24"
    assert adafruit_framebuf.__version__ == "1.6.12"


def test_reset_values_and_a_dark_glass():
    emu = Ssd1306Emulator(seed=3)
    assert (emu.display_on, emu.contrast, emu.mode, emu.mux, emu.com_pins) == \
        (False, 0x7F, MODE_PAGE, 64, 0x12)
    assert (emu.col_start, emu.col_end, emu.page_start, emu.page_end) == (0, 127, 0, 7)
    assert not emu.charge_pump and not emu.lit
    assert any(emu.gddram)  # the RAM holds noise at power-up, not zeros
    assert all(p == 0 for row in emu.frame() for p in row)  # but the glass is off


def test_the_control_byte_co_and_dc():
    emu = Ssd1306Emulator()
    # Co = 1: one command, then another control byte saying "data" with Co = 1, then a stream.
    emu.write(bytes((0x80, 0xB3, 0xC0, 0x5A, 0x40, 0x11, 0x22)))
    assert emu.page == 3 and ram(emu, 3, 0) == 0x5A
    assert ram(emu, 3, 1) == 0x11 and ram(emu, 3, 2) == 0x22 and emu.column == 3
    # Co = 0, D/C# = 0: every byte after it is a command, 0x40 included (start line 0).
    cmd(emu, 0xA7, 0x47)
    assert emu.inverse and emu.start_line == 7
    assert emu.data_bytes == 3


def test_a_commands_arguments_may_come_in_later_transactions():
    emu = Ssd1306Emulator()
    for byte in (0x81, 0x3C, 0x21, 5, 9):   # the driver's way: [0x80, byte] each
        emu.write(bytes((0x80, byte)))
    assert emu.contrast == 0x3C and (emu.col_start, emu.col_end, emu.column) == (5, 9, 5)
    assert list(emu.commands)[-2:] == [(0x81, 0x3C), (0x21, 5, 9)]


def test_an_empty_write_is_the_probe_and_changes_nothing():
    _, bus, emu = bus_with_chip()
    before = bytes(emu.gddram)
    bus.writeto(ADDR, b"")
    assert emu.transactions == 0 and bytes(emu.gddram) == before


def test_horizontal_addressing_wraps_in_the_column_and_page_ranges():
    emu = Ssd1306Emulator()
    cmd(emu, 0x20, 0x00, 0x21, 10, 12, 0x22, 1, 2)
    data(emu, *range(1, 8))
    assert [ram(emu, 1, c) for c in (10, 11, 12)] == [7, 2, 3]  # the 7th byte wrapped to (1, 10)
    assert [ram(emu, 2, c) for c in (10, 11, 12)] == [4, 5, 6]
    assert (emu.page, emu.column) == (1, 11)


def test_vertical_addressing_counts_the_page_first():
    emu = Ssd1306Emulator()
    cmd(emu, 0x20, 0x01, 0x21, 100, 101, 0x22, 5, 7)
    data(emu, *range(1, 8))
    assert [ram(emu, p, 100) for p in (5, 6, 7)] == [7, 2, 3]
    assert [ram(emu, p, 101) for p in (5, 6, 7)] == [4, 5, 6]
    assert emu.mode == MODE_VERTICAL and (emu.page, emu.column) == (6, 100)


def test_page_addressing_as_the_datasheets_example_and_its_wrap():
    emu = Ssd1306Emulator()
    cmd(emu, 0xB2, 0x03, 0x10)  # page 2, column 3: "PAGE2 SEG3" in the datasheet's example
    data(emu, 0xAA)
    assert ram(emu, 2, 3) == 0xAA
    cmd(emu, 0x0F, 0x17)        # column 0x7F: the last
    data(emu, 0x01, 0x02)
    assert ram(emu, 2, 127) == 0x01 and ram(emu, 2, 0) == 0x02  # back to the start, same page
    assert emu.page == 2


def test_page_commands_are_ignored_outside_page_mode_and_invalid_values_are_not_taken():
    emu = Ssd1306Emulator()
    cmd(emu, 0x20, 0x00, 0xB5, 0x07, 0x13)
    assert (emu.page, emu.column) == (0, 0)
    cmd(emu, 0x20, 0x03)        # 11b is invalid
    assert emu.mode == MODE_HORIZONTAL
    cmd(emu, 0xA8, 10)          # a multiplex ratio below 16
    assert emu.mux == 64
    cmd(emu, 0x22, 0xF9, 0xFF)  # only A[2:0], B[2:0]
    assert (emu.page_start, emu.page_end) == (1, 7)


def test_scrolling_takes_its_arguments_and_unknown_bytes_are_counted():
    emu = Ssd1306Emulator()
    cmd(emu, 0x26, 0x00, 0x00, 0x07, 0x07, 0x00, 0xFF, 0x2F, 0x81, 0x10)
    assert emu.scrolling and emu.contrast == 0x10 and emu.unknown_commands == 0
    cmd(emu, 0x2E, 0xFE)
    assert not emu.scrolling and emu.unknown_commands == 1


def test_on_off_charge_pump_invert_entire_on_and_contrast():
    emu = lit_chip()
    cmd(emu, 0xA1, 0xC8, 0x21, 0, 127, 0x22, 0, 7)
    data(emu, 0x01)               # RAM column 0, row 0 -> glass (row 0, column 0) after remaps
    assert emu.frame()[0][0] == 1 and sum(map(sum, emu.frame())) == 1
    cmd(emu, 0xAE)
    assert sum(map(sum, emu.frame())) == 0
    cmd(emu, 0xAF, 0x8D, 0x10)    # on, but the charge pump off on internal VCC: dark
    assert not emu.lit and sum(map(sum, emu.frame())) == 0
    assert Ssd1306Emulator(external_vcc=True).write(bytes((0x80, 0xAF))) is None
    cmd(emu, 0x8D, 0x14, 0xA7)
    frame = emu.frame()
    assert frame[0][0] == 0 and sum(map(sum, frame)) == WIDTH * HEIGHT - 1
    cmd(emu, 0xA6, 0xA5)
    assert sum(map(sum, emu.frame())) == WIDTH * HEIGHT
    cmd(emu, 0xA4, 0x81, 0x00)
    assert emu.contrast == 0 and sum(map(sum, emu.frame())) == 1  # contrast is not on/off


def test_external_vcc_needs_no_charge_pump():
    emu = Ssd1306Emulator(external_vcc=True)
    cmd(emu, 0xAF)
    assert emu.lit


def test_segment_remap_acts_on_later_data_and_com_scan_at_once():
    emu = lit_chip()
    cmd(emu, 0xC8, 0xA0, 0x21, 0, 127, 0x22, 0, 7)
    data(emu, 0x01)               # no segment remap: stored at SEG0, the glass's right edge
    assert emu.frame()[0][127] == 1
    cmd(emu, 0xA1)                # remap now: the byte already stored does not move
    assert emu.frame()[0][127] == 1
    cmd(emu, 0x21, 0, 127)
    data(emu, 0x80)               # column 0 -> SEG127: left edge, row 7
    assert emu.frame()[7][0] == 1
    cmd(emu, 0xC0)                # normal COM scan: upside down, at once
    frame = emu.frame()
    assert frame[63][127] == 1 and frame[56][0] == 1 and frame[0][127] == 0


def test_start_line_offset_and_multiplex():
    emu = lit_chip()
    cmd(emu, 0xA1, 0xC8, 0x22, 1, 1, 0x21, 0, 0)
    data(emu, 0x01)               # RAM row 8, column 0
    assert emu.frame()[8][0] == 1
    cmd(emu, 0x48)                # start line 8: RAM row 8 on the first line
    assert emu.frame()[0][0] == 1
    cmd(emu, 0x40, 0xD3, 4)       # offset 4 (the remapped scan moves the picture up)
    assert emu.frame()[4][0] == 1
    cmd(emu, 0xD3, 0, 0xA8, 31)   # 32 lines: only 32 glass rows are driven
    lit_rows = {r for r, row in enumerate(emu.frame()) if any(row)}
    assert lit_rows == {8 + 32}
    cmd(emu, 0xA5)
    assert sum(1 for row in emu.frame() if any(row)) == 32


def test_sequential_com_pins_interleave_the_rows_on_this_panel():
    emu = lit_chip()
    cmd(emu, 0xA1, 0xC8, 0x21, 0, 0, 0x22, 0, 7, 0xDA, 0x02)
    data(emu, *([0x01] * 8))      # rows 0, 8, ..., 56 of column 0
    rows = [r for r, row in enumerate(emu.frame()) if row[0]]
    assert len(rows) == 8 and rows != [0, 8, 16, 24, 32, 40, 48, 56]
    cmd(emu, 0xDA, 0x12)
    assert [r for r, row in enumerate(emu.frame()) if row[0]] == [0, 8, 16, 24, 32, 40, 48, 56]


def test_a_read_gives_the_status_byte():
    _, bus, emu = bus_with_chip()
    buf = bytearray(1)
    bus.readfrom_into(ADDR, buf)
    assert buf[0] == 0x40  # display off
    cmd(emu, 0xAF)
    bus.readfrom_into(ADDR, buf)
    assert buf[0] == 0x00


# ---------------------------------------------------------------------------------------------
# The real driver on the emulator
# ---------------------------------------------------------------------------------------------
INIT = [(0xAF,), (0xAE,), (0x20, 0x00), (0x40,), (0xA1,), (0xA8, 63), (0xC8,), (0xD3, 0),
        (0xDA, 0x12), (0xD5, 0x80), (0xD9, 0xF1), (0xDB, 0x30), (0x81, 0xFF), (0xA4,), (0xA6,),
        (0xAD, 0x30), (0x8D, 0x14), (0xAF,), (0x21, 0, 127), (0x22, 0, 7)]


def test_the_drivers_init_sequence_and_the_state_it_leaves():
    _, bus, emu = bus_with_chip(seed=11)
    assert any(emu.gddram)
    SSD1306_I2C(128, 64, bus, addr=ADDR)
    assert list(emu.commands) == INIT
    assert emu.unknown_commands == 0
    assert (emu.mode, emu.segment_remap, emu.com_remapped, emu.mux, emu.contrast) == \
        (MODE_HORIZONTAL, True, True, 64, 0xFF)
    assert emu.lit and not emu.inverse and not emu.entire_on
    assert not any(emu.gddram) and emu.data_bytes == 1024   # the driver cleared the noise
    assert (emu.page, emu.column) == (0, 0)                  # the frame wrapped exactly once
    # one transaction per command byte and argument, plus the probe's empty write (no
    # transaction for the chip) and the frame
    assert emu.transactions == sum(map(len, INIT)) + 1


def test_a_frame_written_by_the_driver_reads_back_bit_for_bit():
    _, bus, emu = bus_with_chip()
    oled = SSD1306_I2C(128, 64, bus, addr=ADDR)
    rng = random.Random(7)
    for _ in range(600):
        oled.pixel(rng.randrange(128), rng.randrange(64), 1)
    oled.line(0, 63, 127, 0, 1)
    oled.show()
    frame = emu.frame()
    assert all(frame[y][x] == oled.pixel(x, y) for y in range(64) for x in range(128))
    assert sum(map(sum, frame)) > 600
    oled.invert(True)
    inverse = emu.frame()
    assert all(inverse[y][x] == 1 - oled.pixel(x, y) for y in range(64) for x in range(128))
    oled.invert(False)
    oled.contrast(0x20)
    assert emu.contrast == 0x20 and emu.frame() == frame
    oled.poweroff()
    assert not emu.lit and sum(map(sum, emu.frame())) == 0
    oled.poweron()
    assert emu.frame() == frame   # the RAM kept the frame while the display was off


def test_the_drivers_rotate_takes_effect_as_the_datasheet_says():
    _, bus, emu = bus_with_chip()
    oled = SSD1306_I2C(128, 64, bus, addr=ADDR)
    oled.pixel(0, 0, 1)
    oled.show()
    oled.rotate(False)              # COM scan normal at once; segment remap only for new data
    assert emu.frame()[63][0] == 1
    oled.show()
    assert emu.frame()[63][127] == 1 and sum(map(sum, emu.frame())) == 1


def test_the_drivers_page_addressing_sends_horizontal_mode_and_a_column_of_64():
    # the anomaly in docs/safety/soup.md: why hal/display.py keeps the default addressing
    _, bus, emu = bus_with_chip()
    oled = SSD1306_I2C(128, 64, bus, addr=ADDR, page_addressing=True)
    assert (0x20, 0x10) in emu.commands and emu.mode == MODE_HORIZONTAL  # A[1:0] of 0x10 is 00
    oled.pixel(0, 0, 1)
    oled.show()                 # B0-B7 and the column nibbles are ignored in horizontal mode:
    assert emu.frame()[0][0] == 1 and sum(map(sum, emu.frame())) == 1  # right by accident
    cmd(emu, 0x20, 0x02)        # a chip that did take page mode
    oled.show()
    frame = emu.frame()
    assert frame[0][0] == 0 and frame[0][64] == 1  # each page starts at column 64


def test_a_whole_frame_costs_its_bus_time():
    clock, bus, emu = bus_with_chip()
    oled = SSD1306_I2C(128, 64, bus, addr=ADDR)
    t0 = clock.t
    oled.show()
    # six two-byte command transactions and one of 1025 bytes at 400 kHz (9 bits a byte, plus
    # start, address and stop)
    assert clock.t - t0 == pytest.approx((6 * 4 + 1027) * 9 / 400_000.0)


# ---------------------------------------------------------------------------------------------
# The HAL display
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def unit(board):
    hw, rig = sim_hardware(board)
    yield hw, rig
    hw.close()


def font_column(char: str, j: int) -> int:
    blob = FONT_FILE.read_bytes()
    return blob[2 + ord(char) * 5 + j]


def test_the_font_file_is_the_framebuf_projects():
    blob = FONT_FILE.read_bytes()
    assert blob[:2] == bytes((5, 8)) and len(blob) == 2 + 256 * 5
    assert hashlib.sha256(blob).hexdigest() == \
        "256f8db12c0d562a03490865479dddc4d6931b5774be1eaee416a1064ef6bdcf"


def test_building_the_hardware_sends_nothing_to_the_display(unit):
    hw, rig = unit
    assert rig.display.transactions == 0 and not hw.display.started
    assert hw.display.address == 0x3C and rig.i2c.devices[0x3C] is rig.display


def test_four_lines_of_text_laid_out_on_a_16_pixel_pitch(unit):
    hw, rig = unit
    lines = ["Anna: session 3", "due today", "Press START", "SELECT: next person"]
    t0 = rig.clock.t
    hw.display.show_lines(lines)
    assert rig.clock.t > t0 and hw.display.lines == tuple(lines)
    frame = rig.display.frame()
    for i, text in enumerate(lines):
        top = line_top(i)
        for k, char in enumerate(text):
            for j in range(5):
                x = 1 + 6 * k + j
                column = sum(frame[top + b][x] << b for b in range(8))
                assert column == font_column(char, j), (i, k, char, j)
    text_rows = {line_top(i) + b for i in range(MAX_LINES) for b in range(8)}
    assert all(not any(frame[r]) for r in range(64) if r not in text_rows)
    assert line_top(3) + 8 <= 64 - 4


def test_a_new_screen_replaces_the_old_one(unit):
    hw, rig = unit
    hw.display.show_lines(["W" * 21] * 4)
    hw.display.show_lines(["ok"])
    frame = rig.display.frame()
    assert not any(any(row) for row in frame[line_top(1):])  # no stale characters below
    assert not any(frame[line_top(0) + b][x] for b in range(8) for x in range(13, 128))
    hw.display.clear()
    assert sum(map(sum, rig.display.frame())) == 0 and rig.display.lit


def test_text_that_does_not_fit_is_refused_with_what_fits(unit):
    hw, rig = unit
    with pytest.raises(ValueError, match="5 lines do not fit the display; at most 4"):
        hw.display.show_lines(["a"] * 5)
    with pytest.raises(ValueError, match="has 22 characters; at most 21 fit"):
        hw.display.show_lines(["x" * 22])
    with pytest.raises(ValueError, match="the font has no 'é'; use printable ASCII"):
        hw.display.show_lines(["Café"])
    assert rig.display.transactions == 0  # refused before anything was sent


def test_a_display_that_does_not_answer_gives_the_typed_error(unit):
    hw, rig = unit
    rig.set_display_answering(False)
    with pytest.raises(DisplayAbsentError, match=r"no SSD1306 display answers at I2C address "
                       r"0x3c \(bus 1\).*check the display's cable"):
        hw.display.show_lines(["hello"])
    assert isinstance(DisplayAbsentError("x"), OSError) and not hw.display.started
    assert len(hw.afe.read_raw()) == 4  # the ADC on the same bus goes on answering


def test_a_display_that_stops_answering_mid_use_gives_the_typed_error_and_recovers(unit):
    hw, rig = unit
    hw.display.show_lines(["one"])
    rig.set_display_answering(False)
    with pytest.raises(DisplayAbsentError, match="does not answer .writing."):
        hw.display.show_lines(["two"])
    assert not hw.display.started and hw.display.lines is None
    rig.display.power_on()           # the module lost its power with the cable
    rig.set_display_answering(True)
    hw.display.show_lines(["three"])
    # the chip came back at its reset values: lit again only because the init was sent again
    assert rig.display.lit and list(rig.display.commands).count((0x8D, 0x14)) == 2
    assert any(any(row) for row in rig.display.frame())


def test_a_bus_error_that_is_not_a_missing_chip_is_a_display_error(unit):
    hw, rig = unit
    hw.display.show_lines(["one"])
    rig.i2c.glitch_p = 1.0
    with pytest.raises(DisplayError, match="I2C error while setting the contrast of "
                       "the SSD1306 display at I2C address 0x3c") as exc:
        hw.display.set_contrast(10)
    assert not isinstance(exc.value, DisplayAbsentError)
    rig.i2c.glitch_p = 0.0
    with pytest.raises(ValueError, match="allowed: 0 to 255"):
        hw.display.set_contrast(256)


def test_contrast_power_and_close_reach_the_chip(unit):
    hw, rig = unit
    hw.display.show_lines(["hi"])
    hw.display.set_contrast(40)
    assert rig.display.contrast == 40
    hw.display.power_off()
    assert not rig.display.lit
    hw.display.power_on()
    assert rig.display.lit
    hw.close()
    assert not rig.display.lit and not hw.display.started  # no screen stays up after the program


def test_the_pi_backend_drives_the_display_on_its_one_bus(board, tmp_path):
    import dataclasses

    from hal import HalError
    from hal.pi import open_pi_backend

    (tmp_path / "gpiochip0").write_text("")
    (tmp_path / "i2c-1").write_text("")
    other = dataclasses.replace(board, display=dataclasses.replace(board.display, i2c_bus=3))
    with pytest.raises(HalError, match=r"\[display\] asks for bus 3"):
        open_pi_backend(other, dev=tmp_path)


def test_the_display_is_built_on_the_bus_the_hardware_is_given(board):
    # the Pi backend hands build_hardware its busio.I2C; the display must use that very bus
    from hal import build_hardware
    from sim.rig import SimRig

    rig = SimRig(board)
    hw = build_hardware(board, **rig.hardware_kwargs())
    try:
        assert hw.display._i2c is rig.i2c
    finally:
        hw.close()
