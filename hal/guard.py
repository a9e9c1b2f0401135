"""The software's side of the independent hardware protection: WDI, HW_TRIP and TRIP_RESET."""

from __future__ import annotations

from gpiozero import DigitalInputDevice, DigitalOutputDevice

from hardware import Board


class Guard:
    """Watchdog output and the overcurrent latch's input and reset.

    :param board: the hardware description. :param pin_factory: keyword-only, no default.

    ``kick()`` must be called from the control loop itself, once a period: a loop that stops
    stops the edges, and the external supervisor cuts HV after ``watchdog_timeout_ms``.
    """

    def __init__(self, board: Board, *, pin_factory):
        g = board.gpio
        self._wdi = DigitalOutputDevice(g["wdi"].bcm, active_high=g["wdi"].active_high,
                                        initial_value=False, pin_factory=pin_factory)
        self._trip = DigitalInputDevice(g["hw_trip"].bcm, pull_up=None,
                                        active_state=g["hw_trip"].active_high,
                                        pin_factory=pin_factory)
        self._reset = DigitalOutputDevice(g["trip_reset"].bcm,
                                          active_high=g["trip_reset"].active_high,
                                          initial_value=False, pin_factory=pin_factory)
        self._level = False

    def kick(self) -> None:
        """Toggle WDI (one edge)."""
        self._level = not self._level
        self._wdi.value = self._level

    @property
    def tripped(self) -> bool:
        """True while the 35 mA comparator latch is set."""
        return bool(self._trip.value)

    @property
    def trip_active_for(self) -> float | None:
        """Seconds since HW_TRIP's rising edge, from the pin's own edge timestamp (gpiozero
        event ticks: the kernel's on the Pi, the virtual clock in the simulator); None while
        the line is inactive. Lets the self-test time the comparator without polling."""
        return self._trip.active_time

    def reset_trip(self) -> bool:
        """Pulse TRIP_RESET; returns whether the latch is now clear. The latch only clears when
        the current is below the trip threshold."""
        self._reset.on()
        self._reset.off()
        return not self.tripped

    def close(self) -> None:
        for dev in (self._wdi, self._trip, self._reset):
            dev.close()
