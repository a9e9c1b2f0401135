"""The Raspberry Pi backend: gpiozero's lgpio pin factory, the kernel's hardware PWM for the
setpoint and the pulse gate, and ``busio.I2C`` for the ADS1115 and the DS3231 real-time clock.

Everything Pi-specific is imported lazily, inside :func:`open_pi_backend`, so that this module can
be imported on any computer. When the backend cannot start it raises
:class:`~hal.errors.BackendUnavailable` saying what is missing and suggesting ``--sim``; it never
falls back to the simulator by itself.

Why the kernel's PWM (``dtoverlay=pwm-2chan``, ``/sys/class/pwm``) for GPIO18 and GPIO19: the lgpio
factory times PWM in software (at most about 10 kHz, with jitter that becomes current ripple and
pulse-width jitter in pulsed DC), and pigpio's DMA timing is not available on the Pi 5. See
``hardware/README.md``, "PWM backend".
"""

from __future__ import annotations

import os
from pathlib import Path

from hardware import Board

from .errors import BackendUnavailable

SYSFS_PWM = Path("/sys/class/pwm")
#: pwm-2chan's default routing: channel 0 on GPIO18, channel 1 on GPIO19.
PWM_CHANNEL_OF_BCM = {18: 0, 19: 1}
HINT = "To run the device on simulated hardware instead, start it with --sim."


def find_pwm_chip(root: Path = SYSFS_PWM) -> Path:
    """The first PWM chip with at least two channels (pwm-2chan), or BackendUnavailable."""
    try:
        chips = sorted(p for p in root.iterdir() if p.name.startswith("pwmchip"))
    except OSError:
        chips = []
    for chip in chips:
        try:
            if int((chip / "npwm").read_text().strip()) >= 2:
                return chip
        except (OSError, ValueError):
            continue
    raise BackendUnavailable(
        f"no hardware PWM chip with two channels under {root}: add 'dtoverlay=pwm-2chan' to "
        f"/boot/firmware/config.txt and reboot (see firmware/README.md). {HINT}")


class SysfsPWM:
    """One channel of the kernel's PWM: period, duty cycle and enable in nanoseconds."""

    def __init__(self, chip: Path, channel: int):
        self.chip = chip
        self.channel = channel
        self.path = chip / f"pwm{channel}"
        if not self.path.exists():
            (chip / "export").write_text(str(channel))
        self.period_ns = 0
        self.duty = 0.0

    def _write(self, name: str, value: int) -> None:
        (self.path / name).write_text(str(int(value)))

    def configure(self, hz: float, duty: float) -> None:
        period = round(1e9 / hz)
        if period != self.period_ns:
            # The duty cycle must never exceed the period, so shrink it first.
            self._write("duty_cycle", 0)
            self._write("period", period)
            self.period_ns = period
        self._write("duty_cycle", round(period * duty))
        self._write("enable", 1)
        self.duty = duty

    def off(self) -> None:
        if self.period_ns:
            self._write("duty_cycle", 0)
        self._write("enable", 0)
        self.duty = 0.0


def _pwm_pin_class():
    from gpiozero.pins.pi import PiPin  # lazy: only the Pi backend needs a custom pin

    class HardwarePWMPin(PiPin):
        """A gpiozero pin whose output is a kernel PWM channel (output only)."""

        def __init__(self, factory, info, pwm: SysfsPWM):
            super().__init__(factory, info)
            self._pwm = pwm
            self._frequency = None
            self._value = 0.0

        def close(self):
            self._pwm.off()

        def _get_function(self):
            return "output"

        def _set_function(self, value):
            if value != "output":
                from gpiozero import PinInvalidFunction
                raise PinInvalidFunction(f"{self.info.name} is a hardware PWM output only")

        def _get_state(self):
            return self._value

        def _set_state(self, value):
            self._value = float(value)
            if self._value <= 0.0:
                self._pwm.off()
            else:
                self._pwm.configure(self._frequency or 20000, self._value)

        def _get_frequency(self):
            return self._frequency

        def _set_frequency(self, value):
            self._frequency = value
            if value is not None and self._value > 0.0:
                self._pwm.configure(value, self._value)

    return HardwarePWMPin


