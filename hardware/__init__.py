"""The hardware description: ``board.toml`` and its typed, validating loader.

``hal/`` and ``sim/`` both call :func:`load_board` so that the pins, the ADC set-up, the resistor
values and the hardware limits are written down exactly once. Loading is strict, in the manner of
Klipper's config getters: every key is required, unknown keys are refused, numbers are bounded,
and no two roles share a pin. Each error names the file, the key, the bad value and what is
allowed, so a technician who edits the file can fix it without reading code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_BOARD_FILE = Path(__file__).with_name("board.toml")

#: Every GPIO role the HAL drives or reads. The file must give each exactly once.
GPIO_ROLES = (
    "setpoint", "pulse_gate", "hv_enable", "patient_relay", "polarity_relay", "test_load",
    "wdi", "hw_trip", "trip_reset", "start_button", "select_button", "led_red", "led_green",
    "led_blue", "output_led", "buzzer",
)
#: Roles that need a PWM-capable output.
PWM_ROLES = ("setpoint", "pulse_gate")
#: BCM lines with a hardware PWM channel (PWM0 on 12/18, PWM1 on 13/19).
HW_PWM_BCM = {12, 13, 18, 19}
#: Roles that are inputs; the rest are outputs.
INPUT_ROLES = ("hw_trip", "start_button", "select_button")
#: BCM lines owned by I2C (GPIO2/3) and the console UART (GPIO14/15).
RESERVED_BCM = {2: "I2C SDA", 3: "I2C SCL", 14: "UART TXD (console)", 15: "UART RXD (console)"}
#: ADS1115 full-scale ranges (volts) and the adafruit driver's gain for each.
FSR_TO_GAIN = {6.144: 2 / 3, 4.096: 1, 2.048: 2, 1.024: 4, 0.512: 8, 0.256: 16}
DATA_RATES = (8, 16, 32, 64, 128, 250, 475, 860)
ADC_CHANNELS = ("current_a", "current_b", "electrode_v", "hv_rail")
#: the DS3231 answers only here
RTC_ADDRESS = 0x68
#: the SSD1306's two addresses (its SA0 pin, strapped on the module)
DISPLAY_ADDRESSES = (0x3C, 0x3D)
#: the display's glass: 128 columns by 64 rows (8 pages of 8 rows)
DISPLAY_WIDTH, DISPLAY_HEIGHT = 128, 64


class BoardConfigError(ValueError):
    """The hardware file is missing, unreadable or invalid. The message says where and why."""

    def __init__(self, path: Path | str, key: str, problem: str):
        self.path = str(path)
        self.key = key
        self.problem = problem
        super().__init__(f"{self.path}: {key}: {problem}")


# ---------------------------------------------------------------------------------------------
# Typed records
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Gpio:
    role: str
    bcm: int
    active_high: bool
    doc: str

    @property
    def is_input(self) -> bool:
        return self.role in INPUT_ROLES

    @property
    def is_pwm(self) -> bool:
        return self.role in PWM_ROLES


@dataclass(frozen=True, slots=True)
class Adc:
    i2c_bus: int
    address: int
    fsr_v: float
    data_rate: int
    vdd_v: float
    conversion_timeout_ms: float
    channels: dict[str, int]

    @property
    def gain(self) -> float:
        """The adafruit driver's ``gain`` for :attr:`fsr_v`."""
        return FSR_TO_GAIN[self.fsr_v]

    @property
    def conversion_s(self) -> float:
        """Time of one conversion (1 / data rate)."""
        return 1.0 / self.data_rate

    @property
    def volts_per_count(self) -> float:
        return self.fsr_v / 32768.0


@dataclass(frozen=True, slots=True)
class Rtc:
    """The battery-backed DS3231 real-time clock."""

    i2c_bus: int
    address: int


@dataclass(frozen=True, slots=True)
class Display:
    """The SSD1306 128x64 OLED on the I2C bus."""

    i2c_bus: int
    address: int
    width: int = DISPLAY_WIDTH
    height: int = DISPLAY_HEIGHT


@dataclass(frozen=True, slots=True)
class Sense:
    r_s1_ohm: float
    r_s2_ohm: float
    amp_a_gain: float
    amp_b_gain: float
    electrode_gain: float
    electrode_ref_v: float
    hv_divider: float

    @property
    def a_v_per_ma(self) -> float:
        """Volts at A0 per mA of sink current."""
        return self.r_s1_ohm * self.amp_a_gain / 1000.0

    @property
    def b_v_per_ma(self) -> float:
        """Volts at A1 per mA of sink current."""
        return self.r_s2_ohm * self.amp_b_gain / 1000.0


