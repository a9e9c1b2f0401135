"""The simulated hardware as one object: clock, pins, I2C bus, ADS1115, DS3231 real-time clock,
SSD1306 display, board physics, patient.

``SimRig`` is what the composition root hands to ``hal.build_hardware`` in place of the Pi's
pin factory and ``busio.I2C``. It also offers the outside world's actions (the patient's hands
and button, broken components) and the ground truth. It never imports ``controller`` or
``firmware``: the device program is built on top of it by ``firmware``.
"""

from __future__ import annotations

from datetime import datetime

from hardware import Board, load_board

from . import faults as _faults
from .ads1115 import Ads1115Emulator, SimI2CBus
from .clock import VirtualClock
from .ds3231 import Ds3231Emulator
from .patient import Patient
from .physics import AnalogBoard
from .pins import SimPinFactory
from .ssd1306 import Ssd1306Emulator

#: the real-time clock's time at the rig's power-on unless the rig is given another
RTC_START = datetime(2027, 1, 4, 8, 0, 0)


class ReferenceMeter:
    """The technician's reference ammeter, in series with the test load for calibration.

    It reads the true current through the test load times ``factor`` (1.0: an exact meter;
    0.971: one that reads 2.9 % low), and its display holds the last steady reading (at least
    1 mA, within 0.2 % of the period before): what the technician reads off it and types
    after ``cal ref`` (a scenario's console line ``cal ref {meter}``). ``reading`` is None
    until a steady current has flowed through the test load.
    """

    STEADY = 0.002
    MIN_MA = 1.0

    def __init__(self, factor: float = 1.0):
        self.factor = factor
        self.reading: float | None = None
        self._last = 0.0

    def sample(self, true_ma: float) -> None:
        if true_ma >= self.MIN_MA and abs(true_ma - self._last) <= self.STEADY * true_ma:
            self.reading = true_ma * self.factor
        self._last = true_ma