def open_pi_backend(board: Board, *, dev: Path = Path("/dev"), pwm_root: Path = SYSFS_PWM):
    """Build ``(pin_factory, i2c)`` for the real board, or raise BackendUnavailable.

    Checks, in order: a GPIO chip, the I2C bus device, the lgpio library, the hardware PWM chip,
    and Blinka's ``busio``. The ADS1115 itself is probed by :class:`~hal.afe.AnalogFrontEnd`,
    the DS3231 by :class:`~hal.rtc.RealTimeClock` and the SSD1306 by :class:`~hal.display.Display`
    at their first use; all three are on this one bus.
    """
    if not any(p.name.startswith("gpiochip") for p in _listdir(dev)):
        raise BackendUnavailable(
            f"no GPIO chip ({dev}/gpiochip*): this does not look like a Raspberry Pi, or the "
            f"user is not in the 'gpio' group. {HINT}")
    i2c_dev = dev / f"i2c-{board.adc.i2c_bus}"
    if not i2c_dev.exists():
        raise BackendUnavailable(
            f"I2C is not enabled ({i2c_dev} missing): run 'sudo raspi-config nonint do_i2c 0' "
            f"and reboot. {HINT}")
    for part, bus in (("[adc]", board.adc.i2c_bus), ("[rtc]", board.rtc.i2c_bus),
                      ("[display]", board.display.i2c_bus)):
        if bus != 1:
            raise BackendUnavailable(f"the Pi backend drives I2C bus 1; {board.path} {part} "
                                     f"asks for bus {bus}")
    try:
        from gpiozero.pins.lgpio import LGPIOFactory
    except ImportError as exc:
        raise BackendUnavailable(
            f"the lgpio library is missing ({exc}): install it with "
            f"\"pip install 'ionto[pi]'\" or 'sudo apt install python3-lgpio'. {HINT}") from exc
    chip = find_pwm_chip(pwm_root)
    pwm_pin = _pwm_pin_class()
    pwm_bcm = {board.gpio[r].bcm for r in ("setpoint", "pulse_gate")}
    unsupported = pwm_bcm - set(PWM_CHANNEL_OF_BCM)
    if unsupported:
        raise BackendUnavailable(f"GPIO{min(unsupported)} has no hardware PWM channel under "
                                 "pwm-2chan; the setpoint and pulse gate must be GPIO18 and 19")

    class IontoPiFactory(LGPIOFactory):
        """lgpio for every pin but the two hardware PWM lines."""

        def pin(self, name):
            for _header, info in self.board_info.find_pin(name):
                bcm = int(info.name[4:]) if info.name.startswith("GPIO") else None
                if bcm in pwm_bcm:
                    pin = self.pins.get(info)
                    if pin is None:
                        pin = pwm_pin(self, info, SysfsPWM(chip, PWM_CHANNEL_OF_BCM[bcm]))
                        self.pins[info] = pin
                    return pin
            return super().pin(name)

    try:
        factory = IontoPiFactory()
    except Exception as exc:  # lgpio raises its own error type when the chip cannot be opened
        raise BackendUnavailable(f"cannot open the GPIO chip: {exc}. {HINT}") from exc
    try:
        import board as blinka_board
        import busio
        i2c = busio.I2C(blinka_board.SCL, blinka_board.SDA)
    except Exception as exc:
        factory.close()
        raise BackendUnavailable(f"cannot open I2C bus 1 through Blinka: {exc}. {HINT}") from exc
    return factory, i2c


def _listdir(path: Path):
    try:
        return list(path.iterdir()) if os.path.isdir(path) else []
    except OSError:
        return []
