"""The real-time clock: the real adafruit DS3231 driver against the register emulator.

These tests pin down the emulator (the datasheet's registers and counting), the HAL clock built
on the driver (its errors, its lost time), and the driver version's behaviour the design relies
on. No test here reads the wall clock: time is the simulator's virtual clock.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta

import adafruit_ds3231
import pytest
from adafruit_register import i2c_bcd_datetime

from hal import (
    CLOCK_LOST,
    ClockLostError,
    HalError,
    RealTimeClock,
    RtcAbsentError,
    RtcError,
)
from hal.pi import open_pi_backend
from hardware import load_board
from sim.ads1115 import SimI2CBus
from sim.clock import VirtualClock
from sim.ds3231 import (
    A1F,
    CONTROL_DEFAULT,
    CONVERSION_S,
    STATUS_DEFAULT,
    Ds3231Emulator,
)
from sim.rig import RTC_START, SimRig
from simtools.backend import sim_hardware

BOARD = load_board()
ADDR = BOARD.rtc.address


@pytest.fixture(autouse=True)
def no_wall_clock(monkeypatch):
    """Nothing under test may read or wait on the wall clock."""
    def wall(*_args):
        raise AssertionError("the wall clock was read")
    for name in ("time", "monotonic", "perf_counter", "sleep", "time_ns", "monotonic_ns"):
        monkeypatch.setattr(time, name, wall)


def chip(start=datetime(2027, 1, 4, 8, 0, 0), **kw):
    """A clock, a bus with the emulator, the HAL clock and the raw driver on that bus."""
    clock = VirtualClock()
    bus = SimI2CBus(clock)
    emu = Ds3231Emulator(clock, start=start, **kw)
    bus.attach(ADDR, emu)
    return clock, bus, emu, RealTimeClock(BOARD, i2c=bus), adafruit_ds3231.DS3231(bus)


def raw_read(bus, pointer, n):
    buf = bytearray(n)
    bus.writeto_then_readfrom(ADDR, bytes([pointer]), buf)
    return list(buf)


def test_driver_versions_are_the_pinned_ones():
    # hal/rtc.py documents these versions' transactions; a new version must be re-checked.
    assert adafruit_ds3231.__version__ == "2.4.28"
    assert i2c_bcd_datetime.__version__ == "1.13.0"


def test_power_on_values_of_a_chip_whose_battery_was_flat():
    _, bus, emu, rtc, _ = chip(start=None)
    assert raw_read(bus, 0x00, 7) == [0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00]
    assert raw_read(bus, 0x0E, 2) == [CONTROL_DEFAULT, STATUS_DEFAULT]
    assert emu.osf
    assert rtc.now() == datetime(2000, 1, 1) and rtc.lost_time


def test_the_driver_reads_the_time_and_it_advances_with_the_virtual_clock():
    clock, _, _, rtc, drv = chip()
    assert rtc.now() == datetime(2027, 1, 4, 8, 0, 0) and not rtc.lost_time
    clock.advance(0.9)
    assert rtc.now() == datetime(2027, 1, 4, 8, 0, 0)  # not a whole second yet
    clock.advance(60.2)
    assert rtc.now() == datetime(2027, 1, 4, 8, 1, 1)
    clock.advance(3 * 86400 + 5 * 3600)
    assert rtc.now() == datetime(2027, 1, 7, 13, 1, 1)
    assert drv.datetime.tm_wday == 3  # Thursday: the day register counted at each midnight


def test_skipped_days_advance_the_clock_without_the_virtual_clock():
    rig = SimRig(BOARD)
    hw_rtc = RealTimeClock(rig.board, i2c=rig.i2c)
    assert hw_rtc.now() == RTC_START
    t = rig.clock.t
    rig.skip_time(40 * 86400 + 7.5)  # a course: the unit off between two visits
    assert rig.clock.t == t
    assert hw_rtc.now() == RTC_START + timedelta(days=40, seconds=7)
    assert rig.rtc.time() == hw_rtc.now()  # the simulator's own view of the chip agrees
    rig.skip_time(86400, powered=True)
    assert hw_rtc.now() == RTC_START + timedelta(days=41, seconds=7)
    assert not hw_rtc.lost_time


@pytest.mark.parametrize("when", [datetime(2000, 1, 1), datetime(2024, 2, 29, 12, 34, 56),
                                  datetime(2027, 12, 31, 23, 59, 59),
                                  datetime(2099, 12, 31, 23, 59, 59)])
def test_set_and_read_back(when):
    _, bus, emu, rtc, drv = chip()
    rtc.set(when.replace(microsecond=123456))
    assert rtc.now() == when
    assert drv.datetime.tm_wday == when.weekday()
    assert raw_read(bus, 0x03, 1) == [when.isoweekday()]  # the driver writes Monday as 1


def test_the_leap_day_and_the_end_of_february():
    clock, _, _, rtc, _ = chip()
    rtc.set(datetime(2028, 2, 28, 23, 59, 59))
    clock.advance(1.0)
    assert rtc.now() == datetime(2028, 2, 29, 0, 0, 0)
    clock.advance(86400.0)
    assert rtc.now() == datetime(2028, 3, 1, 0, 0, 0)
    rtc.set(datetime(2027, 2, 28, 23, 59, 59))
    clock.advance(1.0)
    assert rtc.now() == datetime(2027, 3, 1, 0, 0, 0)


def test_century_rollover_as_the_chip_and_the_driver_have_it():
    """After 2099 the chip toggles its century bit and counts year 00 as a leap year (its rule is
    every fourth year: 2100 gets a 29 February). The driver masks the century bit, so it reads
    2000 again: documented here, far beyond the unit's life."""
    clock, bus, emu, rtc, _ = chip()
    rtc.set(datetime(2099, 12, 31, 23, 59, 59))
    assert not emu.century
    clock.advance(1.0)
    assert emu.century and raw_read(bus, 0x05, 1) == [0x81]
    assert rtc.now() == datetime(2000, 1, 1, 0, 0, 0)
    clock.advance((31 + 27) * 86400 + 86399)  # 28 February 23:59:59 of the chip's year 00
    clock.advance(1.0)
    assert raw_read(bus, 0x04, 2) == [0x29, 0x82]  # 29 February, century bit still set


