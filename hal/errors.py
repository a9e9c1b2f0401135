"""Typed errors of the hardware layer.

As in gpiozero, each error inherits from the layer's base class and from the builtin it most
resembles, so callers can catch either (``except HalError`` or ``except OSError``).
"""


class HalError(Exception):
    """Base class of every error raised by ``hal/``."""


class RelayInterlockError(HalError, RuntimeError):
    """A relay was asked to switch while the HV rail is enabled (or into a forbidden
    combination). Relays are switched dead: HV off, current zero."""


class AdcError(HalError, OSError):
    """The ADC could not be read: the bus failed or the conversion did not complete."""


class AdcAbsentError(AdcError):
    """No ADS1115 answers at the configured I2C address."""


class AdcTimeoutError(AdcError):
    """A conversion did not complete within the configured bound."""


class BackendUnavailable(HalError, RuntimeError):
    """The Raspberry Pi backend cannot start on this machine. The message says what is missing
    and suggests ``--sim``."""


class RtcError(HalError, OSError):
    """The real-time clock could not be read or set: the bus failed."""


class RtcAbsentError(RtcError):
    """No DS3231 answers at the configured I2C address."""


class ClockLostError(HalError, RuntimeError):
    """The real-time clock's time cannot be trusted: it lost it (its oscillator stopped, as with a
    flat battery), it holds an impossible date, or it does not answer. Whatever plans by the date
    refuses with :attr:`code`; the message says what happened and how to put it right."""

    code = "CLOCK-LOST"


class DisplayError(HalError, OSError):
    """The display could not be written: the bus failed or the SSD1306 stopped answering. The
    treatment does not depend on the display; the message names the address and what to check."""


class DisplayAbsentError(DisplayError):
    """No SSD1306 answers at the configured I2C address (it does not acknowledge: a loose
    cable, no power to the module, or a wrong address strap)."""
