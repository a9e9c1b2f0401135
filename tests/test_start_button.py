"""The START button's debounce, hold and stuck detection (controller/button.py) alone."""

from __future__ import annotations

from controller.button import BUTTON_STUCK_S, DEBOUNCE_S, HOLD_ACK_S, StartButton


class Calls:
    def __init__(self):
        self.log: list[tuple[str, float]] = []
        self.button = StartButton(lambda t: self.log.append(("press", t)),
                                  lambda t: self.log.append(("hold", t)),
                                  lambda t: self.log.append(("stuck", t)))

    def drive(self, levels: list[tuple[float, bool]], until: float, period: float = 0.01):
        """``levels``: (from time, raw level) steps; the button is read every period."""
        t = 0.0
        while t <= until + 1e-9:
            raw = False
            for at, level in levels:
                if t >= at - 1e-9:
                    raw = level
            self.button.update(round(t, 6), raw)
            t += period
        return [name for name, _ in self.log]


def test_a_bounce_shorter_than_the_debounce_is_no_press():
    c = Calls()
    assert c.drive([(0.1, True), (0.1 + DEBOUNCE_S / 2, False)], 1.0) == []


def test_a_press_is_reported_once_after_the_debounce():
    c = Calls()
    assert c.drive([(0.1, True), (0.5, False), (0.9, True), (1.2, False)], 2.0) == \
        ["press", "press"]
    assert abs(c.log[0][1] - (0.1 + DEBOUNCE_S)) < 0.011


def test_a_hold_then_a_stuck_button_are_reported_once_each():
    c = Calls()
    names = c.drive([(0.1, True)], 0.1 + BUTTON_STUCK_S + 2.0)
    assert names == ["press", "hold", "stuck"]
    assert c.log[1][1] - c.log[0][1] >= HOLD_ACK_S - 1e-9
    assert c.log[2][1] - c.log[0][1] >= BUTTON_STUCK_S - 1e-9


def test_rearm_reports_a_button_still_held_as_stuck_again():
    c = Calls()
    c.drive([(0.0, True)], BUTTON_STUCK_S + 1.0)
    c.button.rearm_stuck()
    c.button.update(BUTTON_STUCK_S + 1.01, True)
    assert [n for n, _ in c.log] == ["press", "hold", "stuck", "stuck"]
