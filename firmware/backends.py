"""Build the hardware for the device program on the Raspberry Pi. The simulated unit's is
:func:`simtools.backend.sim_hardware`; the choice is always explicit (``--sim`` on the command
line), nothing falls back silently.
"""

from __future__ import annotations

from hal import Hardware, build_hardware
from hardware import Board


def pi_hardware(board: Board) -> tuple[Hardware, object]:
    """The real unit. Raises ``hal.BackendUnavailable`` / ``hal.AdcAbsentError`` with a hint."""
    from hal import AdcAbsentError
    from hal.pi import HINT, open_pi_backend

    from .clock import MonotonicClock

    clock = MonotonicClock()
    factory, i2c = open_pi_backend(board)
    try:
        hw = build_hardware(board, pin_factory=factory, i2c=i2c, clock=clock.now)
    except AdcAbsentError as exc:
        factory.close()
        raise AdcAbsentError(f"{exc}. Check the analog board's cable and power. {HINT}") from exc
    return hw, clock
