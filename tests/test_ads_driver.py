"""The real adafruit ADS1115 driver against the register emulator.

These tests pin down both the emulator (datasheet behaviour) and the driver version's behaviour
the design relies on: single-shot mode, and the continuous-mode channel bug that rules it out.
"""

from __future__ import annotations

import pytest
from adafruit_ads1x15 import ads1x15
from adafruit_ads1x15.ads1x15 import Mode
from adafruit_ads1x15.ads1115 import ADS1115
from adafruit_ads1x15.analog_in import AnalogIn

from hal import AdcAbsentError, AdcError, AdcTimeoutError, AnalogFrontEnd
from sim.ads1115 import CONFIG_DEFAULT, HI_DEFAULT, LO_DEFAULT, Ads1115Emulator, SimI2CBus
from sim.clock import VirtualClock


class Inputs:
    """Settable input voltages for the emulator."""

    def __init__(self, *v):
        self.v = list(v) if v else [0.0, 0.0, 0.0, 0.0]

    def __call__(self, t, ain):
        return self.v[ain]


def make(inputs=None, **kw):
    clock = VirtualClock()
    bus = SimI2CBus(clock)
    src = inputs or Inputs()
    emu = Ads1115Emulator(clock, src)
    bus.attach(0x48, emu)
    ads = ADS1115(bus, **kw)
    return clock, bus, emu, ads, src


def test_driver_version_is_the_pinned_one():
    # The regression tests below document 3.0.5's behaviour; a new version must be re-checked.
    assert ads1x15.__version__ == "3.0.5"


def test_power_on_defaults():
    emu = Ads1115Emulator(VirtualClock(), Inputs())
    assert (emu.config, emu.lo_thresh, emu.hi_thresh, emu.conversion) == (
        CONFIG_DEFAULT, LO_DEFAULT, HI_DEFAULT, 0)
    assert emu.fsr == 2.048 and emu.data_rate == 128 and not emu.continuous


@pytest.mark.parametrize("gain,fsr", [(2 / 3, 6.144), (1, 4.096), (2, 2.048), (4, 1.024),
                                      (8, 0.512), (16, 0.256)])
def test_driver_reads_back_within_one_count_at_every_pga_range(gain, fsr):
    lsb = fsr / 32768
    # Inputs inside the range (and inside the chip's -0.3 V .. VDD+0.3 V input limits).
    top = min(fsr, 3.5) * 0.97
    volts = [0.0, top * 0.1, top * 0.5, top]
    _, _, _, ads, src = make(Inputs(*volts), gain=gain, data_rate=860, mode=Mode.SINGLE)
    for ain, v in enumerate(volts):
        chan = AnalogIn(ads, ain)
        assert abs(chan.value - v / lsb) <= 1.0, (ain, v, chan.value)
        assert abs(chan.voltage - v) <= lsb * 1.0001


def test_differential_and_negative_readings():
    _, _, _, ads, _ = make(Inputs(1.0, 1.5, 2.0, 0.5), gain=1, data_rate=860)
    lsb = 4.096 / 32768
    assert abs(AnalogIn(ads, 0, 1).value - (-0.5 / lsb)) <= 1
    assert abs(AnalogIn(ads, 2, 3).value - (1.5 / lsb)) <= 1
    assert AnalogIn(ads, 0, 1).value < 0  # AnalogIn.value is signed


def test_quantisation_clips_at_full_scale():
    _, _, _, ads, _ = make(Inputs(3.0, 0, 0, 0), gain=4, data_rate=860)  # +-1.024 V
    assert AnalogIn(ads, 0).value == 32767


def test_conversion_takes_one_over_data_rate_on_the_virtual_clock():
    clock, _, emu, ads, _ = make(Inputs(1.0, 0, 0, 0), gain=1, data_rate=128)
    t0 = clock.now()
    assert AnalogIn(ads, 0).value
    elapsed = clock.now() - t0
    assert 1 / 128 <= elapsed < 1 / 128 + 0.001  # conversion plus three short I2C transactions
    assert emu.conversions == 1


