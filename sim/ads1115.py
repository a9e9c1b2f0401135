"""A simulated I2C bus and an ADS1115 register emulator that the real adafruit driver talks to.

The emulator follows the ADS1115 datasheet (TI SBAS444), section 9.6 "Register Map":

- pointer register (2 bits) selects conversion (0), config (1), Lo_thresh (2), Hi_thresh (3);
- config: OS (15), MUX (14:12), PGA (11:9), MODE (8), DR (7:5), COMP_MODE (4), COMP_POL (3),
  COMP_LAT (2), COMP_QUE (1:0); power-on default 0x8583;
- conversion register: signed 16-bit, quantised to FSR/32768 and clipped at the PGA's range;
- Lo_thresh / Hi_thresh, power-on 0x8000 / 0x7FFF, with the comparator (traditional or window,
  latching or not, queue of 1/2/4) driving :attr:`Ads1115Emulator.alert`.

Timing: a single-shot conversion started by writing OS=1 completes 1/DR later on the virtual
clock. The driver polls OS with no sleep; a poll that finds the conversion still running waits on
the virtual clock until it is done (a real poll would have spun for that long), so the driver's
busy loop always ends. Continuous mode converts back to back on the MUX in the chip. Each I2C
transaction also costs its time on the wire (400 kHz: 9 bit times a byte plus start/stop).

The analog inputs come from a ``source(t, ain) -> volts`` callable: the board physics.
Inputs are clamped to the ESD-diode range (-0.3 V .. VDD + 0.3 V) as on the real chip.
"""

from __future__ import annotations

import errno
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ds3231 import Ds3231Emulator
    from .ssd1306 import Ssd1306Emulator

POINTER_CONVERSION, POINTER_CONFIG, POINTER_LO, POINTER_HI = 0, 1, 2, 3
CONFIG_DEFAULT = 0x8583
LO_DEFAULT, HI_DEFAULT = 0x8000, 0x7FFF
#: PGA field -> full-scale volts (codes 5, 6, 7 are all 0.256 V).
PGA_FSR = {0: 6.144, 1: 4.096, 2: 2.048, 3: 1.024, 4: 0.512, 5: 0.256, 6: 0.256, 7: 0.256}
#: DR field -> samples per second.
DR_SPS = {0: 8, 1: 16, 2: 32, 3: 64, 4: 128, 5: 250, 6: 475, 7: 860}
#: MUX field -> (positive input, negative input or None for GND).
MUX_INPUTS = {0: (0, 1), 1: (0, 3), 2: (1, 3), 3: (2, 3),
              4: (0, None), 5: (1, None), 6: (2, None), 7: (3, None)}
I2C_BYTE_S = 9 / 400_000.0
I2C_OVERHEAD_S = 2 * I2C_BYTE_S  # start, address byte, stop


