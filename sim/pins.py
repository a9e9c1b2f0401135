"""gpiozero pins that tell the physics model what the controller wrote.

:class:`SimPinFactory` is gpiozero's own ``MockFactory`` with PWM on every pin (so the real
``PWMOutputDevice``, ``DigitalOutputDevice`` and ``DigitalInputDevice`` of ``hal/`` run
unchanged) and three changes that a long simulation needs:

- time comes from the :class:`~sim.clock.VirtualClock`, not ``time.monotonic()``;
- each pin's ``states`` history is a bounded deque (gpiozero's list grows without bound, which a
  simulated day of 100 Hz watchdog toggles would turn into hundreds of MB);
- every write is reported to a listener (the analog board model) and every read of an input
  first brings the model up to the present, so an input reflects the physics at that instant.

MockPin's real constraints stay in force: a pin in use, writing an input, setting a pull on an
output all raise gpiozero's own exceptions.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from gpiozero.pins.mock import MockFactory, MockPWMPin, PinState

#: Length of each pin's state history: enough for a test to read back a few seconds of toggles.
STATE_HISTORY = 256


class PinListener(Protocol):
    def pin_written(self, bcm: int, value: float, frequency: float | None) -> None: ...
    def sync(self) -> None: ...


class SimPin(MockPWMPin):
    """A mock PWM-capable pin whose writes reach the physics model."""

    def __init__(self, factory: SimPinFactory, info):
        self._sim_factory = factory
        super().__init__(factory, info)

    # --- bounded history on the virtual clock ---------------------------------------------
    def clear_states(self):
        self._last_change = self._sim_factory.clock.t
        self.states = deque([PinState(0.0, self._state)], maxlen=STATE_HISTORY)

    def drive_at(self, level: bool, t: float) -> None:
        """Drive this input to ``level`` as of time ``t`` (<= now): the board model finds an
        edge lazily, and stamps it with the moment it really happened, as the kernel's edge
        timestamp would."""
        self._stamp = t
        try:
            (self.drive_high if level else self.drive_low)()
        finally:
            self._stamp = None

    _stamp: float | None = None

    def _change_state(self, value):
        if self._state != value:
            t = self._sim_factory.clock.t if self._stamp is None else self._stamp
            self._state = value
            self.states.append(PinState(t - self._last_change, value))
            self._last_change = t
            return True
        return False

    # --- the physics hears every write, and is current before every read -------------------
    def _set_state(self, value):
        super()._set_state(value)
        listener = self._sim_factory.listener
        if listener is not None:
            listener.pin_written(self.info.name, float(value), self._frequency)

    def _set_frequency(self, value):
        super()._set_frequency(value)
        listener = self._sim_factory.listener
        if listener is not None and self._function == "output":
            listener.pin_written(self.info.name, float(self._state), value)

    def _get_state(self):
        listener = self._sim_factory.listener
        if listener is not None and self._function == "input":
            listener.sync()
        return self._state


class SimPinFactory(MockFactory):
    """``MockFactory(pin_class=SimPin)`` on the virtual clock.

    :param clock: the :class:`~sim.clock.VirtualClock`.
    :param listener: receives ``pin_written(name, value, frequency)`` for every output write and
        ``sync()`` before every input read; set later with :attr:`listener` if the model is built
        after the factory.
    """

    def __init__(self, clock, listener: PinListener | None = None):
        super().__init__(pin_class=SimPin)
        self.clock = clock
        self.listener = listener

    def ticks(self):
        return self.clock.t

    @staticmethod
    def ticks_diff(later, earlier):
        return later - earlier

    def pin_by_bcm(self, bcm: int) -> SimPin:
        """The pin object for a BCM line (created on first use, as gpiozero does)."""
        return self.pin(f"GPIO{bcm}")
