"""Prescription and limits: validated with errors that name the field and the allowed range."""

from __future__ import annotations

import pytest

from controller import Limits, Prescription, PrescriptionError


def test_defaults_are_valid_and_filled_in():
    rx = Prescription().validated()
    assert rx.ramp_ma_s == 0.5 and rx.area_cm2 == 110.0
    assert rx.dose_ma_min == 15.0 * 20.0


@pytest.mark.hazard("H-SITE-1")
@pytest.mark.parametrize("site,child,limit", [("hands", False, 20), ("hands", True, 15),
                                              ("feet", False, 25), ("feet", True, 15),
                                              ("axillae", False, 5)])
def test_site_limits(site, child, limit):
    Prescription(site=site, child=child, target_ma=limit).validated()
    with pytest.raises(PrescriptionError) as exc:
        Prescription(site=site, child=child, target_ma=limit + 0.5).validated()
    assert exc.value.field == "target_ma"
    assert f"to {limit} mA" in str(exc.value) and site in str(exc.value)


@pytest.mark.parametrize("field,value,allowed", [
    ("site", "elbows", "allowed: hands, feet, axillae"),
    ("target_ma", 0.0, "above 0"),
    ("duration_min", 4.0, "from 5 to 40 min"),
    ("duration_min", 41.0, "from 5 to 40 min"),
    ("ramp_ma_s", 2.0, "from 0.1 to 1 mA/s"),
    ("waveform", "ac", "allowed: dc, pulsed"),
    ("target_ma", "fifteen", "must be a number"),
])
def test_bad_fields_are_named_with_the_allowed_range(field, value, allowed):
    with pytest.raises(PrescriptionError) as exc:
        Prescription(**{field: value}).validated()
    assert exc.value.field == field
    assert allowed in str(exc.value)


def test_pulsed_parameters_are_checked():
    with pytest.raises(PrescriptionError, match="pulse_hz = 200"):
        Prescription(waveform="pulsed", pulse_hz=200).validated()
    with pytest.raises(PrescriptionError, match="pulse_duty = 0.95"):
        Prescription(waveform="pulsed", pulse_duty=0.95).validated()


def test_reversal_refused_below_ten_minutes_with_the_reason():
    with pytest.raises(PrescriptionError) as exc:
        Prescription(duration_min=8, reverse_polarity=True).validated()
    assert exc.value.field == "reverse_polarity"
    assert "at least 10 min" in str(exc.value) and "8 min" in str(exc.value)
    Prescription(duration_min=10, reverse_polarity=True).validated()


@pytest.mark.hazard("H-SITE-1", "H-OC-1")
def test_pulsed_average_is_reduced_so_the_peak_respects_the_limits():
    limits = Limits()
    rx = Prescription(site="hands", target_ma=15, waveform="pulsed", pulse_duty=0.5).validated()
    assert rx.max_average_ma(limits) == pytest.approx(10.0)  # peak 20 mA (hands limit)
    rx = Prescription(site="hands", child=True, target_ma=10, waveform="pulsed",
                      pulse_duty=0.8).validated()
    assert rx.max_average_ma(limits) == pytest.approx(10.0)  # peak 12.5 <= 15


def test_limits_never_exceed_the_device_bounds():
    with pytest.raises(PrescriptionError, match="site_max_ma.hands"):
        Limits(site_max_ma={"hands": 31.0}).validated()
    with pytest.raises(PrescriptionError, match="density_ma_cm2"):
        Limits(density_ma_cm2=2.0).validated()
    lim = Limits(site_max_ma={"hands": 12.0}).validated()
    with pytest.raises(PrescriptionError, match="to 12 mA"):
        Prescription(target_ma=13).validated(lim)
