"""The analog front end: all four ADS1115 channels through the real adafruit driver.

Single-shot mode only. adafruit-circuitpython-ads1x15 3.0.5 in continuous mode ignores the
requested channel (it re-reads the MUX already in the chip) and sleeps ``2/data_rate`` on every
channel change; tests/test_ads_driver.py keeps that behaviour documented on the emulator. In
single-shot mode the driver polls the OS bit with no sleep and no timeout, so this module bounds
that wait with the injected clock (``conversion_timeout_ms``) and raises
:class:`~hal.errors.AdcTimeoutError` instead of hanging the control loop.

A bus error is never swallowed and never turned into a zero: it surfaces as
:class:`~hal.errors.AdcError` (an ``OSError``), and the controller's ADC-failure rule decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from adafruit_ads1x15.ads1x15 import Mode
from adafruit_ads1x15.ads1115 import ADS1115
from adafruit_ads1x15.analog_in import AnalogIn

from hardware import Board

from .errors import AdcAbsentError, AdcError, AdcTimeoutError


@dataclass(frozen=True, slots=True)
class ChannelCalibration:
    """``reading = gain x nominal + offset`` for one current channel (mA)."""

    gain: float = 1.0
    offset_ma: float = 0.0


@dataclass(frozen=True, slots=True)
class AdcSample:
    """One reading of all four channels, in engineering units, with the raw counts kept.

    ``t`` is the clock time at the end of the last conversion. ``electrode_v`` is signed: it
    follows the polarity of the output (positive in normal polarity).
    """

    t: float
    current_a_ma: float
    current_b_ma: float
    electrode_v: float
    hv_v: float
    raw: tuple[int, int, int, int]  # counts of current_a, current_b, electrode_v, hv_rail

    @property
    def current_ma(self) -> float:
        """The higher of the two current channels: a channel drifting low never raises the
        regulated current."""
        return self.current_a_ma if self.current_a_ma > self.current_b_ma else self.current_b_ma


def _config_setting(name: str) -> property:
    """The driver's property ``name``, whose setter also forgets the cached config words."""
    base = getattr(ADS1115, name)

    def fset(self, value):
        base.fset(self, value)
        self._words = {}
    return property(base.fget, fset, doc=base.__doc__)


class _BoundedADS1115(ADS1115):
    """The adafruit ADS1115 with its OS-bit poll bounded in time (the driver's has no limit),
    and the configuration word of each single-shot conversion computed once per input.

    The driver builds the same 16-bit word from eight settings before every conversion (four a
    control period); here it is the driver's own ``_write_config`` that builds it, once per
    input, and the word is kept until one of the settings that make it is set again. The bytes
    on the bus are the driver's, in the same transactions."""

    def __init__(self, i2c, *, clock, timeout_s: float, **kw):
        self._clock = clock
        self._timeout_s = timeout_s
        self._deadline = None
        self._words: dict[int, int] = {}
        super().__init__(i2c, **kw)

    gain = _config_setting("gain")
    data_rate = _config_setting("data_rate")
    mode = _config_setting("mode")
    comparator_mode = _config_setting("comparator_mode")
    comparator_polarity = _config_setting("comparator_polarity")
    comparator_latch = _config_setting("comparator_latch")
    comparator_queue_length = _config_setting("comparator_queue_length")

    def _write_config(self, pin_config=None):
        if pin_config is None or self.mode != Mode.SINGLE:
            return super()._write_config(pin_config)
        word = self._words.get(pin_config)
        if word is None:
            words = []
            self._write_register = lambda reg, value: words.append((reg, value))
            try:
                super()._write_config(pin_config)
            finally:
                del self._write_register
            word = self._words[pin_config] = words[0]
        self._write_register(*word)

    def _read(self, pin):
        self._deadline = self._clock() + self._timeout_s
        return super()._read(pin)

    def _conversion_complete(self):
        done = super()._conversion_complete()
        if not done and self._deadline is not None and self._clock() > self._deadline:
            raise AdcTimeoutError(f"ADS1115 conversion not complete after "
                                  f"{self._timeout_s * 1000:.1f} ms")
        return done