def test_writing_the_seconds_restarts_the_countdown():
    clock, _, _, rtc, _ = chip()
    clock.advance(0.7)
    rtc.set(datetime(2027, 6, 1, 10, 0, 0))  # the next tick comes a whole second later
    clock.advance(0.5)
    assert rtc.now() == datetime(2027, 6, 1, 10, 0, 0)
    clock.advance(0.5)
    assert rtc.now() == datetime(2027, 6, 1, 10, 0, 1)


def test_a_year_the_chip_cannot_hold_is_refused():
    _, _, _, rtc, _ = chip()
    with pytest.raises(ValueError, match="2000 to 2099"):
        rtc.set(datetime(2100, 1, 1))
    assert rtc.now() == datetime(2027, 1, 4, 8, 0, 0)  # nothing was written


def test_a_flat_battery_loses_the_time_and_set_clears_it():
    rig = SimRig(BOARD)
    rtc = RealTimeClock(rig.board, i2c=rig.i2c)
    rig.skip_time(3600)  # a power cut on a good battery: the time is kept
    assert not rtc.lost_time and rtc.trusted_now() == RTC_START + timedelta(hours=1)
    rig.flat_battery()
    rig.skip_time(3600)  # a power cut on a flat one
    assert rig.rtc.osf and rtc.lost_time
    assert rtc.now() == datetime(2000, 1, 1)
    reading = rtc.read()
    assert reading.lost and reading.refusal == CLOCK_LOST
    assert "lost its time" in reading.problem and "clock set" in reading.problem
    with pytest.raises(ClockLostError, match="clock set") as exc:
        rtc.trusted_now()
    assert exc.value.code == "CLOCK-LOST" and isinstance(exc.value, HalError)
    rtc.set(datetime(2027, 3, 1, 19, 30))
    assert not rtc.lost_time and not rig.rtc.osf
    assert rtc.trusted_now() == datetime(2027, 3, 1, 19, 30)
    assert rtc.read().refusal is None


def test_a_rig_whose_clock_lost_its_time():
    rig = SimRig(BOARD, rtc_start=None)
    assert RealTimeClock(rig.board, i2c=rig.i2c).lost_time
    rig = SimRig(BOARD)
    rig.lose_clock_time()
    assert RealTimeClock(rig.board, i2c=rig.i2c).read().refusal == CLOCK_LOST


