"""The hardware file: the single source of truth is validated with named, actionable errors."""

from __future__ import annotations

import re
import tomllib

import pytest

from hardware import DEFAULT_BOARD_FILE, GPIO_ROLES, BoardConfigError, load_board, parse_board


def raw():
    return tomllib.loads(DEFAULT_BOARD_FILE.read_text())


def test_shipped_file_loads_with_every_role(board):
    assert set(board.gpio) == set(GPIO_ROLES)
    assert board.adc.address == 0x48
    assert board.adc.gain == 1  # 4.096 V full scale
    assert board.protection.device_max_ma < board.protection.trip_ma < board.setpoint.full_scale_ma


def expect_error(doc, key_part, allowed_part):
    with pytest.raises(BoardConfigError) as exc:
        parse_board(doc, "board-under-test.toml")
    msg = str(exc.value)
    assert msg.startswith("board-under-test.toml: ")
    assert key_part in exc.value.key, msg
    assert re.search(allowed_part, msg), msg
    return msg


def test_unknown_key_is_named_with_the_allowed_keys():
    doc = raw()
    doc["sense"]["r_s3_ohm"] = 10.0
    expect_error(doc, "r_s3_ohm", "unknown key; allowed keys: .*r_s1_ohm")


def test_missing_key_is_named():
    doc = raw()
    del doc["protection"]["trip_ma"]
    expect_error(doc, "trip_ma", "missing")


def test_missing_section_is_named():
    doc = raw()
    del doc["hv"]
    expect_error(doc, "hv", "missing")


def test_duplicate_pin_names_both_roles():
    doc = raw()
    doc["gpio"]["buzzer"]["bcm"] = doc["gpio"]["wdi"]["bcm"]
    expect_error(doc, "gpio.buzzer", "already used by wdi")


@pytest.mark.parametrize("bcm", [2, 3, 14, 15])
def test_reserved_pins_are_refused(bcm):
    doc = raw()
    doc["gpio"]["buzzer"]["bcm"] = bcm
    expect_error(doc, "gpio.buzzer", "reserved")


def test_out_of_range_value_says_what_is_allowed():
    doc = raw()
    doc["sense"]["r_s1_ohm"] = -5.0
    expect_error(doc, "r_s1_ohm", r"out of range; allowed: a number from 1\.0 to 10000\.0 ohm")


def test_wrong_type_is_refused():
    doc = raw()
    doc["adc"]["data_rate"] = "fast"
    expect_error(doc, "data_rate", "not a whole number")


def test_pga_must_be_a_real_range():
    doc = raw()
    doc["adc"]["fsr_v"] = 3.0
    expect_error(doc, "fsr_v", "allowed: 6.144, 4.096")


def test_duplicate_adc_channel():
    doc = raw()
    doc["adc"]["channels"]["hv_rail"] = 0
    expect_error(doc, "hv_rail", "already used by current_a")


