"""The hardware bundle the device program receives: every HAL device built from one board file.

``build_hardware`` takes the pin factory, the I2C bus and the clock as keyword-only arguments and
has no defaults for them: the caller (``firmware``) chooses the Raspberry Pi backend
(:mod:`hal.pi`) or the simulator (:mod:`sim.rig`) explicitly. There is no fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware import Board

from .afe import AnalogFrontEnd, ChannelCalibration
from .display import Display
from .guard import Guard
from .output import OutputStage, SetpointCalibration
from .panel import Panel
from .rtc import RealTimeClock


@dataclass
class Hardware:
    board: Board
    output: OutputStage
    afe: AnalogFrontEnd
    panel: Panel
    guard: Guard
    rtc: RealTimeClock
    display: Display

    def safe(self) -> None:
        """Drive the outputs to the safe state (see DESIGN.md)."""
        self.output.safe()
        self.panel.set_output_led(False)

    def close(self) -> None:
        for part in (self.output, self.panel, self.guard, self.afe, self.rtc, self.display):
            try:
                part.close()
            except Exception:  # noqa: BLE001 - close every part even if one fails
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build_hardware(board: Board, *, pin_factory, i2c, clock,
                   setpoint_cal: SetpointCalibration | None = None,
                   cal_a: ChannelCalibration | None = None,
                   cal_b: ChannelCalibration | None = None) -> Hardware:
    """Build every device. ``clock`` is a callable returning seconds.

    If the ADC is absent, the outputs already built are closed (safe) before the error rises.
    The real-time clock and the display on the same bus are probed at their first use
    (:mod:`hal.rtc`, :mod:`hal.display`): a clock or a display that does not answer does not keep
    the unit from starting, and building them costs no bus time.
    """
    output = OutputStage(board, pin_factory=pin_factory, calibration=setpoint_cal)
    panel = Panel(board, pin_factory=pin_factory)
    guard = Guard(board, pin_factory=pin_factory)
    try:
        afe = AnalogFrontEnd(board, i2c=i2c, clock=clock, cal_a=cal_a, cal_b=cal_b)
    except Exception:
        for part in (output, panel, guard):
            part.close()
        raise
    return Hardware(board, output, afe, panel, guard, RealTimeClock(board, i2c=i2c),
                    Display(board, i2c=i2c))
