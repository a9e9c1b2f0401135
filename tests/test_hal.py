"""The HAL's own protections and its contract with the hardware file and the simulator."""

from __future__ import annotations

import pytest
from gpiozero import GPIOPinInUse

from conftest import energise, make_rig, run
from hal import COLOURS, OutputStage, RelayInterlockError
from hardware import GPIO_ROLES


def test_outputs_start_safe(rig_hw):
    rig, hw = rig_hw
    run(rig, hw, 0.05)
    out = hw.output
    assert (out.setpoint_ma, out.gate, out.hv_enabled, out.patient_relay, out.test_load) == (
        0.0, 0.0, False, False, False)
    assert out.polarity == 1 and not hw.panel.output_led


def test_relays_are_refused_while_hv_is_enabled(rig_hw):
    rig, hw = rig_hw
    energise(rig, hw, 0.0)
    out = hw.output
    for switch in (lambda: out.set_patient_relay(False), lambda: out.set_polarity(-1)):
        with pytest.raises(RelayInterlockError, match="while HV is enabled"):
            switch()
    assert out.patient_relay and out.polarity == 1
    # Asking for the state a relay is already in is not a switch.
    out.set_patient_relay(True)


def test_test_load_is_refused_while_hv_is_enabled(rig_hw):
    rig, hw = rig_hw
    energise(rig, hw, 0.0, patient=False)
    with pytest.raises(RelayInterlockError, match="test-load relay while HV is enabled"):
        hw.output.set_test_load(True)
    assert not hw.output.test_load


def test_test_load_and_patient_are_never_connected_together(rig_hw):
    rig, hw = rig_hw
    hw.output.set_patient_relay(True)
    with pytest.raises(RelayInterlockError, match="patient relay is closed"):
        hw.output.set_test_load(True)
    hw.output.set_patient_relay(False)
    hw.output.set_test_load(True)
    with pytest.raises(RelayInterlockError, match="test load is in"):
        hw.output.set_patient_relay(True)


def test_interlock_error_is_also_a_runtime_error():
    assert issubclass(RelayInterlockError, RuntimeError)


def test_safe_state_drops_everything_and_opens_the_patient_relay(rig_hw):
    rig, hw = rig_hw
    energise(rig, hw, 10.0)
    hw.panel.set_output_led(True)
    hw.safe()
    run(rig, hw, 0.05)
    truth = rig.truth()
    assert abs(truth["patient_ma"]) < 1e-3 and truth["supply_v"] < 1.0
    assert not truth["patient_relay"] and not hw.panel.output_led


def test_setpoint_is_clamped_and_mapped_through_the_calibration(board, rig_hw):
    _, hw = rig_hw
    assert hw.output.set_setpoint_ma(-3.0) == 0.0
    assert hw.output.set_setpoint_ma(board.setpoint.full_scale_ma * 2) == 1.0
    assert hw.output.set_setpoint_ma(board.setpoint.full_scale_ma / 4) == pytest.approx(0.25)


def test_pulse_gate_validates_its_arguments(rig_hw):
    _, hw = rig_hw
    with pytest.raises(ValueError, match="allowed: 1000..10000 Hz"):
        hw.output.gate_pulsed(20000, 0.5)
    with pytest.raises(ValueError, match="above 0 and below 1"):
        hw.output.gate_pulsed(5000, 1.0)


def test_panel_colours_and_raw_button(rig_hw):
    rig, hw = rig_hw
    for name, rgb in COLOURS.items():
        hw.panel.set_colour(name)
        states = tuple(int(rig.pin_factory.pin_by_bcm(rig.board.gpio[r].bcm).state)
                       for r in ("led_red", "led_green", "led_blue"))
        assert states == rgb
    with pytest.raises(ValueError, match="allowed: off, red"):
        hw.panel.set_colour("ultraviolet")
    rig.set_button(True)
    assert hw.panel.start_pressed
    rig.set_button(False)
    assert not hw.panel.start_pressed


def test_every_pin_in_the_file_is_used_by_the_hal_and_known_to_the_simulator(board):
    rig, hw = make_rig(board)
    reserved = {int(info.name[4:]) for info in rig.pin_factory._reservations}
    assert reserved == {g.bcm for g in board.gpio.values()}  # the HAL claimed every pin
    assert set(rig.physics._role_of.values()) == set(GPIO_ROLES)  # the model knows every pin
    # ...and no pin the HAL claims is outside the file.
    assert len(reserved) == len(GPIO_ROLES)