def _signed(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


class SimI2CBus:
    """The bus object the adafruit driver is given: ``try_lock``, ``unlock``, ``writeto``,
    ``readfrom_into`` and ``writeto_then_readfrom`` with busio's keyword arguments.

    Every chip on the bus (this ADS1115, the DS3231 of :mod:`sim.ds3231`, the SSD1306 of
    :mod:`sim.ssd1306`) offers the same two
    calls: ``write(data, start, end)`` and ``read_into(buffer, start, end)``.

    Faults act here, at the wire: :attr:`absent` makes every transaction with that address raise
    ``OSError(ENXIO)``; :attr:`glitch_p` makes each transaction fail with that probability.
    """

    def __init__(self, clock, *, seed: int = 0):
        self.clock = clock
        self.devices: dict[int, Ads1115Emulator | Ds3231Emulator | Ssd1306Emulator] = {}
        self.absent: set[int] = set()
        self.glitch_p = 0.0
        self._rng = random.Random(seed ^ 0x12C)
        self._locked = False
        self.transactions = 0

    def attach(self, address: int,
               device: Ads1115Emulator | Ds3231Emulator | Ssd1306Emulator) -> None:
        self.devices[address] = device

    # --- busio.I2C's locking ------------------------------------------------------------------
    def try_lock(self) -> bool:
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self) -> None:
        self._locked = False

    # --- transactions -----------------------------------------------------------------------------
    # Hot path: the control loop makes 12 of these a period, so they avoid copies and dispatch.
    def _device(self, address: int,
                nbytes: int) -> Ads1115Emulator | Ds3231Emulator | Ssd1306Emulator:
        self.transactions += 1
        self.clock.t += I2C_OVERHEAD_S + nbytes * I2C_BYTE_S
        if self.absent or self.glitch_p:
            if address in self.absent:
                raise OSError(errno.ENXIO, f"No device at I2C address 0x{address:02x}")
            if self.glitch_p and self._rng.random() < self.glitch_p:
                raise OSError(errno.EIO, f"I2C transaction with 0x{address:02x} failed (NACK)")
        try:
            return self.devices[address]
        except KeyError:
            raise OSError(errno.ENXIO, f"No device at I2C address 0x{address:02x}") from None

    def writeto(self, address: int, buffer, *, start: int = 0, end: int | None = None) -> None:
        end = len(buffer) if end is None else end
        device = self._device(address, end - start)
        if end - start == 3 and type(device) is Ads1115Emulator:
            # The driver's register write (pointer, then 16 bits): write() inline, the same
            # effects (the config word before each of the four conversions a period).
            p = device.pointer = buffer[start] & 0x03
            value = (buffer[start + 1] << 8) | buffer[start + 2]
            if p == POINTER_CONFIG:
                device._write_config(value)
            elif p == POINTER_LO:
                device.lo_thresh = value
            elif p == POINTER_HI:
                device.hi_thresh = value
            return
        device.write(buffer, start, end)

    def readfrom_into(self, address: int, buffer, *, start: int = 0,
                      end: int | None = None) -> None:
        end = len(buffer) if end is None else end
        self._device(address, end - start).read_into(buffer, start, end)

    def writeto_then_readfrom(self, address: int, buffer_out, buffer_in, *, out_start: int = 0,
                              out_end: int | None = None, in_start: int = 0,
                              in_end: int | None = None) -> None:
        out_end = len(buffer_out) if out_end is None else out_end
        in_end = len(buffer_in) if in_end is None else in_end
        device = self._device(address, out_end - out_start + in_end - in_start)
        if out_end - out_start == 1 and in_end - in_start == 2 \
                and type(device) is Ads1115Emulator:
            # The driver's register read (pointer byte, then the 16-bit register): write() and
            # read_into() inline, the same effects (8 of the 12 transactions a period).
            p = device.pointer = buffer_out[out_start] & 0x03
            if p == POINTER_CONVERSION:
                value = device._read_conversion()
            elif p == POINTER_CONFIG:
                value = device._read_config()
            elif p == POINTER_LO:
                value = device.lo_thresh
            else:
                value = device.hi_thresh
            buffer_in[in_start] = (value >> 8) & 0xFF
            buffer_in[in_start + 1] = value & 0xFF
            return
        device.write(buffer_out, out_start, out_end)
        device.read_into(buffer_in, in_start, in_end)


