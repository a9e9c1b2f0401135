"""The hardware abstraction layer: typed devices built from ``hardware/board.toml`` on an injected
gpiozero pin factory and an injected I2C bus (the ADS1115, the DS3231 real-time clock and the
SSD1306 display). No
policy and no physics live here."""

from .afe import AdcSample, AnalogFrontEnd, ChannelCalibration
from .device import Hardware, build_hardware
from .display import Display
from .errors import (
    AdcAbsentError,
    AdcError,
    AdcTimeoutError,
    BackendUnavailable,
    ClockLostError,
    DisplayAbsentError,
    DisplayError,
    HalError,
    RelayInterlockError,
    RtcAbsentError,
    RtcError,
)
from .guard import Guard
from .output import OutputStage, SetpointCalibration
from .panel import COLOURS, Panel
from .rtc import CLOCK_LOST, ClockReading, RealTimeClock

__all__ = [
    "AdcAbsentError", "AdcError", "AdcSample", "AdcTimeoutError", "AnalogFrontEnd",
    "BackendUnavailable", "CLOCK_LOST", "COLOURS", "ChannelCalibration", "ClockLostError",
    "ClockReading", "Display", "DisplayAbsentError", "DisplayError", "Guard", "HalError",
    "Hardware", "OutputStage", "Panel", "RealTimeClock", "RelayInterlockError", "RtcAbsentError",
    "RtcError", "SetpointCalibration", "build_hardware",
]