class AnalogFrontEnd:
    """Reads current A, current B, electrode voltage and the HV rail.

    :param board: the hardware description.
    :param i2c: the I2C bus (``busio.I2C`` on the Pi, ``sim.ads1115.SimI2CBus`` in simulation).
    :param clock: a callable returning the time in seconds (``clock.now``).
    :param cal_a, cal_b: calibration of the two current channels (default: nominal).

    :raises AdcAbsentError: no ADS1115 answers at the board's address.
    """

    def __init__(self, board: Board, *, i2c, clock, cal_a: ChannelCalibration | None = None,
                 cal_b: ChannelCalibration | None = None):
        self.board = board
        self._clock = clock
        adc = board.adc
        try:
            self.ads = _BoundedADS1115(
                i2c, clock=clock, timeout_s=adc.conversion_timeout_ms / 1000.0,
                gain=adc.gain, data_rate=adc.data_rate, mode=Mode.SINGLE, address=adc.address)
        except ValueError as exc:  # the driver's probe: "No I2C device at address"
            raise AdcAbsentError(f"no ADS1115 answers at I2C address 0x{adc.address:02x} "
                                 f"(bus {adc.i2c_bus}): {exc}") from exc
        except OSError as exc:
            raise AdcAbsentError(f"ADS1115 at 0x{adc.address:02x} failed while being "
                                 f"configured: {exc}") from exc
        ch = adc.channels
        self._inputs = [AnalogIn(self.ads, ch[name])
                        for name in ("current_a", "current_b", "electrode_v", "hv_rail")]
        vpc = adc.volts_per_count
        s = board.sense
        self._ma_per_count_a = vpc / s.a_v_per_ma
        self._ma_per_count_b = vpc / s.b_v_per_ma
        self._v_per_count_e = vpc / s.electrode_gain
        self._e_ref = s.electrode_ref_v / s.electrode_gain
        self._v_per_count_hv = vpc / s.hv_divider
        self.cal_a = cal_a or ChannelCalibration()
        self.cal_b = cal_b or ChannelCalibration()

    def read_raw(self, *, electrode_first: bool = False) -> tuple[int, int, int, int]:
        """Counts of the four channels, in the order current_a, current_b, electrode_v, hv.

        The four single-shot conversions run one after another (1.16 ms each at 860 SPS), in
        that order, unless ``electrode_first``: then the electrode voltage is converted first
        (electrode_v, current_a, current_b, hv), 2.3 ms sooner. The skin test asks for it in
        the sample after each of its probe steps: what the skin capacitance still shows of
        the step decays with the skin's time constant, and 2.3 ms sooner is what lets the
        test judge a small electrode area's patient at the loads of a film of water
        (``controller/contact.py``). The currents are a current source's: the step has
        settled in them by then, so their later conversion changes nothing of V/I's meaning.
        The returned tuple keeps the usual order either way."""
        order = (2, 0, 1, 3) if electrode_first else (0, 1, 2, 3)
        counts = [0, 0, 0, 0]
        try:
            for k in order:
                counts[k] = self._inputs[k].value
        except AdcError:
            raise
        except OSError as exc:
            raise AdcError(f"I2C error while reading the ADS1115: {exc}") from exc
        return tuple(counts)  # type: ignore[return-value]

    def sample(self, *, electrode_first: bool = False) -> AdcSample:
        """One timestamped reading of all four channels in mA and V (``electrode_first``: see
        :meth:`read_raw`)."""
        ra, rb, re, rh = raw = self.read_raw(electrode_first=electrode_first)
        ca, cb = self.cal_a, self.cal_b
        return AdcSample(
            t=self._clock(),
            current_a_ma=ca.gain * ra * self._ma_per_count_a + ca.offset_ma,
            current_b_ma=cb.gain * rb * self._ma_per_count_b + cb.offset_ma,
            electrode_v=re * self._v_per_count_e - self._e_ref,
            hv_v=rh * self._v_per_count_hv,
            raw=raw,
        )

    def close(self) -> None:
        """Nothing to release: the bus belongs to whoever injected it."""