class SimRig:
    """Simulated hardware for one device.

    :param board: hardware description (default: ``hardware/board.toml``).
    :param patient: the load at the trays (default: a 2 kOhm hands patient, in the water).
    :param seed: seeds the measurement noise and the I2C glitch draws.
    :param noise_v: ADC input noise (V, standard deviation).
    :param sink_gain: true / nominal transconductance of the current sink (default exact).
    :param rtc_start: the real-time clock's time at power-on (the virtual clock's 0), set and
        counting; None: the clock lost its time (a flat battery: OSF set, 2000-01-01).
    """

    def __init__(self, board: Board | None = None, *, patient: Patient | None = None,
                 seed: int = 0, noise_v: float = 60e-6, sink_gain: float = 1.0,
                 rtc_start: datetime | None = RTC_START):
        self.board = board or load_board()
        self.clock = VirtualClock()
        self.patient = patient or Patient()
        self.pin_factory = SimPinFactory(self.clock)
        self.physics = AnalogBoard(self.board, self.clock, self.patient, self.pin_factory,
                                   seed=seed, noise_v=noise_v, sink_gain=sink_gain)
        self.pin_factory.listener = self.physics
        self.i2c = SimI2CBus(self.clock, seed=seed)
        self.adc = Ads1115Emulator(self.clock, self.physics.adc_input, vdd=self.board.adc.vdd_v)
        self.i2c.attach(self.board.adc.address, self.adc)
        self.rtc = Ds3231Emulator(self.clock, start=rtc_start)
        self.i2c.attach(self.board.rtc.address, self.rtc)
        self.display = Ssd1306Emulator(seed=seed)
        self.i2c.attach(self.board.display.address, self.display)
        self.active_faults: dict[str, dict[str, float]] = {}
        self.meter = ReferenceMeter()

    # ------------------------------------------------------------------------------------------
    # The world: the patient's hands and button
    # ------------------------------------------------------------------------------------------
    def _world(self) -> None:
        self.physics.sync()

    def set_contact(self, fraction: float) -> None:
        """Immersed fraction of the full area: 1 in the water, 0 lifted out."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"contact fraction {fraction}; allowed: 0..1")
        self._world()
        self.patient.contact = fraction

    def lift(self) -> None:
        self.set_contact(0.0)

    def immerse(self) -> None:
        self.set_contact(1.0)

    def short(self, ohm: float = 20.0) -> None:
        if ohm <= 0:
            raise ValueError(f"short resistance {ohm}; allowed: above 0 ohm")
        self._world()
        self.patient.short_ohm = float(ohm)

    def unshort(self) -> None:
        self._world()
        self.patient.short_ohm = None

    def read_meter(self) -> None:
        """The reference meter follows the true test-load current (called once a period)."""
        self.physics.sync()
        self.meter.sample(self.physics.test_a * 1000.0)

    def set_button(self, pressed: bool) -> None:
        self._world()
        self.physics.button_pressed = pressed
        self.physics._drive_inputs()

    def set_select_button(self, pressed: bool) -> None:
        """The patient holds (True) or lets go of (False) the SELECT button."""
        self._world()
        self.physics.select_pressed = pressed
        self.physics._drive_inputs()

    def set_display_answering(self, answering: bool) -> None:
        """The display's cable comes loose (False: every I2C transaction with the SSD1306 fails
        with ENXIO, as a chip that does not acknowledge its address) or is plugged back in.
        Not in the fault catalogue: a catalogue fault enters the campaigns' draws and the fault
        matrix, and the device has no rule for the display yet."""
        addr = self.board.display.address
        if answering:
            self.i2c.absent.discard(addr)
        else:
            self.i2c.absent.add(addr)

    # ------------------------------------------------------------------------------------------
    # The world: time away and the clock's battery
    # ------------------------------------------------------------------------------------------
    def skip_time(self, seconds: float, *, powered: bool = False) -> None:
        """``seconds`` pass that the virtual clock does not count: the unit off (on the
        clock's battery), or left idle and ``powered`` (a course skips the days between
        visits). The real-time clock counts them; a flat battery loses the time instead."""
        self.rtc.skip(seconds, on_battery=not powered)

    def flat_battery(self) -> None:
        """The clock's coin cell is flat: at the next power cut the time is lost."""
        self.rtc.battery_ok = False

    def lose_clock_time(self) -> None:
        """The unit comes up with a clock that lost its time (a power cut on a flat battery):
        OSF set, the time 2000-01-01 00:00:00."""
        self.rtc.lose_time()

    # ------------------------------------------------------------------------------------------
    # Faults (the catalogue in ../shared/SCENARIOS.md)
    # ------------------------------------------------------------------------------------------
    def inject(self, name: str, **params) -> dict[str, float]:
        """Break a component; returns the parameters in force (defaults filled in)."""
        p = _faults.resolve(name, params)
        self._world()
        ph = self.physics
        addr = self.board.adc.address
        if name == "adc_absent":
            self.i2c.absent.add(addr)
        elif name == "adc_glitch":
            self.i2c.glitch_p = p["p"]
        elif name == "adc_stuck":
            self.adc.stuck = True
        elif name == "sense_a_gain":
            ph.f_sense_a = p["factor"]
        elif name == "sense_b_open":
            ph.f_sense_b_open = True
        elif name == "sink_short":
            ph.f_sink_short = True
        elif name == "pwm_stuck":
            ph.f_pwm_stuck = p["duty"]
        elif name == "polarity_relay_stuck":
            ph.f_polarity_stuck = True
            ph._pending.pop("polarity", None)
        elif name == "patient_relay_welded":
            ph.f_welded = True
        elif name in ("hv_sag", "hv_over"):
            ph.f_rail_v = p["volts"]
        elif name == "loop_stall":
            self.clock.stall(p["ms"] / 1000.0)
        elif name == "button_stuck":
            ph.f_button_stuck = True
            ph._drive_inputs()
        elif name == "trip_dead":
            ph.f_trip_dead = True
        self.active_faults[name] = p
        return p

    def repair(self, name: str) -> None:
        """Remove fault ``name`` (a ``loop_stall`` that already happened cannot be undone)."""
        _faults.resolve(name, {})  # validates the name
        self._world()
        ph = self.physics
        addr = self.board.adc.address
        if name == "adc_absent":
            self.i2c.absent.discard(addr)
        elif name == "adc_glitch":
            self.i2c.glitch_p = 0.0
        elif name == "adc_stuck":
            self.adc.stuck = False
        elif name == "sense_a_gain":
            ph.f_sense_a = 1.0
        elif name == "sense_b_open":
            ph.f_sense_b_open = False
        elif name == "sink_short":
            ph.f_sink_short = False
        elif name == "pwm_stuck":
            ph.f_pwm_stuck = None
        elif name == "polarity_relay_stuck":
            ph.f_polarity_stuck = False
            # The relay follows its coil again.
            ph._pending["polarity"] = (-1 if ph.cmd["polarity_relay"] else 1,
                                       self.clock.t + self.board.output.relay_switch_ms / 1000.0)
        elif name == "patient_relay_welded":
            ph.f_welded = False
        elif name in ("hv_sag", "hv_over"):
            ph.f_rail_v = None
        elif name == "button_stuck":
            ph.f_button_stuck = False
            ph._drive_inputs()
        elif name == "trip_dead":
            ph.f_trip_dead = False
        self.active_faults.pop(name, None)

    # ------------------------------------------------------------------------------------------
    # Ground truth
    # ------------------------------------------------------------------------------------------
    def truth(self) -> dict[str, float]:
        """What really happens now: only the simulator knows this."""
        ph = self.physics
        ph.sync()
        return {
            "t_s": self.clock.t,
            "patient_ma": ph.patient_ma,
            "patient_peak_ma": ph.patient_peak_ma,
            "sink_ma": ph.sink_a * 1000.0,
            "load_ohm": ph.load_ohm,
            "contact": ph.contact,
            "supply_v": ph.v_rail,
            "electrode_v": ph.v_out * ph.k_polarity,
            "polarity": ph.k_polarity,
            "patient_relay": ph.k_patient,
            "tripped": ph.tripped,
            "watchdog_cut": ph.wd_cut,
        }

    def hardware_kwargs(self) -> dict:
        """The keyword arguments ``hal.build_hardware`` needs for this rig."""
        return {"pin_factory": self.pin_factory, "i2c": self.i2c, "clock": self.clock.now}
