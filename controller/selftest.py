"""The self-test, at power-on and before every session.

With the patient relay open and the 1 kOhm test load switched in, it proves each independent
channel works, because an undetected latent fault defeats the single-fault principle:

====================  ===========================================================================
code                  what failed, and what to do
====================  ===========================================================================
ST-CAL                the calibration record is missing or corrupt: recalibrate (console ``cal``)
ST-SETTINGS           the prescription or limits file is missing or corrupt: set them again
ST-ADC                the ADC does not answer or a channel is implausible: service the unit
ST-ZERO               a current channel reads more than its zero tolerance with no current
ST-HV                 the HV rail is outside +-15 % of nominal when enabled
ST-AGREE              the two current channels differ by more than 2 % at 5 mA
ST-SETPOINT           5 mA commanded, the current is more than 5 % off: recalibrate
ST-VOLT               the electrode voltage is more than 3 % off I x R of the test load
ST-TRIP               36 mA into the test load did not assert HW_TRIP within 5 ms
ST-TRIP-RESET         the trip latch did not clear after its reset
ST-RELAY              current flows with the patient relay open: the relay is welded
====================  ===========================================================================

Each of these refuses treatment; the device shows the fault and says what to do.

The sequence is a generator: each period it receives the :class:`~controller.io.Inputs` and
yields the :class:`~controller.io.Command` to apply; it returns normally when every check passed
and raises :class:`SelfTestFailure` otherwise.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from .io import Command, Inputs, hold

TEST_MA = 5.0
TRIP_TEST_MA = 36.0
TRIP_DEADLINE_S = 0.005
ZERO_TOL_MA = 0.1
AGREE_TOL = 0.02
SETPOINT_TOL = 0.05
VOLT_TOL = 0.03

HINTS = {
    "ST-CAL": "recalibrate the device from the technician console (cal)",
    "ST-SETTINGS": "set the prescription and limits again from the technician console (rx, "
                   "limits)",
    "ST-ADC": "the analog board does not answer correctly: call service",
    "ST-ZERO": "a current sensor reads current where there is none: call service",
    "ST-HV": "the high-voltage supply is out of range: call service",
    "ST-AGREE": "the two current sensors disagree: call service",
    "ST-SETPOINT": "the current source is off calibration: recalibrate (cal) or call service",
    "ST-VOLT": "the electrode voltage sensor is off: call service",
    "ST-TRIP": "the independent overcurrent cut-off did not work: do not use; call service",
    "ST-TRIP-RESET": "the overcurrent cut-off does not reset: call service",
    "ST-RELAY": "the patient relay does not open: do not use; call service",
}


class SelfTestFailure(Exception):
    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        self.hint = HINTS.get(code, "call service")
        super().__init__(f"{code}: {message}; {self.hint}")


@dataclass(frozen=True)
class SelfTestSpec:
    test_load_ohm: float
    hv_nominal: float
    hv_tolerance: float
    calibration_ok: bool = True
    calibration_problem: str = ""
    settings_problem: str = ""


def self_test(spec: SelfTestSpec) -> Generator[Command, Inputs, dict]:
    """Yields commands, receives inputs; returns the measured figures."""
    results: dict[str, float] = {}
    if not spec.calibration_ok:
        raise SelfTestFailure("ST-CAL", spec.calibration_problem or "calibration record invalid")
    if spec.settings_problem:
        raise SelfTestFailure("ST-SETTINGS", spec.settings_problem)

    def sample_of(inp: Inputs, what: str):
        if inp.sample is None:
            raise SelfTestFailure("ST-ADC", f"no ADC reading during {what}: {inp.adc_error}")
        return inp.sample

    # 0. Patient relay open, test load out, HV on, a probe current asked for: the output is
    #    open, so nothing may flow. Current here means the patient relay is welded (and the
    #    patient is in the water). Done first, before the test load could hide it.
    inp = yield from hold(Command(), 0.02)
    probe = Command(hv=True, gate="dc", setpoint_ma=0.2, output_led=True)
    inp = yield from hold(probe, 0.06)
    s = sample_of(inp, "the open-output check")
    results["open_ma"] = max(s.current_a_ma, s.current_b_ma)
    if results["open_ma"] > 0.05:
        raise SelfTestFailure("ST-RELAY", f"{results['open_ma']:.3f} mA flows with the patient "
                              "relay open")
    yield from hold(Command(), 0.03)

    # 1. Test load in, everything off: zero offsets and plausible channels.
    base = Command(test_load=True)
    inp = yield from hold(base, 0.06)
    s = sample_of(inp, "the zero check")
    results["zero_a_ma"], results["zero_b_ma"] = s.current_a_ma, s.current_b_ma
    if abs(s.electrode_v) > 1.0 or s.hv_v > 3.0:
        raise SelfTestFailure("ST-ADC", f"implausible readings with the output off: electrode "
                              f"{s.electrode_v:.2f} V, HV {s.hv_v:.2f} V")
    for name, value in (("A", s.current_a_ma), ("B", s.current_b_ma)):
        if abs(value) > ZERO_TOL_MA:
            raise SelfTestFailure("ST-ZERO", f"current channel {name} reads {value:.3f} mA "
                                  f"with no current (tolerance {ZERO_TOL_MA} mA)")
    if inp.hw_trip:  # left set (a fault before a restart): try a reset before failing
        inp = yield Command(test_load=True, trip_reset=True)
        inp = yield from hold(base, 0.02)
        if inp.hw_trip:
            raise SelfTestFailure("ST-TRIP-RESET", "the trip latch is set with no current and "
                                  "does not reset")

    # 2. HV on.
    on = Command(test_load=True, hv=True, gate="dc", output_led=True)
    inp = yield from hold(on, 0.06)
    s = sample_of(inp, "the HV check")
    results["hv_v"] = s.hv_v
    if abs(s.hv_v - spec.hv_nominal) > spec.hv_tolerance * spec.hv_nominal:
        raise SelfTestFailure("ST-HV", f"HV rail {s.hv_v:.1f} V, expected {spec.hv_nominal:.0f} "
                              f"V +-{spec.hv_tolerance * 100:.0f} %")

    # 3. 5 mA into the test load: both channels, the setpoint and the voltage.
    five = Command(test_load=True, hv=True, gate="dc", setpoint_ma=TEST_MA, output_led=True)
    inp = yield from hold(five, 0.15)
    s = sample_of(inp, "the 5 mA check")
    a, b = s.current_a_ma, s.current_b_ma
    mean = (a + b) / 2
    results.update(test_a_ma=a, test_b_ma=b, test_v=s.electrode_v)
    if abs(a - b) > AGREE_TOL * max(abs(mean), 1e-6):
        raise SelfTestFailure("ST-AGREE", f"channel A {a:.3f} mA, channel B {b:.3f} mA at "
                              f"{TEST_MA} mA (tolerance {AGREE_TOL * 100:.0f} %)")
    if abs(mean - TEST_MA) > SETPOINT_TOL * TEST_MA:
        raise SelfTestFailure("ST-SETPOINT", f"{mean:.3f} mA measured for {TEST_MA} mA "
                              "commanded")
    expected_v = mean / 1000.0 * spec.test_load_ohm
    if abs(s.electrode_v - expected_v) > VOLT_TOL * expected_v:
        raise SelfTestFailure("ST-VOLT", f"{s.electrode_v:.2f} V across the test load, expected "
                              f"{expected_v:.2f} V (I x R)")

    # 4. 36 mA: the independent comparator must latch within 5 ms.
    # The sink's gain is known from the 5 mA step: scale the command so that 36 mA truly flows
    # (as measured), whatever the calibration's residual error.
    trip_cmd = min(TRIP_TEST_MA * TEST_MA / mean, TRIP_TEST_MA * 1.08)
    results["trip_cmd_ma"] = trip_cmd
    trip = Command(test_load=True, hv=True, gate="dc", setpoint_ma=trip_cmd, output_led=True)
    t_cmd = inp.now  # the command yielded now is applied in this period
    while True:
        inp = yield trip
        if inp.hw_trip:
            edge = inp.trip_edge_t if inp.trip_edge_t is not None else inp.now
            latency = edge - t_cmd
            results["trip_latency_ms"] = latency * 1000
            if latency > TRIP_DEADLINE_S:
                raise SelfTestFailure("ST-TRIP", f"HW_TRIP asserted {latency * 1000:.1f} ms "
                                      f"after {TRIP_TEST_MA} mA was commanded (limit "
                                      f"{TRIP_DEADLINE_S * 1000:.0f} ms)")
            break
        if inp.now - t_cmd > 0.03:
            raise SelfTestFailure("ST-TRIP", f"HW_TRIP did not assert with {TRIP_TEST_MA} mA "
                                  "into the test load")

    # 5. Everything off, then reset the latch and check it cleared.
    off = Command(test_load=True)
    inp = yield from hold(off, 0.03)
    inp = yield Command(test_load=True, trip_reset=True)
    inp = yield from hold(off, 0.02)
    if inp.hw_trip:
        raise SelfTestFailure("ST-TRIP-RESET", "HW_TRIP still asserted after TRIP_RESET")

    # 6. Test load out.
    yield from hold(Command(), 0.03)
    return results
