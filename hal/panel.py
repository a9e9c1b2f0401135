"""The front panel: START and SELECT buttons, RGB status LED, yellow OUTPUT LED, buzzer.

Only raw states here. Press, hold and blink timing belongs to the controller and the injected
clock (gpiozero's ``when_held`` and ``blink`` run on their own threads and wall-clock time, which
neither a control path nor the simulator may depend on). The button is a plain
``DigitalInputDevice`` rather than gpiozero's ``Button`` because ``Button.close()`` blocks for up
to ``hold_time`` while the button is pressed. SELECT is wired and read the same way as START
(hardware/README.md, "Display and buttons", says what each press means).
"""

from __future__ import annotations

from gpiozero import DigitalInputDevice, DigitalOutputDevice

from hardware import Board

#: Colours of the status LED (red, green, blue on/off).
COLOURS = {
    "off": (0, 0, 0), "red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1),
    "yellow": (1, 1, 0), "cyan": (0, 1, 1), "magenta": (1, 0, 1), "white": (1, 1, 1),
}


class Panel:
    """:param board: the hardware description. :param pin_factory: keyword-only, no default."""

    def __init__(self, board: Board, *, pin_factory):
        g = board.gpio
        self._start = DigitalInputDevice(g["start_button"].bcm, pull_up=True,
                                         pin_factory=pin_factory)
        self._select = DigitalInputDevice(g["select_button"].bcm, pull_up=True,
                                          pin_factory=pin_factory)

        def out(role):
            return DigitalOutputDevice(g[role].bcm, active_high=g[role].active_high,
                                       initial_value=False, pin_factory=pin_factory)

        self._rgb = (out("led_red"), out("led_green"), out("led_blue"))
        self._output_led = out("output_led")
        self._buzzer = out("buzzer")
        self._colour = "off"
        self._output_led_on = False
        self._buzzer_on = False

    @property
    def start_pressed(self) -> bool:
        """True while START is held down (raw, not debounced)."""
        return bool(self._start.value)

    @property
    def select_pressed(self) -> bool:
        """True while SELECT is held down (raw, not debounced)."""
        return bool(self._select.value)

    def set_colour(self, name: str) -> None:
        """Set the status LED to one of :data:`COLOURS`."""
        if name == self._colour:
            return
        try:
            rgb = COLOURS[name]
        except KeyError:
            raise ValueError(f"colour {name!r}; allowed: {', '.join(COLOURS)}") from None
        for dev, on in zip(self._rgb, rgb, strict=True):
            dev.value = on
        self._colour = name

    @property
    def colour(self) -> str:
        return self._colour

    def set_output_led(self, on: bool) -> None:
        # the level last written is kept (as the colour is), not read back each period
        on = bool(on)
        if self._output_led_on != on:
            self._output_led.value = on
            self._output_led_on = on

    @property
    def output_led(self) -> bool:
        return self._output_led_on

    def set_buzzer(self, on: bool) -> None:
        on = bool(on)
        if self._buzzer_on != on:
            self._buzzer.value = on
            self._buzzer_on = on

    @property
    def buzzer(self) -> bool:
        return self._buzzer_on

    def close(self) -> None:
        for dev in (*self._rgb, self._output_led, self._buzzer, self._start, self._select):
            dev.close()
