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
ST-VOLT               the electrode voltage is more than 3 % off I x R of the test load, and no
                      current reaches the trays
ST-TRIP               36 mA into the test load did not assert HW_TRIP within 5 ms
ST-TRIP-RESET         the trip latch did not clear after its reset
ST-RELAY              current reaches the trays with the patient relay open: the relay is welded
                      (found by the open-output probe, or by more current than the test load
                      carries, I > V / R_test)
====================  ===========================================================================

Each of these refuses treatment; the device shows the fault and says what to do.

A welded patient relay is a latent fault that only shows while someone is in the water: the
open output then has a current path through the patient. The board keeps every test current
off the trays by itself: the test-load relay is a changeover that opens the line to the patient
relay while the test load is in (``hardware/README.md``), so hands that go in during a test get
none of it, a welded patient relay or not. The checks below are the second line: they find the
weld, name a voltage channel that reads wrong, and would see a board whose test-load relay
were wired across the output. Every procedure that drives the output
with the patient relay commanded open (this self-test, and every technician procedure: see
:func:`guarded`) is therefore watched the whole time, not only at its start:

- before it, the open-output probe: test load out, patient relay open, HV on, 0.2 mA asked
  for, for at most 60 ms; the first sample above 0.05 mA ends it (ST-RELAY), so the probe's own
  current is its whole exposure (:data:`OPEN_PROBE_MA` for at most :data:`OPEN_PROBE_S`);
- during it, every sample taken with the test load in and a steady current: the current must be
  what the test load carries, ``V / R_test``. A second path (hands that went into the water
  since the probe) takes part of the current and lowers the voltage: more than
  :data:`IR_TOL` of it missing, or the ratio ``V / (I R_test)`` falling by
  :data:`IR_DROP_TOL` within the step, stops the current at once and the probe decides: a path
  to the trays is ST-RELAY, none is ST-VOLT (the voltage channel);
- after it, the probe again: hands that went in while the trip test ran (a few milliseconds
  the samples cannot watch) are found before anything else drives current.

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
#: The open-output probe: asked for with the test load out and the patient relay open; the
#: contact probe's current (imperceptible), for at most OPEN_PROBE_S.
OPEN_PROBE_MA = 0.2
OPEN_PROBE_S = 0.06
OPEN_TOL_MA = 0.05
#: I x R against the test load while current flows into it: the lower current channel may
#: exceed V / R_test by at most IR_TOL of it plus IR_ABS_MA (the self-test; a technician's
#: procedure, run to put a drifted calibration right, allows the calibration's own +-10 %).
IR_TOL = VOLT_TOL
SERVICE_IR_TOL = 0.10
IR_ABS_MA = 0.05
#: ... and V / (I R_test) may fall by at most this within one steady step (a path appearing:
#: independent of the calibration, so it holds for the calibration procedures too).
IR_DROP_TOL = 0.01
#: a sample is judged only once the command has been steady this long (the four channels are
#: converted one after another, 4.65 ms in all: on a falling edge the current is read before
#: the voltage and would look like a second path).
IR_STEADY_S = 0.02
IR_MIN_MA = 0.4
#: every test current starts with this much for PRESTEP_S: on a board where a path could appear
#: beside the test load (the changeover keeps the trays off the line), it takes a share of
#: this, not of the full test current, before I x R stops it
PRESTEP_MA = 0.5
PRESTEP_S = 0.03

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
    "ST-RELAY": "current reaches the trays with the output off (the patient relay does not "
                "open): take the hands out of the water; do not use the unit; call service",
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


def _sample_of(inp: Inputs, what: str):
    if inp.sample is None:
        raise SelfTestFailure("ST-ADC", f"no ADC reading during {what}: {inp.adc_error}")
    return inp.sample


