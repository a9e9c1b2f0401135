"""What the controller reads and what it commands: the small interfaces it states for itself.

The controller imports nothing from ``hal``, ``sim`` or gpiozero. Each period the device loop
hands it an :class:`Inputs` (the time, one ADC sample or the reason there is none, the START
and SELECT buttons and the hardware trip line) and applies the :class:`Command` it returns to
the hardware.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PERIOD = 0.010                # s, nominal control period


class Sample(Protocol):
    """One reading of the four ADC channels (``hal.AdcSample`` satisfies this)."""

    t: float
    current_a_ma: float
    current_b_ma: float
    electrode_v: float
    hv_v: float
    raw: tuple[int, int, int, int]


@dataclass(slots=True)
class Inputs:
    now: float
    sample: Sample | None
    adc_error: str | None = None
    start_pressed: bool = False
    hw_trip: bool = False
    trip_edge_t: float | None = None  # clock time of HW_TRIP's last rising edge, if known
    select_pressed: bool = False      # the SELECT button's raw level (controller/comfort.py)


@dataclass(slots=True)
class Command:
    """The outputs for one period. The default is the safe state."""

    setpoint_ma: float = 0.0      # sink command (the pulse peak in pulsed DC)
    gate: str = "off"             # off | dc | pulsed
    pulse_hz: float = 0.0
    pulse_duty: float = 1.0
    hv: bool = False
    patient_relay: bool = False
    polarity: int = 1
    test_load: bool = False
    trip_reset: bool = False
    output_led: bool = False
    #: the next period's sample converts the electrode voltage first (``hal.afe``), 2.3 ms
    #: sooner after a step of this command: the skin test's step samples (controller/contact.py)
    electrode_first: bool = False

    def is_safe(self) -> bool:
        return (self.setpoint_ma == 0.0 and self.gate == "off" and not self.hv
                and not self.patient_relay)


SAFE = Command()


def hold(cmd: Command, seconds: float):
    """A step of a sequence generator (the self-test, the session's relay sequences, the
    technician's procedures): yield ``cmd`` every period for ``seconds``, then return the last
    Inputs received. Use as ``inp = yield from hold(cmd, 0.05)``."""
    inp = yield cmd
    start = inp.now
    while inp.now - start < seconds - 1e-9:
        inp = yield cmd
    return inp