@dataclass(frozen=True, slots=True)
class Setpoint:
    pwm_hz: int
    pwm_v: float
    filter_tau_ms: float
    sink_ma_per_v: float
    sink_headroom_v: float

    @property
    def full_scale_ma(self) -> float:
        """Sink current at 100 % duty."""
        return self.pwm_v * self.sink_ma_per_v


@dataclass(frozen=True, slots=True)
class Pulse:
    min_hz: int
    max_hz: int


@dataclass(frozen=True, slots=True)
class Hv:
    nominal_v: float
    compliance_v: float
    tolerance: float
    rise_tau_ms: float


@dataclass(frozen=True, slots=True)
class Output:
    relay_switch_ms: float
    test_load_ohm: float
    test_load_tolerance: float


@dataclass(frozen=True, slots=True)
class Protection:
    trip_ma: float
    watchdog_timeout_ms: float
    device_max_ma: float
    limiter_ma: float
    gate_off_trip_ma: float
    gate_off_blanking_us: float


@dataclass(frozen=True, slots=True)
class Board:
    """The whole validated hardware description."""

    path: str
    name: str
    gpio: dict[str, Gpio]
    adc: Adc
    rtc: Rtc
    display: Display
    sense: Sense
    setpoint: Setpoint
    pulse: Pulse
    hv: Hv
    output: Output
    protection: Protection

    def pin(self, role: str) -> Gpio:
        return self.gpio[role]


# ---------------------------------------------------------------------------------------------
# Schema: key -> (type, low, high, unit or note). Bounds are physical sanity, not preferences.
# ---------------------------------------------------------------------------------------------
_NUM = (int, float)
_SCHEMA: dict[str, dict[str, tuple]] = {
    "board": {"name": (str, None, None, "")},
    "adc": {
        "i2c_bus": (int, 0, 10, ""),
        "address": (int, 0x48, 0x4B, "the ADS1115's ADDR strap gives 0x48..0x4B"),
        "fsr_v": (float, None, None, "one of " + ", ".join(str(v) for v in FSR_TO_GAIN)),
        "data_rate": (int, None, None, "one of " + ", ".join(str(v) for v in DATA_RATES)),
        "vdd_v": (float, 2.0, 5.5, "V"),
        "conversion_timeout_ms": (float, 1.0, 100.0, "ms"),
    },
    "rtc": {
        "i2c_bus": (int, 0, 10, ""),
        "address": (int, None, None, "0x68, fixed in the DS3231"),
    },
    "display": {
        "i2c_bus": (int, 0, 10, ""),
        "address": (int, None, None, "0x3C or 0x3D, the SSD1306's SA0 strap"),
    },
    "sense": {
        "r_s1_ohm": (float, 1.0, 10_000.0, "ohm"),
        "r_s2_ohm": (float, 1.0, 10_000.0, "ohm"),
        "amp_a_gain": (float, 0.1, 100.0, ""),
        "amp_b_gain": (float, 0.1, 100.0, ""),
        "electrode_gain": (float, 0.001, 1.0, "V/V"),
        "electrode_ref_v": (float, 0.0, 5.0, "V"),
        "hv_divider": (float, 0.001, 1.0, "V/V"),
    },
    "setpoint": {
        "pwm_hz": (int, 100, 1_000_000, "Hz"),
        "pwm_v": (float, 1.0, 5.0, "V"),
        "filter_tau_ms": (float, 0.01, 20.0, "ms"),
        "sink_ma_per_v": (float, 1.0, 100.0, "mA/V"),
        "sink_headroom_v": (float, 0.0, 10.0, "V"),
    },
    "pulse": {"min_hz": (int, 1, 100_000, "Hz"), "max_hz": (int, 1, 100_000, "Hz")},
    "hv": {
        "nominal_v": (float, 5.0, 100.0, "V"),
        "compliance_v": (float, 1.0, 100.0, "V"),
        "tolerance": (float, 0.01, 0.5, "fraction"),
        "rise_tau_ms": (float, 0.1, 100.0, "ms"),
    },
    "output": {
        "relay_switch_ms": (float, 0.1, 100.0, "ms"),
        "test_load_ohm": (float, 10.0, 100_000.0, "ohm"),
        "test_load_tolerance": (float, 0.0, 0.05, "fraction"),
    },
    "protection": {
        "trip_ma": (float, 1.0, 50.0, "mA"),
        "watchdog_timeout_ms": (float, 10.0, 5000.0, "ms"),
        "device_max_ma": (float, 1.0, 50.0, "mA"),
        "limiter_ma": (float, 1.0, 50.0, "mA"),
        "gate_off_trip_ma": (float, 0.1, 5.0, "mA"),
        "gate_off_blanking_us": (float, 0.0, 20.0, "us"),
    },
}
_GPIO_KEYS = {"bcm": (int, 0, 27, "a BCM line of the 40-pin header"),
              "active_high": (bool, None, None, ""), "role": (str, None, None, "")}


