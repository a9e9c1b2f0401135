"""The output stage: setpoint, pulse gate, HV enable and the three relays.

No policy lives here, only the protections the hardware needs whatever the software above it
decides: relays are never switched with the HV rail enabled (their contacts would arc and the
patient would feel the step), and the test load and the patient are never connected together.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpiozero import DigitalOutputDevice, PWMOutputDevice

from hardware import Board

from .errors import RelayInterlockError


@dataclass(frozen=True, slots=True)
class SetpointCalibration:
    """Maps a wanted sink current to a PWM duty: ``duty = (ma - offset_ma) / ma_per_duty``.

    The nominal values come from the board file (``pwm_v x sink_ma_per_v`` mA at 100 %); the
    technician's calibration replaces them.
    """

    ma_per_duty: float
    offset_ma: float = 0.0

    @classmethod
    def nominal(cls, board: Board) -> SetpointCalibration:
        return cls(board.setpoint.full_scale_ma, 0.0)


class OutputStage:
    """Setpoint (mA), pulse gate, HV enable, patient relay, polarity relay and test load.

    :param board: the hardware description.
    :param pin_factory: the gpiozero pin factory (keyword-only, no default: the caller chooses
        the Pi or the simulator explicitly).
    :param calibration: setpoint calibration; default: nominal from the board file.

    Every output starts in the safe state: setpoint 0, gate off, HV off, relays released.
    """

    def __init__(self, board: Board, *, pin_factory,
                 calibration: SetpointCalibration | None = None):
        self.board = board
        self.calibration = calibration or SetpointCalibration.nominal(board)
        g = board.gpio
        self._devices = []

        def out(role, cls=DigitalOutputDevice, **kw):
            dev = cls(g[role].bcm, active_high=g[role].active_high, initial_value=0,
                      pin_factory=pin_factory, **kw)
            self._devices.append(dev)
            return dev

        self._setpoint = out("setpoint", PWMOutputDevice, frequency=board.setpoint.pwm_hz)
        self._gate = out("pulse_gate", PWMOutputDevice, frequency=board.pulse.max_hz)
        self._hv = out("hv_enable")
        self._patient = out("patient_relay")
        self._polarity = out("polarity_relay")
        self._test = out("test_load")
        self._setpoint_ma = 0.0
        self._duty = 0.0
        # What was last written to each line, kept here rather than read back through gpiozero
        # (every read of an output's value goes through the device and its pin: ten of them a
        # control period), and a write of the level a line already has is skipped (the control
        # loop asks for the gate, HV and the relays every period). An output's level is only
        # ever what this class wrote; each is set after its write succeeded, so a write that
        # raises leaves the last good one and the next call writes again.
        self._gate_value = 0.0
        self._hv_on = False
        self._relay_on = {"patient": False, "polarity": False, "test-load": False}

    # --- setpoint ---------------------------------------------------------------------------
    @property
    def setpoint_ma(self) -> float:
        """The commanded sink current (mA), as last set (after clamping to 0..full scale)."""
        return self._setpoint_ma

    def set_setpoint_ma(self, ma: float) -> float:
        """Command ``ma`` milliamps; returns the duty written. Clamped to the sink's range."""
        cal = self.calibration
        duty = (ma - cal.offset_ma) / cal.ma_per_duty if ma > 0.0 else 0.0
        duty = 0.0 if duty < 0.0 else 1.0 if duty > 1.0 else duty
        if duty != self._duty:
            self._setpoint.value = duty
            self._duty = duty
        self._setpoint_ma = max(0.0, ma) if duty > 0.0 else 0.0
        return duty

    @property
    def duty(self) -> float:
        return self._duty

    # --- pulse gate -------------------------------------------------------------------------
    def gate_dc(self) -> None:
        """Enable the sink continuously (DC)."""
        if self._gate_value != 1.0:
            self._gate.value = 1.0
            self._gate_value = 1.0

    def gate_pulsed(self, hz: float, duty: float) -> None:
        """Pulse the sink enable at ``hz`` with ``duty`` (0 < duty < 1)."""
        lo, hi = self.board.pulse.min_hz, self.board.pulse.max_hz
        if not lo <= hz <= hi:
            raise ValueError(f"pulse frequency {hz} Hz out of range; allowed: {lo}..{hi} Hz")
        if not 0.0 < duty < 1.0:
            raise ValueError(f"pulse duty {duty} out of range; allowed: above 0 and below 1")
        if self._gate.frequency != hz:
            self._gate.frequency = hz
        if self._gate_value != duty:
            self._gate.value = duty
            self._gate_value = duty

    def gate_off(self) -> None:
        if self._gate_value != 0.0:
            self._gate.value = 0.0
            self._gate_value = 0.0

    @property
    def gate(self) -> float:
        """The gate's duty: 0 off, 1 DC, in between pulsed."""
        return self._gate_value

    # --- HV ---------------------------------------------------------------------------------
    def hv_on(self) -> None:
        if not self._hv_on:
            self._hv.on()
            self._hv_on = True

    def hv_off(self) -> None:
        if self._hv_on:
            self._hv.off()
            self._hv_on = False

    @property
    def hv_enabled(self) -> bool:
        return self._hv_on

    # --- relays (switched dead) -------------------------------------------------------------
    def _switch(self, dev, on: bool, name: str) -> None:
        if self._relay_on[name] == on:
            return
        if self._hv_on:
            raise RelayInterlockError(
                f"refusing to switch the {name} relay while HV is enabled; "
                "call hv_off() first (relays are switched with no voltage on their contacts)")
        dev.value = on
        self._relay_on[name] = on

    def set_patient_relay(self, closed: bool) -> None:
        if closed and self.test_load:
            raise RelayInterlockError("refusing to connect the patient while the test load is in")
        self._switch(self._patient, closed, "patient")

    def set_polarity(self, polarity: int) -> None:
        """+1 normal, -1 reversed."""
        if polarity not in (1, -1):
            raise ValueError(f"polarity {polarity!r}; allowed: 1 or -1")
        self._switch(self._polarity, polarity == -1, "polarity")

    def set_test_load(self, on: bool) -> None:
        if on and self.patient_relay:
            raise RelayInterlockError("refusing to switch the test load in while the patient "
                                      "relay is closed")
        self._switch(self._test, on, "test-load")

    @property
    def patient_relay(self) -> bool:
        return self._relay_on["patient"]

    @property
    def polarity(self) -> int:
        return -1 if self._relay_on["polarity"] else 1

    @property
    def test_load(self) -> bool:
        return self._relay_on["test-load"]

    # --- safe state -------------------------------------------------------------------------
    def safe(self) -> None:
        """Setpoint 0, gate off, HV off, then the patient relay open. Never raises for a single
        failing line: each step is tried, the first error is raised at the end."""
        first = None
        for step in (lambda: self.set_setpoint_ma(0.0), self.gate_off, self.hv_off,
                     lambda: self.set_patient_relay(False)):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - every step must be tried
                first = first or exc
        if first is not None:
            raise first

    def close(self) -> None:
        try:
            self.safe()
        finally:
            for dev in self._devices:
                dev.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
