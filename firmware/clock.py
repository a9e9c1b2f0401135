"""The real clock for the device on the Pi: ``time.monotonic`` behind the same two methods the
simulator's :class:`sim.clock.VirtualClock` offers (``now()`` and ``sleep(dt)``)."""

from __future__ import annotations

import time


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, dt: float) -> None:
        if dt > 0:
            time.sleep(dt)
