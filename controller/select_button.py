"""The SELECT button: debounce and the press edge.

The button's raw level comes in every period (``Inputs.select_pressed``); :class:`SelectButton`
calls back once on each debounced press, with the same debounce as START
(:data:`.button.DEBOUNCE_S`). SELECT has no hold and no stuck-button latch: what a press does
(:mod:`.comfort`) can only lower the current or choose another profile while idle, so a jammed
SELECT is one press and nothing after it; START keeps the stop.
"""

from __future__ import annotations

from collections.abc import Callable

from .button import DEBOUNCE_S


class SelectButton:
    """Debounces the raw level and calls ``on_press(now)`` on each press edge."""

    def __init__(self, on_press: Callable[[float], None]):
        self.on_press = on_press
        self._raw = False
        self._since = 0.0
        self.down = False                    # the debounced level

    def update(self, now: float, raw: bool) -> None:
        if raw != self._raw:
            self._raw, self._since = raw, now
        if now - self._since >= DEBOUNCE_S and self.down != raw:
            self.down = raw
            if raw:
                self.on_press(now)
