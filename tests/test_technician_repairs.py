"""What a technician puts right from the console: a fault cleared after a repair, settings
that are missing, a prescription whose site (or child flag) changes the electrode area."""

from __future__ import annotations

from test_console import PIN, Bench, login

from controller.limits import CHILD_AREA_CM2, SITE_AREA_CM2


def test_rule_faults_can_be_cleared_by_the_technician_after_a_repair(tmp_path, board):
    b = Bench(tmp_path, board)
    try:
        login(b)
        b.prog.controller.press(b.prog.clock.now())
        b.run(20.0)
        b.rig.inject("sink_short")
        b.run(0.5)
        assert b.prog.controller.fault.code == "R-OC-ABS"
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
        assert b.prog.controller.fault.code == "ST-SETTINGS"
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
