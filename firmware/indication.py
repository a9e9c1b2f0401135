"""What the patient sees and hears: the status LED, the OUTPUT light and the buzzer.

The status LED (colour, pattern) for each state:

=====================  ===========  ==================  =====================================
state                  colour       pattern             meaning for the patient
=====================  ===========  ==================  =====================================
IDLE                   green        steady              ready: press START
SELF_TEST              white        blink 2 Hz          checking itself (about half a second)
WAIT_CONTACT           blue         blink 1 Hz          put both hands in the water
RAMP_UP, RAMP_DOWN     cyan         blink 2 Hz          the current is changing slowly
TREAT                  cyan         steady              treating
REVERSING              magenta      blink 2 Hz          polarity switch (current at zero)
PAUSED                 yellow       blink 1 Hz          contact lost: hands back in the water
DONE                   green        blink 0.5 Hz        finished: take the hands out
FAULT                  red          blink 4 Hz          stopped for safety (see the console)
SERVICE                white        blink 0.5 Hz        the technician is at work: do not use
OFF                    white        blink 2 Hz          starting up (before the self-test)
=====================  ===========  ==================  =====================================

Every state has its pattern (a test checks): a state without one would fall to the fault's red
blink, which tells the patient "stopped for safety" when it is a calibration at work. SERVICE
blinks slowly in white, unlike any treatment state (no cyan, no blue) and unlike the fault.

The yellow OUTPUT light (IEC 60601-2-10's output indicator) is lit whenever HV is enabled or a
current above 0.1 mA is measured; it is driven from the outputs and the measurement, not from
the state, so it cannot say "off" while output can flow.

Buzzer patterns (on/off times in ms):

===============  ========================  ==============================
event            pattern                   heard as
===============  ========================  ==============================
session start    100                       one short beep
polarity switch  100, 100, 100             two short beeps
pause            100, 100, 100, 100, 100   three short beeps
done             800                       one long beep
fault            250, 250 x 4              four beeps, then silence
START refused    400, 200, 400, 200, 400   three long beeps
(no display)
===============  ========================  ==============================

A START refused because the display does not show the screen (code ``DISPLAY``, hazard
H-DISPLAY-1) is told by the light and the buzzer, the only ways left: the status LED is red,
steady, for :data:`ALERT_S` seconds over the state's pattern, with three long beeps.

Patterns are timed with the injected clock, from the control loop: no gpiozero ``blink`` threads.
"""

from __future__ import annotations

from controller.states import State

PATTERNS = {
    State.IDLE: ("green", 0.0),
    State.SELF_TEST: ("white", 2.0),
    State.WAIT_CONTACT: ("blue", 1.0),
    State.RAMP_UP: ("cyan", 2.0),
    State.RAMP_DOWN: ("cyan", 2.0),
    State.TREAT: ("cyan", 0.0),
    State.REVERSING: ("magenta", 2.0),
    State.PAUSED: ("yellow", 1.0),
    State.DONE: ("green", 0.5),
    State.FAULT: ("red", 4.0),
    State.SERVICE: ("white", 0.5),
    State.OFF: ("white", 2.0),
}
#: event code -> on/off segments in seconds (on, off, on, ...)
BEEPS = {
    "SESSION-START": (0.1,),
    "REVERSAL": (0.1, 0.1, 0.1),
    "PAUSE": (0.1, 0.1, 0.1, 0.1, 0.1),
    "DONE": (0.8,),
    "FAULT": (0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25),
    "DISPLAY": (0.4, 0.2, 0.4, 0.2, 0.4),
}
#: a refusal that the light and the buzzer tell: its code -> the LED colour over the state's
ALERTS = {"DISPLAY": "red"}
#: how long the alert's colour stays (s)
ALERT_S = 3.0


def led_for(state: str, now: float) -> str:
    """The LED colour to show now (``off`` during the dark half of a blink)."""
    colour, hz = PATTERNS.get(state, ("red", 4.0))
    if hz and (now * hz * 2.0) % 2.0 >= 1.0:
        return "off"
    return colour


def beep_code(event) -> str | None:
    if event.kind == "pause":
        return "PAUSE"
    if event.kind == "fault":
        return "FAULT"
    if event.code == "SESSION-START":
        return "SESSION-START"
    if event.code == "REVERSAL":
        return "REVERSAL"
    if event.kind == "state" and event.code == "DONE":
        return "DONE"
    if event.kind == "warning" and event.code in ALERTS:
        return event.code
    return None


class Indicator:
    """Drives the panel from the controller's state and events, once per period."""

    def __init__(self, panel):
        self.panel = panel
        self._beep: tuple[float, tuple[float, ...]] | None = None
        self.last_beep: str | None = None
        self._alert: tuple[float, str] | None = None   # (until, colour)

    def on_event(self, event) -> None:
        code = beep_code(event)
        if code is not None:
            self._beep = (event.t, BEEPS[code])
            self.last_beep = code
        if event.kind == "warning" and event.code in ALERTS:
            self._alert = (event.t + ALERT_S, ALERTS[event.code])

    def update(self, now: float, state: str, output_on: bool) -> None:
        colour = led_for(state, now)
        if self._alert is not None:
            if now < self._alert[0] and state == State.IDLE:
                colour = self._alert[1]
            else:
                self._alert = None
        self.panel.set_colour(colour)
        self.panel.set_output_led(output_on)
        self.panel.set_buzzer(self._buzzer_on(now))

    def _buzzer_on(self, now: float) -> bool:
        if self._beep is None:
            return False
        start, segments = self._beep
        t = now - start
        for i, seg in enumerate(segments):
            if t < seg:
                return i % 2 == 0
            t -= seg
        self._beep = None
        return False
