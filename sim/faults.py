"""The fault catalogue of ../shared/SCENARIOS.md: names, parameters and their defaults.

Each fault's mechanism lives where the fault lives in the real device: I2C faults on the bus,
ADC faults in the ADS1115 emulator, analog faults in the board physics, ``loop_stall`` on the
clock, ``button_stuck`` at the button. This module only names them and checks parameters;
:meth:`sim.rig.SimRig.inject` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .numbers import BadNumber, number, show


@dataclass(frozen=True)
class FaultSpec:
    name: str
    what: str
    params: dict[str, tuple[float, float, float]]  # name -> (default, low, high)


CATALOGUE: dict[str, FaultSpec] = {f.name: f for f in (
    FaultSpec("adc_absent", "the ADS1115 stops answering: every I2C transaction raises OSError",
              {}),
    FaultSpec("adc_glitch", "each I2C transaction fails with probability p",
              {"p": (0.2, 0.0, 1.0)}),
    FaultSpec("adc_stuck", "the conversion register freezes at its last value", {}),
    FaultSpec("sense_a_gain", "current channel A reads factor x true",
              {"factor": (1.3, 0.0, 10.0)}),
    FaultSpec("sense_b_open", "redundant current channel B reads 0", {}),
    FaultSpec("sink_short", "the current sink fails short: current limited only by rail and load",
              {}),
    FaultSpec("pwm_stuck", "the setpoint output stays at duty whatever is written",
              {"duty": (1.0, 0.0, 1.0)}),
    FaultSpec("polarity_relay_stuck", "the polarity relay ignores commands", {}),
    FaultSpec("patient_relay_welded", "the patient relay stays closed when told to open", {}),
    FaultSpec("hv_sag", "the HV rail drops to volts", {"volts": (20.0, 0.0, 100.0)}),
    FaultSpec("hv_over", "the HV rail rises to volts", {"volts": (75.0, 0.0, 100.0)}),
    FaultSpec("loop_stall", "the control loop makes no progress for ms",
              {"ms": (1000.0, 0.0, 600_000.0)}),
    FaultSpec("button_stuck", "START reads pressed continuously", {}),
    FaultSpec("trip_dead", "the hardware overcurrent comparator never trips (a latent fault)", {}),
)}


class UnknownFault(KeyError):
    """A fault name or parameter that the catalogue does not know, or a parameter's bad value;
    ``param`` names the parameter when there is one."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param

    def __str__(self) -> str:
        return str(self.args[0])


def resolve(name: str, params: dict | None = None) -> dict[str, float]:
    """The full parameter set of fault ``name``: defaults filled in, values checked."""
    spec = CATALOGUE.get(name)
    if spec is None:
        raise UnknownFault(f"unknown fault {name!r}; allowed: {', '.join(CATALOGUE)}")
    params = dict(params or {})
    out = {}
    for key, (default, lo, hi) in spec.params.items():
        value = params.pop(key, default)
        try:
            out[key] = number(value, lo, hi)
        except BadNumber as exc:
            raise UnknownFault(f"fault {name}: {key} = {exc}", key) from None
    if params:
        allowed = ", ".join(spec.params) or "none"
        raise UnknownFault(f"fault {name}: unknown parameter {show(next(iter(params)))}; "
                           f"allowed: {allowed}", str(next(iter(params))))
    return out
