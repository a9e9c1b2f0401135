"""The Raspberry Pi backend: clear errors off the Pi, and the kernel PWM channel it drives."""

from __future__ import annotations

import pytest

from hal import BackendUnavailable
from hal.pi import SysfsPWM, find_pwm_chip, open_pi_backend


def test_off_the_pi_the_error_says_what_is_missing_and_suggests_sim(board, tmp_path):
    with pytest.raises(BackendUnavailable) as exc:
        open_pi_backend(board, dev=tmp_path)  # an empty /dev: no gpiochip
    msg = str(exc.value)
    assert "no GPIO chip" in msg and "--sim" in msg
    assert isinstance(exc.value, RuntimeError)


def test_missing_i2c_is_named_with_the_fix(board, tmp_path):
    (tmp_path / "gpiochip0").write_text("")
    with pytest.raises(BackendUnavailable,
                       match=r"I2C is not enabled .*i2c-1 missing.*raspi-config"):
        open_pi_backend(board, dev=tmp_path)


def test_missing_pwm_overlay_is_named(tmp_path):
    with pytest.raises(BackendUnavailable, match="dtoverlay=pwm-2chan"):
        find_pwm_chip(tmp_path)


def fake_pwm_chip(root):
    chip = root / "pwmchip0"
    chip.mkdir()
    (chip / "npwm").write_text("2\n")
    for ch in (0, 1):
        d = chip / f"pwm{ch}"
        d.mkdir()
        for name in ("period", "duty_cycle", "enable"):
            (d / name).write_text("0")
    return chip


def test_sysfs_pwm_writes_period_duty_and_enable(tmp_path):
    chip = fake_pwm_chip(tmp_path)
    assert find_pwm_chip(tmp_path) == chip
    pwm = SysfsPWM(chip, 1)
    pwm.configure(5000, 0.25)
    d = chip / "pwm1"
    assert (d / "period").read_text() == "200000"
    assert (d / "duty_cycle").read_text() == "50000"
    assert (d / "enable").read_text() == "1"
    pwm.off()
    assert (d / "duty_cycle").read_text() == "0" and (d / "enable").read_text() == "0"
