"""Behaviours fixed after a review of the controller and the console; each test fails on the
code before its fix."""

from __future__ import annotations

import pytest
from test_console import PIN, Bench, login

from conftest import device
from controller import Prescription
from controller.limits import CHILD_AREA_CM2, SITE_AREA_CM2


def test_a_short_during_treatment_does_not_poison_the_density_reference():
    dev = device(Prescription(target_ma=15.0, duration_min=5.0, ramp_ma_s=1.0))
    assert dev.start_and_treat()
    dev.rig.short(20.0)
    dev.run(2.0)
    dev.rig.unshort()
    assert dev.run_until_state("TREAT", 30.0)
    dev.run(2.0)
    assert abs(dev.rig.physics.patient_ma) == pytest.approx(15.0, rel=0.01)


def test_a_press_while_done_does_not_start_a_second_session():
    dev = device()
    assert dev.start_and_treat()
    dev.press(0.1)  # the patient stops
    assert dev.run_until_state("DONE", 10.0)
    dev.press()  # "acknowledging" the green blink
    dev.run(1.0)
    assert dev.state in ("DONE", "IDLE") and dev.controller.session is None


def test_a_trip_latch_left_set_is_reset_by_the_self_test():
    dev = device()
    dev.rig.physics.tripped = True  # set before power-on (the analog board stayed powered)
    dev.rig.physics._inputs_dirty = True
    assert dev.run_until_state("IDLE", 2.0)
    assert not dev.rig.physics.tripped


def test_rule_faults_can_be_cleared_by_the_technician_after_a_repair(tmp_path, board):
    b = Bench(tmp_path, board)
    try:
        login(b)
        b.prog.controller.press(b.prog.clock.now())
        b.run(20.0)
        b.rig.inject("sink_short")
        b.run(0.5)
        assert b.prog.controller.fault["code"] == "R-OC-ABS"
        b.rig.repair("sink_short")
        assert b.ask("fault clear", max_s=3)[-1] == "OK"
        assert b.prog.controller.state == "IDLE"
    finally:
        b.close()


def test_missing_settings_can_be_put_right_from_the_console(tmp_path, board):
    from firmware import calibration as calmod
    from firmware.console import set_pin
    calmod.save(tmp_path, calmod.Calibration.nominal(board), board)
    set_pin(tmp_path, PIN)
    b = Bench(tmp_path, board)  # no prescription, no limits: ST-SETTINGS
    try:
        assert b.prog.controller.fault["code"] == "ST-SETTINGS"
        login(b)
        assert b.ask("limits set density=0.2")[-1] == "OK"
        assert b.ask("rx set site=hands target=10 duration=5")[-1] == "OK"
        assert b.ask("fault clear", max_s=3)[-1] == "OK"
    finally:
        b.close()


def test_changing_the_site_takes_that_sites_electrode_area(tmp_path, board):
    b = Bench(tmp_path, board)
    try:
        login(b)
        assert b.ask("rx set site=feet target=20")[-1] == "OK"
        assert b.prog.controller.rx.area_cm2 == SITE_AREA_CM2["feet"]
        assert b.ask("rx set site=hands target=15")[-1] == "OK"
        assert b.prog.controller.rx.area_cm2 == SITE_AREA_CM2["hands"]
        # a child's profile takes a child's area, and back
        assert b.ask("rx set child=yes target=10")[-1] == "OK"
        assert b.prog.controller.rx.area_cm2 == CHILD_AREA_CM2["hands"]
        assert b.ask("rx set child=no")[-1] == "OK"
        assert b.prog.controller.rx.area_cm2 == SITE_AREA_CM2["hands"]
    finally:
        b.close()


def test_a_failing_log_does_not_stop_the_control_loop():
    dev = device()
    dev.run_until_state("IDLE", 2.0)

    def broken(_event):
        raise OSError("disk full")

    dev.controller.events.listeners.append(broken)
    dev.loop.observers.append(lambda *_: (_ for _ in ()).throw(OSError("disk full")))
    assert dev.start_and_treat()
    assert dev.controller.events.listener_errors and dev.loop.observer_errors