def test_osf_is_only_cleared_by_writing_zero_and_eosc_stops_the_clock_on_battery():
    clock, _, emu, rtc, drv = chip()
    drv.lost_power = True  # writing 1 does not set it
    assert not drv.lost_power
    drv.disable_oscillator = True  # EOSC: the oscillator stops when on battery only
    clock.advance(10.0)
    assert rtc.now() == datetime(2027, 1, 4, 8, 0, 10)  # powered: it counts
    emu.skip(3600)
    assert rtc.now() == datetime(2027, 1, 4, 8, 0, 10) and rtc.lost_time
    rtc.set(datetime(2027, 1, 4, 9, 0, 10))  # the driver also clears EOSC
    assert not drv.disable_oscillator and not rtc.lost_time


def test_a_clock_whose_oscillator_does_not_run_cannot_be_set():
    clock, _, emu, rtc, _ = chip()
    emu.dead_crystal = True
    clock.advance(5.0)
    assert rtc.now() == datetime(2027, 1, 4, 8, 0, 0) and rtc.lost_time
    with pytest.raises(RtcError, match="kept its oscillator-stop flag"):
        rtc.set(datetime(2027, 1, 4, 9, 0, 0))
    assert rtc.read().refusal == CLOCK_LOST


def test_a_clock_that_does_not_answer_gives_the_typed_error():
    clock, bus, _, rtc, _ = chip()
    bus.absent.add(ADDR)
    for call in (rtc.now, lambda: rtc.lost_time, lambda: rtc.set(datetime(2027, 1, 1))):
        with pytest.raises(RtcAbsentError, match="0x68") as exc:
            call()
        assert isinstance(exc.value, OSError) and isinstance(exc.value, HalError)
    reading = rtc.read()  # the display never raises
    assert reading.when is None and reading.refusal == CLOCK_LOST
    assert "cannot be read" in reading.problem
    with pytest.raises(ClockLostError) as lost:
        rtc.trusted_now()
    assert isinstance(lost.value.__cause__, RtcAbsentError)
    bus.absent.clear()  # plugged back in: found at the next use
    assert rtc.now() == datetime(2027, 1, 4, 8, 0, 0)
    bus.absent.add(ADDR)  # gone after the first use: the transaction's error, typed
    with pytest.raises(RtcAbsentError, match="does not answer"):
        rtc.now()
    bus.absent.clear()
    assert rtc.now() == datetime(2027, 1, 4, 8, 0, 0)
    bus.glitch_p = 1.0  # a bus error that is not a missing chip
    with pytest.raises(RtcError) as exc:
        rtc.now()
    assert not isinstance(exc.value, RtcAbsentError)


def test_the_register_pointer_increments_and_wraps_after_0x12():
    clock, bus, emu, rtc, _ = chip(temperature_c=21.5)
    assert raw_read(bus, 0x12, 3) == [0x80, 0x00, 0x00]  # 0x12 (21.5: .5 in bits 7:6), 0x00, 0x01
    assert raw_read(bus, 0x00, 0x13 + 2)[0x13:] == [0x00, 0x00]  # a long read wraps too
    # A write across the end: the temperature is read-only, then 0x00 and 0x01 are written.
    bus.writeto(ADDR, bytes([0x11, 0xAA, 0xBB, 0x30, 0x15]))
    assert raw_read(bus, 0x11, 2) == [21, 0x80]
    assert rtc.now() == datetime(2027, 1, 4, 8, 15, 30)
    # A read without a pointer goes on from where the last one stopped.
    bus.writeto(ADDR, bytes([0x05]))
    buf = bytearray(2)
    bus.readfrom_into(ADDR, buf)
    assert list(buf) == [0x01, 0x27] and emu.pointer == 0x07
    bus.writeto(ADDR, bytes([0x00]))
    clock.advance(2.0)
    bus.readfrom_into(ADDR, buf)  # the time is copied at the read's START
    assert list(buf) == [0x32, 0x15]


