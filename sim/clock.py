"""The virtual clock: the one source of time in the simulator.

Time only moves when something spends it: the control loop sleeping until its next period, an
I2C transaction on the wire, an ADC conversion. Sleeping costs no wall time, so a 20-minute
session runs in seconds. The device program receives this object where on the Pi it receives
:class:`firmware.clock.MonotonicClock`; both offer ``now()`` and ``sleep(dt)``.
"""

from __future__ import annotations


class VirtualClock:
    """Simulated seconds since power-on.

    ``stall(ms)`` models a hung process (the ``loop_stall`` fault): the next ``sleep()`` lasts
    that much longer, as if the program had made no progress meanwhile.
    """

    __slots__ = ("t", "_stall_s")

    def __init__(self, start: float = 0.0):
        self.t = float(start)
        self._stall_s = 0.0

    def now(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        if dt > 0.0:
            self.t += dt

    def sleep(self, dt: float) -> None:
        if self._stall_s:
            dt += self._stall_s
            self._stall_s = 0.0
        if dt > 0.0:
            self.t += dt

    def advance_to(self, t: float) -> None:
        if t > self.t:
            self.t = t

    def stall(self, seconds: float) -> None:
        self._stall_s += max(0.0, seconds)
