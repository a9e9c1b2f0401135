"""The battery-backed real-time clock: a DS3231 through the real adafruit driver.

The Raspberry Pi keeps no time through a power cut and the unit has no network to ask, so the
date that the course of treatment is planned by (due, too soon, a sixth session in seven days)
comes from this chip and its coin cell. The clock holds the local time the technician sets
(``clock set`` on the console); it knows no time zones and no summer time.

What the driver (adafruit-circuitpython-ds3231 2.4.28, with adafruit-circuitpython-register
1.13.0) does on the bus, and what this module adds:

- its construction probes the address (``writeto(0x68, b"")``); a missing chip is a plain
  ``ValueError`` there and a bare ``OSError`` on any later transaction. Here both become
  :class:`~hal.errors.RtcAbsentError` / :class:`~hal.errors.RtcError`, naming the address;
- ``datetime`` reads the seven time registers in one transaction and masks the hours with 0x3F,
  so it reads a chip in 12-hour mode wrong (1 PM as 21 h). The driver always sets 24-hour mode;
  a chip found in 12-hour mode (set by another tool) is reported as a clock that lost its time;
- setting ``datetime`` writes the seven registers, then clears EOSC and OSF (``lost_power``);
- ``lost_power`` is the status register's OSF: the oscillator stopped since the time was set
  (a flat or missing battery through a power cut).

The driver is built at the first use, not when the hardware is built: a clock that does not
answer must not keep the unit from starting (the treatment and the technician console need no
date; whatever plans by the date refuses with ``CLOCK-LOST`` instead), and a chip plugged back in
is found again at the next use.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from datetime import datetime

from adafruit_ds3231 import DS3231
from adafruit_register import i2c_bit

from hardware import Board

from .errors import ClockLostError, RtcAbsentError, RtcError

CLOCK_LOST = ClockLostError.code
SET_HINT = "set it with `clock set`"
LOST_MESSAGE = f"the clock lost its time: {SET_HINT}"
#: errno values with which a bus reports a chip that does not acknowledge
NOT_ANSWERING = {errno.ENXIO, errno.EREMOTEIO, errno.ENODEV}


class _DS3231(DS3231):
    """The adafruit DS3231 and the one bit it does not read: the hours register's 12-hour mode."""

    twelve_hour = i2c_bit.ROBit(0x02, 6)


@dataclass(frozen=True, slots=True)
class ClockReading:
    """What the clock says, for a display: never raises.

    ``when`` is the chip's time (None when it could not be read); ``problem`` is None when the
    time can be planned by, else the reason in plain words with what to do.
    """

    when: datetime | None
    lost: bool
    problem: str | None

    @property
    def refusal(self) -> str | None:
        """``CLOCK-LOST`` when nothing may be planned by this time, else None."""
        return CLOCK_LOST if self.problem else None


class RealTimeClock:
    """The DS3231 on the board's I2C bus.

    :param board: the hardware description (``[rtc]``: bus and address).
    :param i2c: the I2C bus (``busio.I2C`` on the Pi, ``sim.ads1115.SimI2CBus`` in simulation).
    """

    def __init__(self, board: Board, *, i2c):
        self.board = board
        self._i2c = i2c
        self._chip: _DS3231 | None = None

    @property
    def address(self) -> int:
        return self.board.rtc.address

    def _where(self) -> str:
        return f"I2C address 0x{self.address:02x} (bus {self.board.rtc.i2c_bus})"

    def _driver(self) -> _DS3231:
        if self._chip is None:
            try:
                self._chip = _DS3231(self._i2c)
            except ValueError as exc:  # the driver's probe: "No I2C device at address"
                raise RtcAbsentError(f"no DS3231 clock answers at {self._where()}: {exc}") from exc
            except OSError as exc:
                raise RtcError(f"the DS3231 clock at {self._where()} failed: {exc}") from exc
        return self._chip

    def _io(self, what: str, fn):
        chip = self._driver()
        try:
            return fn(chip)
        except RtcError:
            raise
        except OSError as exc:
            self._chip = None  # probe again next time
            if exc.errno in NOT_ANSWERING:
                raise RtcAbsentError(f"the DS3231 clock at {self._where()} does not answer "
                                     f"({what}): {exc}") from exc
            raise RtcError(f"I2C error while {what} the DS3231 clock: {exc}") from exc

    # --- the clock ----------------------------------------------------------------------------
    def now(self) -> datetime:
        """The chip's time, to the second.

        :raises RtcAbsentError: the chip does not answer; :raises RtcError: another bus error;
        :raises ClockLostError: the registers hold no time the driver reads right (an
            impossible date, or 12-hour mode). A time that is read but lost (OSF) is returned:
            :attr:`lost_time` says so, :meth:`trusted_now` refuses it.
        """
        twelve, t = self._io("reading", lambda chip: (chip.twelve_hour, chip.datetime))
        if twelve:
            raise ClockLostError(f"the clock counts in 12-hour mode, which is not read right: "
                                 f"{SET_HINT}")
        try:
            return datetime(t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
        except ValueError as exc:
            raise ClockLostError(f"the clock holds an impossible date ({exc}): {SET_HINT}") \
                from exc

    def set(self, when: datetime) -> None:
        """Set the chip to ``when`` (its seconds; the microseconds are dropped), start its
        oscillator and clear OSF, so that :attr:`lost_time` reads False.

        :raises ValueError: a year outside 2000-2099, which the chip cannot hold.
        """
        if not 2000 <= when.year <= 2099:
            raise ValueError(f"the clock holds the years 2000 to 2099, not {when.year}")

        def write(chip):
            chip.datetime = when.replace(microsecond=0).timetuple()
            return chip.lost_power

        if self._io("setting", write):
            raise RtcError(f"the DS3231 clock at {self._where()} kept its oscillator-stop flag "
                           "after being set")

    @property
    def lost_time(self) -> bool:
        """True if the chip's oscillator stopped since the time was set (its OSF flag: a flat or
        missing battery through a power cut). Raises as :meth:`now` does on a bus error."""
        return bool(self._io("reading", lambda chip: chip.lost_power))

    def read(self) -> ClockReading:
        """The time and whether it can be planned by, without raising (for a display)."""
        try:
            return self._reading()
        except RtcError as exc:
            return ClockReading(None, False, self._silent(exc))

    def trusted_now(self) -> datetime:
        """The time to plan by, or :class:`~hal.errors.ClockLostError` (code ``CLOCK-LOST``)
        when the clock lost its time, holds no readable time, or does not answer (the bus
        error chained)."""
        try:
            reading = self._reading()
        except RtcError as exc:
            raise ClockLostError(self._silent(exc)) from exc
        if reading.problem:
            raise ClockLostError(reading.problem)
        return reading.when

    def _reading(self) -> ClockReading:
        try:
            lost = self.lost_time
            when = self.now()
        except ClockLostError as exc:
            return ClockReading(None, True, str(exc))
        return ClockReading(when, lost, LOST_MESSAGE if lost else None)

    @staticmethod
    def _silent(exc: RtcError) -> str:
        return f"the clock cannot be read ({exc}): check the clock's board and its cable"

    def close(self) -> None:
        """Nothing to release: the bus belongs to whoever injected it."""