def test_twelve_hour_mode_counts_on_the_chip_and_is_refused_by_the_hal():
    clock, bus, _, rtc, drv = chip()
    bus.writeto(ADDR, bytes([0x00, 0x59, 0x59, 0x40 | 0x20 | 0x11]))  # 11:59:59 PM
    clock.advance(1.0)
    assert raw_read(bus, 0x00, 5) == [0x00, 0x00, 0x40 | 0x12, 0x02, 0x05]  # 12 AM, next day
    assert drv.datetime.tm_hour == 12  # the driver reads midnight as 12 h
    with pytest.raises(ClockLostError, match="12-hour"):
        rtc.now()
    assert rtc.read().refusal == CLOCK_LOST
    bus.writeto(ADDR, bytes([0x02, 0x40 | 0x20 | 0x01]))  # 1 PM
    assert drv.datetime.tm_hour == 21  # ... and 1 PM as 21 h
    rtc.set(datetime(2027, 1, 5, 13, 0, 0))  # set: 24-hour mode again
    assert raw_read(bus, 0x02, 1) == [0x13] and rtc.trusted_now() == datetime(2027, 1, 5, 13)


def test_an_impossible_date_in_the_registers_is_a_lost_time():
    clock, bus, _, rtc, _ = chip()
    bus.writeto(ADDR, bytes([0x04, 0x31, 0x02]))  # 31 February
    clock.advance(5.0)
    assert raw_read(bus, 0x04, 2) == [0x31, 0x02]  # undefined on the chip: held
    with pytest.raises(ClockLostError, match="impossible date"):
        rtc.now()
    assert rtc.read().problem.endswith("set it with `clock set`")


def test_alarms_set_their_flags_when_their_time_comes():
    clock, _, emu, rtc, drv = chip()
    drv.alarm1 = (datetime(2027, 1, 4, 8, 0, 30).timetuple(), "daily")
    drv.alarm2 = (datetime(2027, 1, 6, 6, 15, 0).timetuple(), "monthly")
    clock.advance(29.5)
    assert not drv.alarm1_status
    clock.advance(1.0)
    assert drv.alarm1_status and emu.regs[0x0F] & A1F
    drv.alarm1_status = False
    clock.advance(60.0)
    assert not drv.alarm1_status and not drv.alarm2_status
    emu.skip(86400)  # the next day at 08:00:30 again, and 6 January 06:15 not yet
    assert drv.alarm1_status and not drv.alarm2_status
    emu.skip(86400)
    assert drv.alarm2_status
    assert drv.alarm2[1] == "monthly" and drv.alarm2[0].tm_mday == 6


def test_temperature_and_a_forced_conversion():
    clock, _, emu, _, drv = chip(temperature_c=31.3)
    assert drv.temperature == 31.25  # quarter degrees
    emu.temperature_c = -7.8
    assert drv.temperature == 31.25  # not converted yet
    t, n = clock.now(), emu.transactions
    assert drv.force_temperature_conversion() == -7.75
    # The driver's busy polls wait on the virtual clock: a few transactions, not thousands.
    assert clock.now() - t >= CONVERSION_S and emu.transactions - n <= 10
    emu.temperature_c = 40.0
    clock.advance(64.0)  # the chip converts every 64 s by itself
    assert drv.temperature == 40.0


def test_the_aging_offset_and_the_crystal_error_change_the_rate():
    clock, _, emu, rtc, drv = chip(drift_ppm=5.0)
    drv.calibration = -50  # +5 ppm more: 10 ppm fast in all (the driver forces a conversion)
    assert emu.rate == pytest.approx(1 + 10e-6)
    start = rtc.now()
    emu.skip(1_000_000)  # 11.6 days: 10 s gained
    assert rtc.now() - start == timedelta(seconds=1_000_010)


def test_the_simulated_unit_builds_the_clock(board):
    hw, rig = sim_hardware(board)
    try:
        assert hw.rtc.now() == RTC_START
        assert rig.i2c.devices[board.rtc.address] is rig.rtc
    finally:
        hw.close()


def test_the_pi_backend_drives_the_clock_on_its_one_bus(board, tmp_path):
    (tmp_path / "gpiochip0").write_text("")
    (tmp_path / "i2c-1").write_text("")
    other = dataclasses.replace(board, rtc=dataclasses.replace(board.rtc, i2c_bus=3))
    with pytest.raises(HalError, match=r"\[rtc\] asks for bus 3"):
        open_pi_backend(other, dev=tmp_path)
