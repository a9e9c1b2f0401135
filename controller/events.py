"""Events: every state change, rule firing, warning and reading of note, with time and code.

The log, the panel and the technician console all read the same events.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    t: float
    kind: str      # state | rule | fault | warning | info | pause | resume | selftest | session
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"t_s": round(self.t, 4), "kind": self.kind, "code": self.code,
                "detail": self.message}


class EventLog:
    """Collects events; listeners (the treatment log, the console) are called for each one.
    Only the newest ``keep`` events stay in memory."""

    def __init__(self, keep: int = 2000):
        self.keep = keep
        self.events: list[Event] = []
        self.listeners: list = []
        self.listener_errors: list[str] = []  # the newest errors raised by listeners

    def emit(self, t: float, kind: str, code: str, message: str) -> Event:
        ev = Event(t, kind, code, message)
        self.events.append(ev)
        if len(self.events) > self.keep:
            del self.events[: len(self.events) - self.keep]
        for fn in self.listeners:
            try:
                fn(ev)
            except Exception as exc:  # noqa: BLE001 - a log or panel failure must not
                self.listener_errors.append(f"{type(exc).__name__}: {exc}")  # stop the device
                del self.listener_errors[:-20]
        return ev