def test_cross_field_rules():
    doc = raw()
    doc["protection"]["device_max_ma"] = 40.0
    expect_error(doc, "device_max_ma", "must be below trip_ma")
    doc = raw()
    doc["hv"]["compliance_v"] = 61.0
    expect_error(doc, "compliance_v", "below nominal_v")
    doc = raw()
    doc["hv"]["compliance_v"] = 59.0  # more than the rail minus the sink's headroom
    expect_error(doc, "compliance_v", "must not exceed nominal_v - sink_headroom_v")
    doc = raw()
    doc["gpio"]["setpoint"]["bcm"] = 26
    expect_error(doc, "gpio.setpoint", "no hardware PWM; allowed: GPIO12, GPIO13")
    doc = raw()
    doc["setpoint"]["sink_ma_per_v"] = 10.0  # 33 mA full scale cannot prove a 35 mA trip
    expect_error(doc, "sink_ma_per_v", "prove the trip")


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(BoardConfigError, match="not found"):
        load_board(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[adc\naddress = 0x48\n")
    with pytest.raises(BoardConfigError, match=r"bad\.toml: \(file\): is not valid TOML"):
        load_board(bad)


@pytest.mark.hazard("H-OC-1")
def test_the_software_copies_of_the_board_limits_agree_with_the_board_file(board):
    """``board.toml`` is the single source of truth; the few places that type a limit again
    (the prescription's ceiling, R-OC-ABS, the campaign's judge) must say the same."""
    from test_rules import ctx

    from controller import RuleEngine
    from controller.limits import DEVICE_MAX_MA, HARDWARE_TRIP_MA
    from simtools.campaign import LIMITER_MA

    p = board.protection
    assert p.device_max_ma == DEVICE_MAX_MA
    assert p.trip_ma == HARDWARE_TRIP_MA
    assert p.limiter_ma == LIMITER_MA

    def r_oc_abs_fires(i_ma: float) -> bool:
        # a site cap far above, so that only the device ceiling can make R-OC-ABS fire
        c = ctx(i_a=i_ma, i_b=i_ma, i_max=i_ma, command_ma=i_ma, peak_cap_ma=p.trip_ma + 10.0)
        return "R-OC-ABS" in {rule.id for rule in RuleEngine().evaluate(c)}

    assert r_oc_abs_fires(p.device_max_ma + 0.05)
    assert not r_oc_abs_fires(p.device_max_ma - 0.05)


@pytest.mark.hazard("H-POL-1")
def test_the_controller_switching_waits_are_at_least_the_boards(board):
    """Relays switch dead: the controller's sequences wait for the rail to fall (five time
    constants) before a relay moves, and for the contacts to settle before HV comes back."""
    from controller.session import HV_SETTLE_S, RELAY_SETTLE_S, REVERSAL_DWELL_S

    assert 5 * board.hv.rise_tau_ms <= REVERSAL_DWELL_S * 1000
    assert board.output.relay_switch_ms <= RELAY_SETTLE_S * 1000
    assert 5 * board.hv.rise_tau_ms <= HV_SETTLE_S * 1000


def test_the_real_time_clock_is_on_the_i2c_bus_at_its_fixed_address(board):
    assert (board.rtc.i2c_bus, board.rtc.address) == (board.adc.i2c_bus, 0x68)


def test_a_real_time_clock_elsewhere_than_0x68_is_refused():
    doc = raw()
    doc["rtc"]["address"] = 0x57
    expect_error(doc, "[rtc] address", r"0x57 is not allowed; allowed: 0x68 \(the DS3231")


def test_a_missing_real_time_clock_entry_is_named():
    doc = raw()
    del doc["rtc"]["i2c_bus"]
    expect_error(doc, "rtc", "missing")
    doc = raw()
    del doc["rtc"]
    expect_error(doc, "rtc", "missing")


def test_the_display_shares_the_i2c_bus_at_a_strap_address(board):
    assert (board.display.i2c_bus, board.display.address) == (board.adc.i2c_bus, 0x3C)
    assert (board.display.width, board.display.height) == (128, 64)
    addresses = {board.adc.address, board.rtc.address, board.display.address}
    assert len(addresses) == 3  # three chips, three addresses on the one bus


def test_a_display_at_an_address_the_ssd1306_cannot_take_is_refused():
    doc = raw()
    doc["display"]["address"] = 0x3E
    expect_error(doc, "[display] address", r"0x3e is not allowed; allowed: 0x3c or 0x3d")
    doc["display"]["address"] = 0x3D  # the other strap is fine
    assert parse_board(doc).display.address == 0x3D


def test_a_display_on_another_bus_or_missing_is_named():
    doc = raw()
    doc["display"]["i2c_bus"] = 3
    expect_error(doc, "[display] i2c_bus", r"3 is not allowed; allowed: 1 \(the display shares")
    doc = raw()
    del doc["display"]["address"]
    expect_error(doc, "display", "missing")
    doc = raw()
    del doc["display"]
    expect_error(doc, "display", "missing")


def test_select_is_a_pulled_up_input_beside_start(board):
    select, start = board.pin("select_button"), board.pin("start_button")
    assert select.is_input and not select.active_high and select.bcm != start.bcm
    doc = raw()
    doc["gpio"]["select_button"]["bcm"] = start.bcm
    expect_error(doc, "gpio.select_button", "already used by start_button")
    doc = raw()
    del doc["gpio"]["select_button"]
    expect_error(doc, "select_button", "missing")
