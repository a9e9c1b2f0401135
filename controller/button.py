"""The START button: debounce, the press edge, the 3 s hold and the stuck button.

The button's raw level comes in every period (``Inputs.start_pressed``); :class:`StartButton`
calls the controller back on a debounced press, once when the button has been held
``HOLD_ACK_S`` (the patient's acknowledgement of a fault) and once when it has been held
``BUTTON_STUCK_S`` without a release (a stuck button). What each of them does in each state
is the session's (``Controller._on_press``, ``_on_hold``, ``_on_stuck``).
"""

from __future__ import annotations

from collections.abc import Callable

DEBOUNCE_S = 0.04
HOLD_ACK_S = 3.0
#: START held this long without a release is a stuck button: the patient has lost the stop (it
#: acts on a press, and a stuck button cannot be pressed again), so the session stops gently
#: and the device latches BUTTON-STUCK for the technician.
BUTTON_STUCK_S = 10.0


class StartButton:
    """Debounces the raw level and calls ``on_press``, ``on_hold`` and ``on_stuck`` (each with
    the time)."""

    def __init__(self, on_press: Callable[[float], None], on_hold: Callable[[float], None],
                 on_stuck: Callable[[float], None]):
        self.on_press, self.on_hold, self.on_stuck = on_press, on_hold, on_stuck
        self._raw = False
        self._since = 0.0
        self.down = False                    # the debounced level
        self._pressed_at: float | None = None
        self._hold_fired = False
        self._stuck_fired = False

    def rearm_stuck(self) -> None:
        """Let a button that is still held report itself stuck again (once the state that
        could not latch it has gone)."""
        self._stuck_fired = False

    def update(self, now: float, raw: bool) -> None:
        if raw != self._raw:
            self._raw, self._since = raw, now
        if now - self._since >= DEBOUNCE_S and self.down != raw:
            self.down = raw
            if raw:
                self._pressed_at, self._hold_fired, self._stuck_fired = now, False, False
                self.on_press(now)
            else:
                self._pressed_at = None
        if self.down and not self._hold_fired and self._pressed_at is not None \
                and now - self._pressed_at >= HOLD_ACK_S:
            self._hold_fired = True
            self.on_hold(now)
        if self.down and not self._stuck_fired and self._pressed_at is not None \
                and now - self._pressed_at >= BUTTON_STUCK_S:
            self._stuck_fired = True
            self.on_stuck(now)
