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
