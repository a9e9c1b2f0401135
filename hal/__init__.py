"""The hardware abstraction layer: typed devices built from ``hardware/board.toml`` on an injected
gpiozero pin factory and an injected I2C bus. No policy and no physics live here."""

from .afe import AdcSample, AnalogFrontEnd, ChannelCalibration
from .device import Hardware, build_hardware
from .errors import (
    AdcAbsentError,
    AdcError,
    AdcTimeoutError,
    BackendUnavailable,
    HalError,
    RelayInterlockError,
)
from .guard import Guard
from .output import OutputStage, SetpointCalibration
from .panel import COLOURS, Panel

__all__ = [
    "AdcAbsentError", "AdcError", "AdcSample", "AdcTimeoutError", "AnalogFrontEnd",
    "BackendUnavailable", "COLOURS", "ChannelCalibration", "Guard", "HalError", "Hardware",
    "OutputStage", "Panel", "RelayInterlockError", "SetpointCalibration", "build_hardware",
]
