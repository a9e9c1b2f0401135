"""The latched fault: what it is (:class:`Fault`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fault:
    """A latched fault: its code (a rule's id, a self-test's code, or the device's own), the
    words that say what happened, and when it latched (s)."""

    code: str
    message: str
    at_s: float
