"""Each fault of the catalogue (../shared/SCENARIOS.md) does what its row says, on the real HAL."""

from __future__ import annotations

import pytest

from conftest import energise, make_rig, run
from hal import AdcError
from sim.faults import CATALOGUE, UnknownFault, resolve


def test_catalogue_matches_the_contract():
    assert set(CATALOGUE) == {
        "adc_absent", "adc_glitch", "adc_stuck", "sense_a_gain", "sense_b_open", "sink_short",
        "pwm_stuck", "polarity_relay_stuck", "patient_relay_welded", "hv_sag", "hv_over",
        "loop_stall", "button_stuck", "trip_dead"}
    assert resolve("sense_a_gain") == {"factor": 1.3}
    assert resolve("hv_sag", {"volts": 25}) == {"volts": 25.0}


def test_bad_fault_names_and_params_are_refused_with_what_is_allowed():
    with pytest.raises(UnknownFault, match="allowed: adc_absent"):
        resolve("adc_on_fire")
    with pytest.raises(UnknownFault, match="unknown parameter 'volts'; allowed: p"):
        resolve("adc_glitch", {"volts": 3})
    with pytest.raises(UnknownFault, match="allowed: a number from 0.0 to 1.0"):
        resolve("adc_glitch", {"p": 2})


@pytest.fixture
def treating(board):
    rig, hw = make_rig(board)
    energise(rig, hw, 10.0)
    run(rig, hw, 0.3)
    yield rig, hw
    hw.close()


def test_adc_absent(treating):
    rig, hw = treating
    rig.inject("adc_absent")
    with pytest.raises(AdcError):
        hw.afe.sample()
    rig.repair("adc_absent")
    assert hw.afe.sample().current_a_ma == pytest.approx(10.0, abs=0.02)


def test_adc_glitch_fails_a_share_of_transactions(treating):
    rig, hw = treating
    rig.inject("adc_glitch", p=0.2)
    failures = 0
    for _ in range(200):
        try:
            hw.afe.sample()
        except AdcError:
            failures += 1
    # A sample is 12 transactions: P(sample ok) = 0.8**12 ~ 7 %.
    assert 150 <= failures < 200


def test_adc_stuck_freezes_the_conversion_register(treating):
    rig, hw = treating
    before = hw.afe.sample().raw
    rig.inject("adc_stuck")
    hw.output.set_setpoint_ma(5.0)
    run(rig, hw, 0.2)
    raws = {hw.afe.sample().raw for _ in range(5)}
    # Every channel reads the last conversion (the HV rail, read last).
    assert raws == {(before[3],) * 4}
    assert abs(rig.truth()["patient_ma"] - 5.0) < 0.01


def test_sense_a_gain(treating):
    rig, hw = treating
    rig.inject("sense_a_gain", factor=1.3)
    s = hw.afe.sample()
    assert s.current_a_ma == pytest.approx(13.0, abs=0.03)
    assert s.current_b_ma == pytest.approx(10.0, abs=0.03)


def test_sense_b_open(treating):
    rig, hw = treating
    rig.inject("sense_b_open")
    s = hw.afe.sample()
    assert abs(s.current_b_ma) < 0.01 and s.current_a_ma == pytest.approx(10.0, abs=0.03)


def test_sink_short_ignores_the_setpoint(treating, board):
    rig, hw = treating
    rig.inject("sink_short")
    hw.output.set_setpoint_ma(0.0)
    run(rig, hw, 0.2)
    # Limited by rail and load only (2 kOhm): far above anything commanded. (With the gate off,
    # the gate-off comparator would trip the latch: tests/test_gate_off_trip.py.)
    expected = (board.hv.nominal_v - 0.2) / (2000 + 149.9) * 1000
    assert abs(rig.truth()["patient_ma"]) == pytest.approx(expected, rel=0.01)
    hw.output.hv_off()
    run(rig, hw, 0.05)
    assert abs(rig.truth()["patient_ma"]) < 0.1


def test_series_limiter_bounds_a_shorted_sink_on_a_low_load(board):
    rig, hw = make_rig(board, load_ohm=500.0)
    energise(rig, hw, 10.0)
    run(rig, hw, 0.3)
    rig.inject("sink_short")
    peak = 0.0
    for _ in range(100):
        rig.clock.advance(0.0005)
        peak = max(peak, abs(rig.truth()["patient_ma"]))
    # 60 V into 500 ohm would be ~90 mA (and more through the skin capacitance at first)
    assert peak <= board.protection.limiter_ma + 1e-6
    assert peak == pytest.approx(board.protection.limiter_ma, rel=1e-3)


def test_sink_short_without_trip_is_limited_by_rail_and_load(board):
    rig, hw = make_rig(board, load_ohm=5000.0)
    energise(rig, hw, 0.0)
    rig.inject("trip_dead")
    rig.inject("sink_short")
    run(rig, hw, 0.5)
    expected = (board.hv.nominal_v - 0.2) / (5000 + 149.9) * 1000
    assert abs(rig.truth()["patient_ma"]) == pytest.approx(expected, rel=0.01)


def test_pwm_stuck(treating, board):
    rig, hw = treating
    rig.inject("pwm_stuck", duty=0.5)
    hw.output.set_setpoint_ma(1.0)
    run(rig, hw, 0.1)
    assert rig.truth()["sink_ma"] == pytest.approx(0.5 * board.setpoint.full_scale_ma, rel=0.01)


def test_polarity_relay_stuck(treating):
    rig, hw = treating
    rig.inject("polarity_relay_stuck")
    hw.output.set_setpoint_ma(0.0)
    hw.output.hv_off()
    hw.output.set_polarity(-1)
    run(rig, hw, 0.05)
    assert rig.truth()["polarity"] == 1


def test_patient_relay_welded(treating):
    rig, hw = treating
    rig.inject("patient_relay_welded")
    hw.output.set_setpoint_ma(0.0)
    hw.output.hv_off()
    hw.output.set_patient_relay(False)
    run(rig, hw, 0.05)
    assert rig.truth()["patient_relay"]


@pytest.mark.parametrize("fault,volts", [("hv_sag", 20.0), ("hv_over", 75.0)])
def test_hv_rail_faults(treating, fault, volts):
    rig, hw = treating
    rig.inject(fault, volts=volts)
    run(rig, hw, 0.05)
    assert rig.truth()["supply_v"] == pytest.approx(volts, abs=0.01)
    assert hw.afe.sample().hv_v == pytest.approx(volts, abs=0.1)


def test_loop_stall_lets_the_watchdog_cut_hv(treating):
    rig, hw = treating
    t0 = rig.clock.now()
    rig.inject("loop_stall", ms=1000)
    rig.clock.sleep(0.01)
    assert rig.clock.now() - t0 == pytest.approx(1.01)
    truth = rig.truth()
    assert truth["watchdog_cut"] and abs(truth["patient_ma"]) < 0.01


def test_button_stuck(board, rig_hw):
    rig, hw = rig_hw
    assert not hw.panel.start_pressed
    rig.inject("button_stuck")
    assert hw.panel.start_pressed
    rig.set_button(False)  # releasing does not help
    assert hw.panel.start_pressed
    rig.repair("button_stuck")
    assert not hw.panel.start_pressed


def test_trip_dead(board):
    rig, hw = make_rig(board)
    energise(rig, hw, 0.0, patient=False, test_load=True)
    rig.inject("trip_dead")
    hw.output.set_setpoint_ma(37.0)
    run(rig, hw, 0.1)
    assert not hw.guard.tripped and rig.truth()["sink_ma"] > 36.0
