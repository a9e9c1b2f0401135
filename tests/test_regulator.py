"""The PI regulator's clamps, in isolation."""

from __future__ import annotations

import pytest

from controller.regulator import Regulator, RegulatorConfig

DT = 0.01


def test_converges_on_a_sink_that_delivers_less_than_commanded():
    reg = Regulator()
    i = 0.0
    for _ in range(1500):  # the slew limit brings the command up at 1.5 mA/s
        u = reg.update(10.0, i, DT, 30.0, near_compliance=False)
        i = 0.95 * u  # a sink 5 % weak
    assert i == pytest.approx(10.0, abs=0.01)


def test_rise_is_slew_limited():
    reg = Regulator()
    outs = [reg.update(20.0, 0.0, DT, 30.0, near_compliance=False) for _ in range(10)]
    assert max(b - a for a, b in zip([0.0, *outs[:-1]], outs, strict=True)) <= 0.015 + 1e-9
    # headroom jump plus 100 ms of slew stays under the 0.5 mA anti-shock bound
    c = reg.cfg
    assert c.headroom_ma + c.slew_ma_s * 0.1 < 0.5


def test_command_never_exceeds_measured_plus_headroom():
    reg = Regulator(RegulatorConfig(headroom_ma=0.3, slew_ma_s=1000.0))
    for _ in range(100):
        u = reg.update(15.0, 8.0, DT, 30.0)  # compliance holds 8 mA
    assert u <= 8.3 + 1e-9
    assert reg.clamped


def test_integral_does_not_wind_up_while_clamped():
    reg = Regulator(RegulatorConfig(headroom_ma=0.3, slew_ma_s=1000.0))
    for _ in range(1000):
        reg.update(15.0, 8.0, DT, 30.0)
    assert abs(reg.integral) <= reg.cfg.i_limit_ma
    # Compliance releases: the command rises no faster than the slew limit allows.
    u0 = reg.output
    u1 = reg.update(15.0, 8.3, DT, 30.0)
    assert u1 - u0 <= reg.cfg.slew_ma_s * DT + 1e-9


def test_a_lower_reference_pulls_the_command_down_at_once():
    reg = Regulator()
    for _ in range(300):
        reg.update(15.0, 15.0, DT, 30.0)
    assert reg.update(5.0, 15.0, DT, 30.0) < 6.0


@pytest.mark.hazard("H-SHOCK-1", "H-SITE-1")
@pytest.mark.parametrize("duty", [1.0, 0.5, 0.3])
def test_near_compliance_the_headroom_bounds_the_pulse_peak(duty):
    """The compliance voltage holds the current at 4 mA (average) below a 4.5 mA reference:
    the command may stand at most headroom_ma above it in pulse-peak terms (average / duty),
    so that the true peak can jump by no more than that when the load falls (finding 13)."""
    reg = Regulator()
    reg.reset(4.0)
    u = 0.0
    for _ in range(500):
        u = reg.update(4.5, 4.0, 0.01, 10.0, near_compliance=True, duty=duty)
    assert u / duty <= 4.0 / duty + reg.cfg.headroom_ma + 1e-9
    assert u > 4.0                                    # still pushing, within the bound
