"""A DS3231 real-time clock register emulator that the real adafruit driver talks to.

The emulator follows the DS3231 datasheet (Maxim 19-5170), "Timekeeping Registers" (figure 1)
and the control and status registers:

- 0x00-0x06, the time in BCD: seconds, minutes, hours (bit 6 set: 12-hour mode, bit 5 then PM),
  day of the week (1-7, counted up at midnight whatever it means), date, month (bit 7: the
  century bit, toggled when the year goes from 99 to 00), year (00-99). The chip's leap rule is
  every fourth year, 00 included: right from 2000 to 2099, and 2100 gets a 29 February;
- 0x07-0x0A alarm 1 (seconds, minutes, hours, day/date; bit 7 of each a mask bit AxMy, bit 6 of
  the day/date byte DY/DT), 0x0B-0x0D alarm 2 (no seconds): a match sets A1F/A2F in the status;
- 0x0E control: EOSC (7: the oscillator stops on battery), BBSQW, CONV (5: a forced temperature
  conversion, which reads 1 until it is done), RS2, RS1, INTCN, A2IE, A1IE; power-on 0x1C;
- 0x0F status: OSF (7: the oscillator stopped, as at a power-up with a flat or missing battery;
  stays 1 until written 0), EN32kHz (3), BSY (2, read-only: converting), A2F (1), A1F (0);
  OSF and the alarm flags can only be written to 0; power-on 0x88;
- 0x10 aging offset (signed; each step about 0.1 ppm, positive slows the clock);
- 0x11-0x12 temperature, read-only: signed whole degrees, then the quarter degrees in bits 7:6;
  converted every 64 s and on a forced conversion.

The register pointer advances after each byte read or written and wraps from 0x12 to 0x00, as
on the chip; a read starts from the pointer (a write's first byte sets it). The time is copied
at the START of a transaction, so a 7-byte read is one consistent instant. Writing the seconds
register restarts the one-second countdown, so the next tick comes a whole second later.

Time: the chip counts on the simulator's virtual clock (injected; the emulator never reads the
wall clock), from the datetime the rig gives it, at ``1 + (drift_ppm - 0.1 x aging) x 1e-6``
seconds a second. The unit's time away from power is the simulator's to tell: :meth:`skip`
moves the chip on by time in which the virtual clock did not run (a course skips the idle days
between visits), and :meth:`lose_time` is a power-up with a flat battery: OSF set and every
register back to its power-on value, the time 2000-01-01 00:00:00.

A forced temperature conversion takes ``CONVERSION_S`` of virtual time; the driver polls BSY and
CONV with no sleep, so a poll that finds it still running waits on the virtual clock until it
is done (a real poll would have spun for that long), and the driver's busy loops always end.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

N_REGISTERS = 0x13
REG_SECONDS, REG_MINUTES, REG_HOURS, REG_DAY, REG_DATE, REG_MONTH, REG_YEAR = range(7)
REG_ALARM1, REG_ALARM2 = 0x07, 0x0B
REG_CONTROL, REG_STATUS, REG_AGING, REG_TEMP_MSB, REG_TEMP_LSB = 0x0E, 0x0F, 0x10, 0x11, 0x12
CONTROL_DEFAULT = 0x1C   # INTCN, RS2, RS1
STATUS_DEFAULT = 0x88    # OSF, EN32kHz
EOSC, CONV = 0x80, 0x20
OSF, EN32KHZ, BSY, A2F, A1F = 0x80, 0x08, 0x04, 0x02, 0x01
HOUR_12, HOUR_PM, CENTURY = 0x40, 0x20, 0x80
#: the bits each register has (the others read 0); 0x0F is handled apart
MASKS = (0x7F, 0x7F, 0x7F, 0x07, 0x3F, 0x9F, 0xFF,  # time
         0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  # alarms
         0xFF, 0x8F, 0xFF, 0xFF, 0xC0)              # control, status, aging, temperature
READ_ONLY = (REG_TEMP_MSB, REG_TEMP_LSB)
#: the time on the chip at power-on
POWER_ON_TIME = datetime(2000, 1, 1)
#: one cycle of the chip's calendar: 100 years of its leap rule
CYCLE_DAYS = 36525
CONVERSION_S = 0.2       # tCONV, the datasheet's maximum
AUTO_CONVERSION_S = 64.0
AGING_PPM_PER_LSB = -0.1


def bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def from_bcd(byte: int) -> int | None:
    """The value of a BCD byte, or None when a nibble is above 9."""
    hi, lo = byte >> 4, byte & 0x0F
    return None if hi > 9 or lo > 9 else hi * 10 + lo


def _signed8(byte: int) -> int:
    return byte - 0x100 if byte & 0x80 else byte


class Ds3231Emulator:
    """The DS3231's registers, its timekeeping, alarms and temperature.

    :param clock: the virtual clock (``clock.t``, ``clock.advance_to``); the time counts on it.
    :param start: the chip's time at ``clock.t`` now (None: a chip at its power-on values, OSF
        set, as with a battery that was flat when the unit was powered).
    :param temperature_c: the die temperature the conversions read.
    :param drift_ppm: the crystal's error (positive: the clock gains).
    """

    def __init__(self, clock, *, start: datetime | None = None, temperature_c: float = 25.0,
                 drift_ppm: float = 0.0):
        self.clock = clock
        self.temperature_c = temperature_c
        self.drift_ppm = drift_ppm
        self.battery_ok = True
        self.dead_crystal = False  # a broken oscillator: the time stands, OSF comes back at once
        self.regs = bytearray(N_REGISTERS)
        self.pointer = 0
        self._t_ref = clock.t
        self._frac = 0.0                       # the part of a second counted since the last tick
        self._conv_until: float | None = None  # end of a forced temperature conversion
        self._last_auto = int(clock.t // AUTO_CONVERSION_S)
        self.transactions = 0
        self.lose_time()
        if start is not None:
            self.set_time(start)
            self.regs[REG_STATUS] &= ~OSF

    # --- the simulator's side -----------------------------------------------------------------
    def lose_time(self) -> None:
        """A power-up with a flat (or missing) battery: every register at its power-on value,
        OSF set, the time 2000-01-01 00:00:00 with the day register at 1 (the chip does not
        know which day that is: it only counts the register up at each midnight)."""
        self.regs[:] = bytes(N_REGISTERS)
        self.regs[REG_DAY] = 1
        self.regs[REG_DATE] = 1
        self.regs[REG_MONTH] = 1
        self.regs[REG_CONTROL] = CONTROL_DEFAULT
        self.regs[REG_STATUS] = STATUS_DEFAULT
        self.pointer = 0
        self._t_ref = self.clock.t
        self._frac = 0.0
        self._conv_until = None
        self._convert_temperature()

    def set_time(self, when: datetime) -> None:
        """Load ``when`` into the time registers in 24-hour mode (the rig's way of giving the
        chip a start time; the device sets it through the driver). OSF is left as it is."""
        self._sync()
        if not 2000 <= when.year <= 2099:
            raise ValueError(f"the DS3231 holds the years 2000 to 2099, not {when.year}")
        self.regs[0:7] = bytes((bcd(when.second), bcd(when.minute), bcd(when.hour),
                                when.isoweekday(), bcd(when.day), bcd(when.month),
                                bcd(when.year - 2000)))
        self._frac = 0.0

    def skip(self, seconds: float, *, on_battery: bool = True) -> None:
        """``seconds`` pass for the chip that the virtual clock does not count (the unit off, or
        idle days a course skips). On battery, a flat battery loses the time (as
        :meth:`lose_time` at the next power-up) and an oscillator stopped by EOSC stands still
        and sets OSF; otherwise the chip counts them at its rate, alarms included."""
        if seconds < 0:
            raise ValueError(f"cannot skip {seconds} s: time only runs forward")
        self._sync()
        if on_battery and not self.battery_ok:
            self.lose_time()
            return
        if self.dead_crystal or (on_battery and self.regs[REG_CONTROL] & EOSC):
            self.regs[REG_STATUS] |= OSF
            return
        total = self._frac + seconds * self.rate
        ticks = int(total)
        self._frac = total - ticks
        self._count(ticks)
        if seconds >= AUTO_CONVERSION_S:
            self._convert_temperature()

    def time(self) -> datetime | None:
        """The chip's time now as a datetime (None while the registers hold an impossible date
        or time; the century bit is not part of it)."""
        self._sync()
        fields = self._fields()
        if fields is None:
            return None
        s, m, h, _day, d, mo, yy, _c = fields
        return datetime(2000 + yy, mo, d, h, m, s)

    @property
    def century(self) -> bool:
        self._sync()
        return bool(self.regs[REG_MONTH] & CENTURY)

    @property
    def osf(self) -> bool:
        return bool(self.regs[REG_STATUS] & OSF)

    # --- the I2C side ---------------------------------------------------------------------------
    def write(self, data, start: int = 0, end: int | None = None) -> None:
        """An I2C write of ``data[start:end]``: the register pointer, then bytes from there."""
        end = len(data) if end is None else end
        if end - start <= 0:
            return  # address probe: ACK, nothing written
        self._sync()
        self.transactions += 1
        self.pointer = data[start]
        for i in range(start + 1, end):
            self._write_register(self.pointer, data[i])
            self.pointer = self._next(self.pointer)

    def read_into(self, buffer, start: int, end: int) -> None:
        """An I2C read into ``buffer[start:end]`` from the pointer on."""
        self._sync()
        self.transactions += 1
        for i in range(start, end):
            buffer[i] = self._read_register(self.pointer)
            self.pointer = self._next(self.pointer)

    @staticmethod
    def _next(pointer: int) -> int:
        # After 0x12 the pointer wraps to 0x00. A pointer written beyond the map (the datasheet
        # does not say) reads 0xFF, ignores writes, and wraps the same way.
        return 0 if pointer >= REG_TEMP_LSB else pointer + 1

    def _read_register(self, reg: int) -> int:
        if reg >= N_REGISTERS:
            return 0xFF
        if reg in (REG_CONTROL, REG_STATUS) and self._conv_until is not None:
            # The driver spins on BSY and CONV; on the virtual clock that is a wait.
            self.clock.advance_to(self._conv_until)
            self._sync()
        return self.regs[reg]

    def _write_register(self, reg: int, value: int) -> None:
        if reg >= N_REGISTERS or reg in READ_ONLY:
            return
        if reg == REG_STATUS:
            # OSF, A2F and A1F can only be cleared; EN32kHz is read/write; BSY is read-only.
            old = self.regs[REG_STATUS]
            flags = old & (OSF | A2F | A1F) & value
            self.regs[REG_STATUS] = flags | (value & EN32KHZ) | (old & BSY)
            if self.dead_crystal:
                self.regs[REG_STATUS] |= OSF
            return
        if reg == REG_CONTROL:
            # CONV reads 1 until the forced conversion is done; writing it again meanwhile
            # starts no second one.
            converting = self._conv_until is not None
            self.regs[REG_CONTROL] = (value & ~CONV) | (CONV if converting else 0)
            if value & CONV and not converting:
                self.regs[REG_CONTROL] |= CONV
                self.regs[REG_STATUS] |= BSY
                self._conv_until = self.clock.t + CONVERSION_S
            return
        self.regs[reg] = value & MASKS[reg]
        if reg == REG_SECONDS:
            self._frac = 0.0  # the countdown chain restarts

    # --- timekeeping ------------------------------------------------------------------------------
    @property
    def rate(self) -> float:
        """Chip seconds per virtual second (the crystal's error and the aging offset)."""
        aging = _signed8(self.regs[REG_AGING])
        return 1.0 + (self.drift_ppm + AGING_PPM_PER_LSB * aging) * 1e-6

    def _sync(self) -> None:
        """Bring the registers up to the virtual clock's time."""
        t = self.clock.t
        if self._conv_until is not None and t >= self._conv_until:
            self._conv_until = None
            self.regs[REG_CONTROL] &= ~CONV
            self.regs[REG_STATUS] &= ~BSY
            self._convert_temperature()
        if self.dead_crystal:
            self.regs[REG_STATUS] |= OSF
            self._t_ref = max(t, self._t_ref)
            return
        if t <= self._t_ref:
            return
        total = self._frac + (t - self._t_ref) * self.rate
        self._t_ref = t
        ticks = int(total)
        self._frac = total - ticks
        if ticks:
            self._count(ticks)
        auto = int(t // AUTO_CONVERSION_S)
        if auto != self._last_auto:
            self._last_auto = auto
            self._convert_temperature()

    def _fields(self):
        """(second, minute, hour 0-23, day, date, month, year 0-99, century) from the
        registers, or None if they hold something the chip cannot count from."""
        r = self.regs
        s, m = from_bcd(r[REG_SECONDS]), from_bcd(r[REG_MINUTES])
        hour_reg = r[REG_HOURS]
        if hour_reg & HOUR_12:
            h12 = from_bcd(hour_reg & 0x1F)
            if h12 is None or not 1 <= h12 <= 12:
                return None
            h = h12 % 12 + (12 if hour_reg & HOUR_PM else 0)
        else:
            h = from_bcd(hour_reg & 0x3F)
        d, mo, yy = from_bcd(r[REG_DATE]), from_bcd(r[REG_MONTH] & 0x1F), from_bcd(r[REG_YEAR])
        if None in (s, m, h, d, mo, yy) or s > 59 or m > 59 or h > 23:
            return None
        try:
            date(2000 + yy, mo, d)  # 2000-2099: exactly the chip's leap rule
        except ValueError:
            return None
        return s, m, h, r[REG_DAY], d, mo, yy, bool(r[REG_MONTH] & CENTURY)

    def _count(self, seconds: float) -> None:
        """Count ``seconds`` whole seconds on from the registers' time (an impossible time in
        the registers is undefined on the chip: the emulator then holds them)."""
        n = int(seconds)
        fields = self._fields()
        if n <= 0 or fields is None:
            return
        s, m, h, day, d, mo, yy, century = fields
        day0 = (date(2000 + yy, mo, d) - date(2000, 1, 1)).days
        s0 = day0 * 86400 + h * 3600 + m * 60 + s
        s1 = s0 + n
        self._match_alarms(s0, s1)
        days1, secs1 = divmod(s1, 86400)
        cycles, day_in_cycle = divmod(days1, CYCLE_DAYS)
        new = date(2000, 1, 1) + timedelta(days=day_in_cycle)
        h1, rest = divmod(secs1, 3600)
        m1, sec1 = divmod(rest, 60)
        r = self.regs
        r[REG_SECONDS], r[REG_MINUTES] = bcd(sec1), bcd(m1)
        r[REG_HOURS] = self._hour_byte(h1, r[REG_HOURS])
        if 1 <= day <= 7:
            r[REG_DAY] = (day - 1 + days1 - day0) % 7 + 1
        r[REG_DATE] = bcd(new.day)
        r[REG_MONTH] = bcd(new.month) | (CENTURY if century ^ (cycles % 2 == 1) else 0)
        r[REG_YEAR] = bcd(new.year - 2000)

    @staticmethod
    def _hour_byte(hour: int, mode_byte: int) -> int:
        if not mode_byte & HOUR_12:
            return bcd(hour)
        return HOUR_12 | (HOUR_PM if hour >= 12 else 0) | bcd(hour % 12 or 12)

    # --- alarms -----------------------------------------------------------------------------------
    @staticmethod
    def _alarm_target(regs: bytes, has_seconds: bool):
        """(mode, second, minute, hour, day-or-date, by_day) of an alarm's registers. ``mode``
        is how many fields, from the seconds up, must match (datasheet table 2, the mask bits
        AxMy): 0 every second, 1 the seconds, 2 minutes and seconds, 3 hours, minutes and
        seconds, 4 the date (or the day, DY/DT = 1) too. Alarm 2 has no seconds register: it
        matches at second 00, so its 'once a minute' is mode 1 at second 0."""
        if has_seconds:
            sec_b, min_b, hour_b, dd_b = regs
            masks = [bool(b & 0x80) for b in regs]
        else:
            (min_b, hour_b, dd_b), sec_b = regs, 0
            masks = [False] + [bool(b & 0x80) for b in regs]
        mode = masks.index(True) if True in masks else 4
        sec, mi = from_bcd(sec_b & 0x7F), from_bcd(min_b & 0x7F)
        if hour_b & HOUR_12:
            h12 = from_bcd(hour_b & 0x1F)
            hour = None if h12 is None else h12 % 12 + (12 if hour_b & HOUR_PM else 0)
        else:
            hour = from_bcd(hour_b & 0x3F)
        by_day = bool(dd_b & 0x40)
        dd = (dd_b & 0x07) if by_day else from_bcd(dd_b & 0x3F)
        return mode, sec, mi, hour, dd, by_day

    def _match_alarms(self, s0: int, s1: int) -> None:
        """Set A1F / A2F if the alarm's time came in (s0, s1], chip seconds from 2000-01-01."""
        r = self.regs
        for flag, regs, has_seconds in ((A1F, r[REG_ALARM1:REG_ALARM1 + 4], True),
                                        (A2F, r[REG_ALARM2:REG_ALARM2 + 3], False)):
            if self._alarm_in(self._alarm_target(bytes(regs), has_seconds), s0, s1):
                r[REG_STATUS] |= flag

    def _alarm_in(self, target, s0: int, s1: int) -> bool:
        mode, sec, mi, hour, dd, by_day = target
        if mode == 0:
            return s1 > s0
        needed = (sec, mi, hour, dd)[:mode]
        if None in needed:
            return False  # a field that is not BCD never matches
        offset = sec + (mi * 60 if mode >= 2 else 0) + (hour * 3600 if mode >= 3 else 0)
        if mode < 4:
            period = (60, 3600, 86400)[mode - 1]
            first = s0 + (offset - s0 - 1) % period + 1  # the first match after s0
            return first <= s1
        day0, day_reg = s0 // 86400, self.regs[REG_DAY]
        for k in range(day0, s1 // 86400 + 1):
            at = k * 86400 + offset
            if at <= s0:
                continue
            if at > s1:
                return False
            if by_day:
                if (day_reg - 1 + k - day0) % 7 + 1 == dd:
                    return True
            elif (date(2000, 1, 1) + timedelta(days=k % CYCLE_DAYS)).day == dd:
                return True
        return False

    # --- temperature --------------------------------------------------------------------------
    def _convert_temperature(self) -> None:
        quarters = max(-512, min(511, round(self.temperature_c * 4)))
        word = (quarters & 0x3FF) << 6
        self.regs[REG_TEMP_MSB] = word >> 8
        self.regs[REG_TEMP_LSB] = word & 0xC0