class Ads1115Emulator:
    """The ADS1115's registers and conversions.

    :param clock: the virtual clock (the emulator advances it while the driver waits).
    :param source: ``source(t, ain)`` returns the voltage at input ``ain`` (0..3) at time ``t``.
    :param vdd: supply voltage; the inputs clamp at -0.3 V and VDD + 0.3 V.
    """

    def __init__(self, clock, source, *, vdd: float = 3.3):
        self.clock = clock
        self.source = source
        self.vdd = vdd
        self.stuck = False  # adc_stuck: the conversion register keeps its last value
        self.reset()

    def reset(self) -> None:
        """Power-on state (datasheet defaults)."""
        self.pointer = POINTER_CONVERSION
        self.config = CONFIG_DEFAULT
        self.lo_thresh = LO_DEFAULT
        self.hi_thresh = HI_DEFAULT
        self.conversion = 0
        self._fsr = PGA_FSR[(self.config >> 9) & 0x7]
        self._period = 1.0 / DR_SPS[(self.config >> 5) & 0x7]
        self.busy_until: float | None = None  # end of the running single-shot conversion
        self.continuous_since = 0.0
        self.alert = False
        self._queue = 0
        self.conversions = 0

    # --- register file -------------------------------------------------------------------------
    def write(self, data, start: int = 0, end: int | None = None) -> None:
        """An I2C write of ``data[start:end]``: pointer byte, then an optional 16-bit value."""
        end = len(data) if end is None else end
        n = end - start
        if n <= 0:
            return  # address probe: ACK, nothing written
        self.pointer = data[start] & 0x03
        if n < 3:
            return
        value = (data[start + 1] << 8) | data[start + 2]
        if self.pointer == POINTER_CONFIG:
            self._write_config(value)
        elif self.pointer == POINTER_LO:
            self.lo_thresh = value
        elif self.pointer == POINTER_HI:
            self.hi_thresh = value
        # The conversion register is read-only: a write to it is ignored, as on the chip.

    def read_into(self, buffer, start: int, end: int) -> None:
        """An I2C read into ``buffer[start:end]`` of the register the pointer selects (MSB
        first; a longer read repeats the register, as the chip does)."""
        p = self.pointer
        if p == POINTER_CONVERSION:
            value = self._read_conversion()
        elif p == POINTER_CONFIG:
            value = self._read_config()
        elif p == POINTER_LO:
            value = self.lo_thresh
        else:
            value = self.hi_thresh
        hi, lo = (value >> 8) & 0xFF, value & 0xFF
        if end - start == 2:
            buffer[start] = hi
            buffer[start + 1] = lo
            return
        for i in range(start, end):
            buffer[i] = hi if (i - start) % 2 == 0 else lo

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        self.read_into(buf, 0, n)
        return bytes(buf)

    # --- config and conversions ---------------------------------------------------------------
    @property
    def fsr(self) -> float:
        return PGA_FSR[(self.config >> 9) & 0x7]

    @property
    def data_rate(self) -> int:
        return DR_SPS[(self.config >> 5) & 0x7]

    @property
    def continuous(self) -> bool:
        return not (self.config >> 8) & 1

    def _write_config(self, value: int) -> None:
        start_single = bool(value & 0x8000)
        self.config = value & 0x7FFF | (self.config & 0x8000)
        self._fsr = PGA_FSR[(value >> 9) & 0x7]
        self._period = 1.0 / DR_SPS[(value >> 5) & 0x7]
        if not (self.config >> 8) & 1:   # continuous mode (the property, inline: hot path)
            # Continuous mode (re)starts converting on every config write; OS reads 0 throughout.
            self.busy_until = None
            self.continuous_since = self.clock.t
            self.config &= 0x7FFF
            return
        if self.busy_until is not None:
            return  # writing OS=1 during a conversion has no effect
        if start_single:
            self.config &= 0x7FFF  # OS reads 0 while converting
            self.busy_until = self.clock.t + self._period
        else:
            self.config |= 0x8000  # single-shot, powered down: not converting

    def _read_config(self) -> int:
        busy_until = self.busy_until
        if busy_until is not None:
            # The driver's poll loop spins until OS=1; on the virtual clock that is a wait
            # (clock.advance_to and _finish_single, inline: four times a control period).
            clock = self.clock
            if busy_until > clock.t:
                clock.t = busy_until
            self._convert(busy_until)
            self.busy_until = None
            self.config |= 0x8000
        return self.config

    def _finish_single(self) -> None:
        self._convert(self.busy_until)
        self.busy_until = None
        self.config |= 0x8000

    def _read_conversion(self) -> int:
        if self.busy_until is not None and self.clock.t >= self.busy_until:
            self._finish_single()
        elif not (self.config >> 8) & 1:   # continuous mode
            period = 1.0 / self.data_rate
            n = int((self.clock.t - self.continuous_since) / period)
            if n >= 1:
                self._convert(self.continuous_since + n * period)
                self.continuous_since += n * period
        value = self.conversion
        if self.alert and (self.config >> 2) & 1:
            self.alert = False  # a latching comparator clears on a conversion-register read
        return value & 0xFFFF

    def code_for(self, volts: float, fsr: float | None = None) -> int:
        """The conversion result for ``volts`` at full scale ``fsr`` (default: the PGA's)."""
        fsr = self.fsr if fsr is None else fsr
        code = round(volts * 32768.0 / fsr)
        return -32768 if code < -32768 else 32767 if code > 32767 else code

    def _convert(self, t: float) -> None:
        self.conversions += 1
        if self.stuck:
            return
        pos, neg = MUX_INPUTS[(self.config >> 12) & 0x7]
        source = self.source
        lo, hi = -0.3, self.vdd + 0.3
        # min(max(v, lo), hi), written out as min() and max() evaluate it (the same value)
        vp = source(t, pos)
        if lo > vp:
            vp = lo
        if hi < vp:
            vp = hi
        if neg is None:
            vn = 0.0
        else:
            vn = source(t, neg)
            if lo > vn:
                vn = lo
            if hi < vn:
                vn = hi
        code = round((vp - vn) * 32768.0 / self._fsr)
        self.conversion = -32768 if code < -32768 else 32767 if code > 32767 else code
        if self.config & 0x3 != 0x3 or self.alert:
            self._compare(self.conversion)

    def _compare(self, code: int) -> None:
        que = self.config & 0x3
        if que == 0x3:
            self.alert = False  # comparator disabled: ALERT/RDY high-impedance
            self._queue = 0
            return
        lo, hi = _signed(self.lo_thresh), _signed(self.hi_thresh)
        window = (self.config >> 4) & 1
        beyond = (code > hi or code < lo) if window else code > hi
        if beyond:
            self._queue += 1
            if self._queue >= (1, 2, 4)[que]:
                self.alert = True
        else:
            self._queue = 0
            latching = (self.config >> 2) & 1
            if not latching and (window or code <= lo):
                self.alert = False

    @property
    def alert_pin_level(self) -> bool:
        """Logic level of ALERT/RDY (COMP_POL: 0 = active low)."""
        active_high = bool((self.config >> 3) & 1)
        return self.alert if active_high else not self.alert