def _describe(spec: tuple) -> str:
    typ, lo, hi, note = spec
    kind = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}[typ]
    if lo is not None:
        unit = f" {note}" if note else ""
        return f"{kind} from {lo} to {hi}{unit}"
    return f"{kind}" + (f" ({note})" if note else "")


def _check_keys(path, section: str, table: Any, allowed: dict) -> None:
    if not isinstance(table, dict):
        raise BoardConfigError(path, section, f"must be a table, got {table!r}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise BoardConfigError(path, f"{section}.{unknown[0]}",
                               f"unknown key; allowed keys: {', '.join(sorted(allowed))}")
    missing = [k for k in allowed if k not in table]
    if missing:
        raise BoardConfigError(path, f"{section}.{missing[0]}", "missing; this key is required")


def _value(path, key: str, value: Any, spec: tuple):
    typ, lo, hi, _ = spec
    ok = (isinstance(value, _NUM) and not isinstance(value, bool)) if typ is float else (
        isinstance(value, typ) and not (typ is int and isinstance(value, bool)))
    if not ok:
        raise BoardConfigError(path, key, f"{value!r} is not {_describe(spec)}")
    if lo is not None and not (lo <= value <= hi):
        raise BoardConfigError(path, key, f"{value!r} is out of range; allowed: {_describe(spec)}")
    return float(value) if typ is float else value