def open_output_check(when: str) -> Generator[Command, Inputs, float]:
    """The open-output probe: patient relay open, test load out, HV on, the probe current asked
    for. The output is open, so nothing may flow: current means a path to the trays (the
    patient relay is welded and someone is in the water). Every sample is judged, and the
    first one above OPEN_TOL_MA ends the probe with ST-RELAY (the safe state follows in that
    period). Returns the largest current seen."""
    yield from hold(Command(), 0.02)  # the test load out (its relay: 8 ms)
    probe = Command(hv=True, gate="dc", setpoint_ma=OPEN_PROBE_MA, output_led=True)
    inp = yield probe
    start = inp.now
    worst = 0.0
    while True:
        s = _sample_of(inp, f"the open-output check {when}")
        i = max(s.current_a_ma, s.current_b_ma)
        worst = max(worst, i)
        if i > OPEN_TOL_MA:
            raise SelfTestFailure("ST-RELAY", f"{i:.3f} mA flows {when} with the test load out "
                                  "and the patient relay open: there is a current path to the "
                                  "trays (a welded patient relay, and someone in the water)")
        if inp.now - start >= OPEN_PROBE_S - 1e-9:
            break
        inp = yield probe
    yield from hold(Command(), 0.03)
    return worst


class _IrWatch:
    """Judges each sample taken with the test load in against I x R (see the module's text).
    ``tol`` is the allowed shortfall of V / R_test against the lower current channel."""

    def __init__(self, r_test_ohm: float, tol: float):
        self.r = r_test_ohm
        self.tol = tol
        self._key = None
        self._setpoint = 0.0
        self._since = self._steady_from = 0.0
        self._ratio: float | None = None
        self._last_now: float | None = None

    def judge(self, cmd: Command, inp: Inputs) -> str | None:
        """A description of a second current path seen in ``inp`` (``cmd`` was applied over
        the period it covers), or None."""
        key = (cmd.gate, cmd.hv, cmd.test_load, cmd.patient_relay)
        prev_now, self._last_now = self._last_now, inp.now
        if key != self._key or cmd.setpoint_ma != self._setpoint:
            # A rise of the setpoint alone is judged at once: the current is converted before
            # the voltage, so a rising edge can only make the test load look to carry more.
            # Anything else (a fall, a relay, the rail) waits until it has settled.
            rise = key == self._key and cmd.setpoint_ma > self._setpoint
            self._key, self._setpoint, self._ratio = key, cmd.setpoint_ma, None
            self._steady_from = prev_now if prev_now is not None else inp.now
            if not rise:
                self._since = self._steady_from
        s = inp.sample
        if (not cmd.test_load or cmd.patient_relay or not cmd.hv or cmd.gate != "dc"
                or cmd.setpoint_ma < IR_MIN_MA or s is None or inp.hw_trip
                or inp.now - self._since < IR_STEADY_S - 1e-9):
            return None
        i = min(s.current_a_ma, s.current_b_ma)
        if i < IR_MIN_MA / 2:
            return None
        v_ma = abs(s.electrode_v) / self.r * 1000.0
        if i - v_ma > self.tol * i + IR_ABS_MA:
            return (f"{i:.3f} mA flows but the test load carries {v_ma:.3f} mA (V / R): "
                    f"{i - v_ma:.3f} mA goes elsewhere")
        ratio = v_ma / i
        if inp.now - self._steady_from < IR_STEADY_S - 1e-9:
            return None  # the ratio's reference is taken once the step has settled
        if self._ratio is None:
            self._ratio = ratio
        elif ratio < self._ratio * (1.0 - IR_DROP_TOL) - IR_ABS_MA / i:
            return (f"the test load's voltage fell {100 * (1 - ratio / self._ratio):.1f} % "
                    f"while {i:.3f} mA held: a second path takes part of the current")
        return None


def guarded(seq, r_test_ohm: float, *, tol: float = IR_TOL, what: str = "the procedure"):
    """Run the procedure ``seq`` (a sequence generator: receives Inputs, yields Commands)
    inside the open-output watch: the probe before it, I x R on every steady sample with the
    test load in while it runs, and the probe again after it (see the module's text).
    Returns what ``seq`` returns (a dict gets ``open_ma`` and ``open_after_ma`` added).

    On a second path the current stops in that period (the procedure is abandoned) and the
    probe decides between ST-RELAY (current reaches the trays) and ST-VOLT (it does not: the
    voltage channel reads low)."""
    open_ma = yield from open_output_check(f"before {what}")
    watch = _IrWatch(r_test_ohm, tol)
    try:
        cmd = next(seq)
        while True:
            inp = yield cmd
            problem = watch.judge(cmd, inp)
            if problem is not None:
                seq.close()
                yield from open_output_check(f"during {what} ({problem})")
                raise SelfTestFailure("ST-VOLT", f"{problem}, but no current reaches the trays "
                                      "with the output open: the electrode voltage channel "
                                      "reads low")
            cmd = seq.send(inp)
    except StopIteration as fin:
        value = fin.value
    open_after = yield from open_output_check(f"after {what}")
    if isinstance(value, dict):
        value = {"open_ma": open_ma, **value, "open_after_ma": open_after}
    return value