def test_a_pin_cannot_be_claimed_twice(board, rig_hw):
    rig, _ = rig_hw
    with pytest.raises(GPIOPinInUse):
        OutputStage(board, pin_factory=rig.pin_factory)


def test_pin_history_is_bounded(rig_hw):
    rig, hw = rig_hw
    run(rig, hw, 60.0)  # 6000 WDI edges
    wdi = rig.pin_factory.pin_by_bcm(rig.board.gpio["wdi"].bcm)
    assert len(wdi.states) <= 256


def test_the_output_stage_reports_what_the_lines_carry_without_reading_them_back(rig_hw):
    """The output stage keeps what it wrote instead of reading each line back through gpiozero
    (ten reads a control period): after every kind of write, and after a write the interlock
    refused, what it reports is the pins' level, and reporting it reads no pin."""
    rig, hw = rig_hw
    out = hw.output
    pins = {name: dev.pin for name, dev in (
        ("gate", out._gate), ("hv", out._hv), ("patient", out._patient),
        ("polarity", out._polarity), ("test", out._test))}

    def level(name):
        return pins[name].state

    def check():
        reads = []
        for name, pin in pins.items():
            orig = type(pin)._get_state
            pin._get_state = lambda pin=pin, orig=orig, name=name: (reads.append(name),
                                                                     orig(pin))[1]
        try:
            seen = (out.gate, out.hv_enabled, out.patient_relay, out.polarity, out.test_load)
        finally:
            for pin in pins.values():
                del pin._get_state
        assert reads == []
        assert seen == (level("gate"), bool(level("hv")), bool(level("patient")),
                        -1 if level("polarity") else 1, bool(level("test")))

    check()
    out.set_test_load(True)
    check()
    out.set_test_load(False)
    out.set_polarity(-1)
    out.set_patient_relay(True)
    out.gate_pulsed(1000.0, 0.5)
    check()
    out.hv_on()
    with pytest.raises(RelayInterlockError):
        out.set_polarity(1)
    check()
    out.gate_dc()
    check()
    out.safe()
    check()
    assert (out.gate, out.hv_enabled, out.patient_relay) == (0.0, False, False)


def test_a_write_of_the_level_a_line_has_reaches_no_pin(rig_hw):
    """The control loop asks for the gate, HV, the relays and the lights every period; only a
    change reaches the pin (on the Pi a same-level write does nothing either). A change still
    does, each time."""
    rig, hw = rig_hw
    out, panel = hw.output, hw.panel
    devices = [out._gate, out._hv, out._patient, out._polarity, out._test,
               panel._output_led, panel._buzzer]
    writes = []
    for dev in devices:
        pin = dev.pin
        orig = type(pin)._set_state
        pin._set_state = lambda value, pin=pin, orig=orig: (writes.append(pin.info.name),
                                                            orig(pin, value))[1]

    def period(gate, hv, led):
        writes.clear()
        gate()
        (out.hv_on if hv else out.hv_off)()
        out.set_polarity(1)
        panel.set_output_led(led)
        panel.set_buzzer(False)
        return len(writes)

    try:
        out.set_patient_relay(True)
        assert period(out.gate_dc, True, True) == 3        # gate, HV, light: each changes
        assert period(out.gate_dc, True, True) == 0        # the same again: nothing written
        assert period(lambda: out.gate_pulsed(1000.0, 0.4), True, True) == 1
        assert period(lambda: out.gate_pulsed(1000.0, 0.4), True, True) == 0
        assert period(out.gate_off, False, False) == 3
        assert period(out.gate_off, False, False) == 0
        assert (out.gate, out.hv_enabled, panel.output_led) == (0.0, False, False)
    finally:
        for dev in devices:
            del dev.pin._set_state


def test_select_button_reads_raw_and_apart_from_start(rig_hw):
    rig, hw = rig_hw
    assert not hw.panel.select_pressed
    rig.set_select_button(True)
    assert hw.panel.select_pressed and not hw.panel.start_pressed
    rig.set_button(True)
    rig.set_select_button(False)
    assert hw.panel.start_pressed and not hw.panel.select_pressed