def load_board(path: Path | str | None = None) -> Board:
    """Load and validate the hardware description (default: the ``board.toml`` beside this file).

    Raises :class:`BoardConfigError` naming the file, the key and what is allowed.
    """
    path = Path(path) if path is not None else DEFAULT_BOARD_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoardConfigError(path, "(file)",
                               "not found; give the path of a board TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardConfigError(path, "(file)", f"cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BoardConfigError(path, "(file)", f"is not valid TOML: {exc}") from exc
    return parse_board(raw, path)


def parse_board(raw: dict, path: Path | str = "<board>") -> Board:
    """Validate an already-parsed TOML document (see :func:`load_board`)."""
    top_allowed = {**{k: None for k in _SCHEMA}, "gpio": None}
    _check_keys(path, "(top level)", raw, top_allowed)
    values = _sections(path, raw)
    _check_chips(path, values)
    gpio = _gpio(path, raw["gpio"])
    _check_cross_fields(path, values)
    hv, prot, sp, pulse = values["hv"], values["protection"], values["setpoint"], values["pulse"]
    chans = values["adc"].pop("channels")
    return Board(
        path=str(path), name=values["board"]["name"], gpio=gpio,
        adc=Adc(**values["adc"], channels=chans), rtc=Rtc(**values["rtc"]),
        display=Display(**values["display"]), sense=Sense(**values["sense"]),
        setpoint=Setpoint(**sp), pulse=Pulse(**pulse), hv=Hv(**hv),
        output=Output(**values["output"]), protection=Protection(**prot),
    )


def _sections(path, raw: dict) -> dict[str, dict[str, Any]]:
    """Each section's keys checked against :data:`_SCHEMA` and its values typed and ranged."""
    values: dict[str, dict[str, Any]] = {}
    for section, keys in _SCHEMA.items():
        table = dict(raw[section])
        channels = table.pop("channels", None) if section == "adc" else None
        _check_keys(path, f"[{section}]", table, keys)
        values[section] = {k: _value(path, f"[{section}] {k}", table[k], spec)
                           for k, spec in keys.items()}
        if section == "adc":
            _check_keys(path, "[adc.channels]", channels if channels is not None else {},
                        dict.fromkeys(ADC_CHANNELS))
            chans = {}
            for name in ADC_CHANNELS:
                chans[name] = _value(path, f"[adc.channels] {name}", channels[name],
                                     (int, 0, 3, "(ADS1115 input A0..A3)"))
            dup = _first_duplicate(chans)
            if dup:
                raise BoardConfigError(path, f"[adc.channels] {dup[1]}",
                                       f"input A{chans[dup[1]]} is already used by {dup[0]}")
            values["adc"]["channels"] = chans
    return values


def _check_chips(path, values: dict) -> None:
    """The chips' own constraints: the ADS1115's ranges and rates, the fixed RTC address, the
    display's strap and bus."""
    adc = values["adc"]
    if adc["fsr_v"] not in FSR_TO_GAIN:
        raise BoardConfigError(path, "[adc] fsr_v", f"{adc['fsr_v']!r} is not allowed; "
                               f"allowed: {', '.join(str(v) for v in FSR_TO_GAIN)}")
    if adc["data_rate"] not in DATA_RATES:
        raise BoardConfigError(path, "[adc] data_rate", f"{adc['data_rate']!r} is not allowed; "
                               f"allowed: {', '.join(str(v) for v in DATA_RATES)}")

    if values["rtc"]["address"] != RTC_ADDRESS:
        raise BoardConfigError(path, "[rtc] address",
                               f"0x{values['rtc']['address']:02x} is not allowed; allowed: "
                               f"0x{RTC_ADDRESS:02x} (the DS3231's address is fixed)")

    disp = values["display"]
    if disp["address"] not in DISPLAY_ADDRESSES:
        raise BoardConfigError(path, "[display] address",
                               f"0x{disp['address']:02x} is not allowed; allowed: "
                               + " or ".join(f"0x{a:02x}" for a in DISPLAY_ADDRESSES)
                               + " (the SSD1306's SA0 strap)")
    if disp["i2c_bus"] != adc["i2c_bus"]:
        raise BoardConfigError(path, "[display] i2c_bus",
                               f"{disp['i2c_bus']} is not allowed; allowed: {adc['i2c_bus']} "
                               "(the display shares the ADS1115's bus)")


def _gpio(path, gpio_raw: dict) -> dict[str, Gpio]:
    """The pins: one role each, none reserved, PWM roles on hardware-PWM lines."""
    _check_keys(path, "[gpio]", gpio_raw, dict.fromkeys(GPIO_ROLES))
    gpio: dict[str, Gpio] = {}
    used: dict[int, str] = {}
    for role in GPIO_ROLES:
        entry = gpio_raw[role]
        _check_keys(path, f"[gpio.{role}]", entry, _GPIO_KEYS)
        bcm = _value(path, f"[gpio.{role}] bcm", entry["bcm"], _GPIO_KEYS["bcm"])
        if bcm in RESERVED_BCM:
            raise BoardConfigError(path, f"[gpio.{role}] bcm",
                                   f"GPIO{bcm} is reserved for {RESERVED_BCM[bcm]}; "
                                   "choose another line")
        if bcm in used:
            raise BoardConfigError(path, f"[gpio.{role}] bcm",
                                   f"GPIO{bcm} is already used by {used[bcm]}; "
                                   "each pin has one role")
        if role in PWM_ROLES and bcm not in HW_PWM_BCM:
            raise BoardConfigError(path, f"[gpio.{role}] bcm",
                                   f"GPIO{bcm} has no hardware PWM; allowed: "
                                   f"{', '.join(f'GPIO{b}' for b in sorted(HW_PWM_BCM))}")
        used[bcm] = role
        gpio[role] = Gpio(role, bcm,
                          _value(path, f"[gpio.{role}] active_high", entry["active_high"],
                                 _GPIO_KEYS["active_high"]),
                          _value(path, f"[gpio.{role}] role", entry["role"], _GPIO_KEYS["role"]))
    return gpio


def _check_cross_fields(path, values: dict) -> None:
    """Rules between sections (the compliance below the rail, the limits in order, the
    self-test's reach)."""
    hv, prot, sp, pulse = values["hv"], values["protection"], values["setpoint"], values["pulse"]
    if hv["compliance_v"] >= hv["nominal_v"]:
        raise BoardConfigError(path, "[hv] compliance_v",
                               f"{hv['compliance_v']} must be below nominal_v ({hv['nominal_v']})")
    if prot["device_max_ma"] >= prot["trip_ma"]:
        raise BoardConfigError(path, "[protection] device_max_ma",
                               f"{prot['device_max_ma']} must be below trip_ma ({prot['trip_ma']})")
    if not prot["device_max_ma"] < prot["limiter_ma"] < prot["trip_ma"]:
        raise BoardConfigError(path, "[protection] limiter_ma",
                               f"{prot['limiter_ma']} must lie between device_max_ma "
                               f"({prot['device_max_ma']}) and trip_ma ({prot['trip_ma']})")
    if sp["pwm_v"] * sp["sink_ma_per_v"] <= prot["trip_ma"]:
        raise BoardConfigError(path, "[setpoint] sink_ma_per_v",
                               "full-scale sink current (pwm_v x sink_ma_per_v) must exceed "
                               f"trip_ma ({prot['trip_ma']}) so that the self-test can prove "
                               "the trip")
    if hv["compliance_v"] > hv["nominal_v"] - sp["sink_headroom_v"]:
        raise BoardConfigError(path, "[hv] compliance_v",
                               f"{hv['compliance_v']} must not exceed nominal_v - "
                               f"sink_headroom_v ({hv['nominal_v'] - sp['sink_headroom_v']})")
    if pulse["min_hz"] > pulse["max_hz"]:
        raise BoardConfigError(path, "[pulse] min_hz", "must not exceed max_hz")


def _first_duplicate(mapping: dict[str, int]) -> tuple[str, str] | None:
    seen: dict[int, str] = {}
    for name, value in mapping.items():
        if value in seen:
            return seen[value], name
        seen[value] = name
    return None