def test_threshold_registers_and_comparator():
    _, _, emu, ads, src = make(Inputs(0.5, 0, 0, 0), gain=1, data_rate=860,
                               comparator_queue_length=1,
                               comparator_low_threshold=4000, comparator_high_threshold=8000)
    assert emu.lo_thresh == 4000 and emu.hi_thresh == 8000
    assert not emu.alert
    src.v[0] = 1.5  # 12000 counts > 8000
    assert AnalogIn(ads, 0).value
    assert emu.alert and not emu.alert_pin_level  # ALERT/RDY is active low by default
    src.v[0] = 0.25  # 2000 counts < 4000: a traditional, non-latching comparator de-asserts
    assert AnalogIn(ads, 0).value
    assert not emu.alert


def test_continuous_mode_channel_bug_is_why_single_shot_is_used():
    """adafruit-circuitpython-ads1x15 3.0.5 in continuous mode ignores the requested channel on
    a channel change: it re-reads the MUX in the chip and writes it back. Reading A1 after A0
    therefore returns A0 again. If this test fails, the driver changed: re-check before using
    continuous mode (the HAL does not)."""
    _, _, _, ads, _ = make(Inputs(1.0, 2.0, 0, 0), gain=1, data_rate=860,
                           mode=Mode.CONTINUOUS)
    a0 = AnalogIn(ads, 0).voltage
    a1 = AnalogIn(ads, 1).voltage
    assert abs(a1 - 2.0) > 0.5, "the driver now honours the channel in continuous mode"
    assert abs(a1 - a0) < 0.01 or abs(a1) < 0.01
    # The same reads in single-shot mode give the right channels.
    _, _, _, ads1, _ = make(Inputs(1.0, 2.0, 0, 0), gain=1, data_rate=860, mode=Mode.SINGLE)
    assert abs(AnalogIn(ads1, 0).voltage - 1.0) < 0.001
    assert abs(AnalogIn(ads1, 1).voltage - 2.0) < 0.001


def test_no_device_gives_the_typed_error_at_construction(board):
    clock = VirtualClock()
    bus = SimI2CBus(clock)  # nothing attached at 0x48
    with pytest.raises(AdcAbsentError, match="0x48") as exc:
        AnalogFrontEnd(board, i2c=bus, clock=clock.now)
    assert isinstance(exc.value, OSError)


def test_bus_error_surfaces_typed_never_as_zero(board, rig_hw):
    rig, hw = rig_hw
    hw.afe.sample()
    rig.i2c.absent.add(board.adc.address)
    with pytest.raises(AdcError):
        hw.afe.sample()


def test_conversion_that_never_completes_times_out(board):
    class Frozen(Ads1115Emulator):
        def _read_config(self):
            self.clock.advance(0.0005)  # each poll costs time; OS never becomes 1
            return self.config

    clock = VirtualClock()
    bus = SimI2CBus(clock)
    bus.attach(board.adc.address, Frozen(clock, Inputs()))
    afe = AnalogFrontEnd(board, i2c=bus, clock=clock.now)
    with pytest.raises(AdcTimeoutError, match="not complete after 5.0 ms"):
        afe.sample()


def test_the_front_end_puts_the_drivers_own_bytes_on_the_bus(board):
    """The front end's driver computes each input's configuration word once (four conversions a
    control period); the transactions and their bytes are the stock driver's, also after a
    setting that makes the word is changed."""
    from hal.afe import _BoundedADS1115

    def traffic(cls, **kw):
        clock = VirtualClock()
        bus = SimI2CBus(clock)
        bus.attach(0x48, Ads1115Emulator(clock, Inputs(0.3, 1.2, 2.0, 2.4)))
        log = []
        for name in ("writeto", "readfrom_into", "writeto_then_readfrom"):
            orig = getattr(bus, name)

            def spy(address, *bufs, _orig=orig, _name=name, **k):
                _orig(address, *bufs, **k)
                log.append((_name, address, tuple(bytes(b) for b in bufs), clock.t))
            setattr(bus, name, spy)
        ads = cls(bus, data_rate=860, mode=Mode.SINGLE, **kw)
        values = []
        for gain in (1, 2):
            ads.gain = gain
            for _ in range(3):
                values += [AnalogIn(ads, pin).value for pin in (0, 1, 2, 3)]
        ads.data_rate = 475
        values.append(AnalogIn(ads, 2).value)
        return log, values

    stock = traffic(ADS1115)
    ours = traffic(_BoundedADS1115, clock=lambda: 0.0, timeout_s=0.005)
    assert ours == stock
    assert len(stock[0]) > 60 and len(set(stock[1])) > 4