def is_guarded(seq) -> bool:
    """Whether ``seq`` is a generator that already runs inside :func:`guarded`."""
    return getattr(seq, "gi_code", None) in (guarded.__code__, self_test.__code__)


def self_test(spec: SelfTestSpec) -> Generator[Command, Inputs, dict]:
    """Yields commands, receives inputs; returns the measured figures. The steps run inside
    :func:`guarded`: the open-output probe first (before the test load could hide a path),
    I x R throughout, the probe again last."""
    if not spec.calibration_ok:
        raise SelfTestFailure("ST-CAL", spec.calibration_problem or "calibration record invalid")
    if spec.settings_problem:
        raise SelfTestFailure("ST-SETTINGS", spec.settings_problem)
    return (yield from guarded(_steps(spec), spec.test_load_ohm, what="the self-test"))


def _steps(spec: SelfTestSpec) -> Generator[Command, Inputs, dict]:
    results: dict[str, float] = {}
    yield from _zero_check(results)
    yield from _hv_check(spec, results)
    # The output proven open again just before the first test current: hands that went into
    # the water since the first probe get the probe's 0.2 mA, not a share of the 5 mA.
    results["open_mid_ma"] = yield from open_output_check("before the 5 mA step")
    yield from hold(Command(test_load=True, hv=True, gate="dc", output_led=True), 0.06)
    inp, mean = yield from _test_current_check(spec, results)
    yield from _trip_check(inp, mean, results)

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


def _zero_check(results: dict) -> Generator[Command, Inputs, None]:
    """1. Test load in, everything off: zero offsets and plausible channels."""
    base = Command(test_load=True)
    inp = yield from hold(base, 0.06)
    s = _sample_of(inp, "the zero check")
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


def _hv_check(spec: SelfTestSpec, results: dict) -> Generator[Command, Inputs, None]:
    """2. HV on: the rail within its tolerance."""
    on = Command(test_load=True, hv=True, gate="dc", output_led=True)
    inp = yield from hold(on, 0.06)
    s = _sample_of(inp, "the HV check")
    results["hv_v"] = s.hv_v
    if abs(s.hv_v - spec.hv_nominal) > spec.hv_tolerance * spec.hv_nominal:
        raise SelfTestFailure("ST-HV", f"HV rail {s.hv_v:.1f} V, expected {spec.hv_nominal:.0f} "
                              f"V +-{spec.hv_tolerance * 100:.0f} %")


def _test_current_check(spec: SelfTestSpec,
                        results: dict) -> Generator[Command, Inputs, tuple[Inputs, float]]:
    """3. 5 mA into the test load: both channels, the setpoint and the voltage. Every sample
    is also judged against I x R by guarded(); the last one, a period before the trip test,
    proves that no second path takes the trip test's current. Returns the last inputs and the
    mean of the two channels."""
    inp = yield from hold(Command(test_load=True, hv=True, gate="dc", setpoint_ma=PRESTEP_MA,
                                  output_led=True), PRESTEP_S)
    five = Command(test_load=True, hv=True, gate="dc", setpoint_ma=TEST_MA, output_led=True)
    inp = yield from hold(five, 0.15)
    s = _sample_of(inp, "the 5 mA check")
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
    return inp, mean


def _trip_check(inp: Inputs, mean: float, results: dict) -> Generator[Command, Inputs, None]:
    """4. 36 mA: the independent comparator must latch within 5 ms. The sink's gain is known
    from the 5 mA step (``mean``): the command is scaled so that 36 mA truly flows (as
    measured), whatever the calibration's residual error."""
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
            return
        if inp.now - t_cmd > 0.03:
            raise SelfTestFailure("ST-TRIP", f"HW_TRIP did not assert with {TRIP_TEST_MA} mA "
                                  "into the test load")
