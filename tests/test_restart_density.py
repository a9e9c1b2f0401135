"""A session started again with a hand partly out of the water (finding 17 of
docs/safety/campaigns.md): the full-immersion load of the session that just ended is the new
session's reference (controller.session.CARRY_REF_S). Judged on the ground truth: the true
current density at the immersed area."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import device
from controller import Prescription
from controller.immersion import body_fraction_bound, fraction_of
from controller.session import CARRY_REF_S, DENSITY_MARGIN

RX = Prescription(target_ma=8.0, duration_min=6.0, ramp_ma_s=1.0, area_cm2=129.0)
FINGERTIPS = 0.13


def _stopped_with_a_hand_partly_out():
    """A treating session, a hand lifted to the fingertips, then a stop."""
    dev = device(RX, load_ohm=1140.0, area_cm2=129.0)
    assert dev.start_and_treat(60.0)
    dev.run(10.0)
    dev.rig.set_contact(FINGERTIPS)
    dev.run(5.0)
    dev.press()
    assert dev.run_until_state("IDLE", 30.0)
    return dev


def _restart(dev, seconds: float = 40.0):
    dev.press()
    dev.run(seconds)
    return dev


def _codes(dev):
    return [e.code for e in dev.controller.events.events]


@pytest.mark.hazard("H-DENS-1")
def test_a_restart_with_a_hand_partly_out_holds_the_density():
    dev = _restart(_stopped_with_a_hand_partly_out())
    assert dev.controller.session is not None and dev.state == "TREAT"
    assert "CONTACT-CARRIED" in _codes(dev)
    assert dev.truth.max_density_ma_cm2 <= dev.controller.limits.density_ma_cm2
    assert dev.truth.density_over_s <= 0.2
    # and it still treats what is in the water, at what the fingertips bear: the device takes
    # the share of the load that does not scale with the area as the largest the body can have
    # for 1140 ohm (0.8; the model's patient has 0.2), so its estimate of the area is smaller
    # than the fingertips' and the current lower than they would bear
    ratio = 0.2 + 0.8 / FINGERTIPS           # the load over the full-immersion load, model's
    allowed = (dev.controller.limits.density_ma_cm2 * 129.0 * DENSITY_MARGIN
               * fraction_of(ratio, body_fraction_bound(1140.0)))
    assert 0.9 * allowed < dev.rig.physics.patient_ma < 0.2 * 129.0 * FINGERTIPS


@pytest.mark.hazard("H-DENS-1")
def test_the_hand_going_back_in_lifts_the_limit():
    dev = _restart(_stopped_with_a_hand_partly_out())
    dev.rig.immerse()
    dev.run(30.0)
    assert dev.rig.physics.patient_ma == pytest.approx(RX.target_ma, rel=0.03)
    assert dev.truth.max_step_ma <= 0.5


def test_the_same_patient_fully_back_in_is_treated_at_the_target():
    dev = device(RX, load_ohm=1140.0, area_cm2=129.0, load_drift_per_min=-0.01)
    assert dev.start_and_treat(60.0)
    dev.run(20.0)
    dev.press()
    assert dev.run_until_state("IDLE", 30.0)
    _restart(dev)
    # the carried load is a little lower than the new contact load (the skin hydrated, the
    # probe's reading): it does not lower the current, and the patient is not told of it
    assert "CONTACT-CARRIED" not in _codes(dev)
    assert dev.rig.physics.patient_ma == pytest.approx(RX.target_ma, rel=0.03)


def test_the_carry_ends_with_its_time_and_with_another_site():
    dev = _stopped_with_a_hand_partly_out()
    dev.run(CARRY_REF_S + 1.0)
    _restart(dev)
    assert "CONTACT-CARRIED" not in _codes(dev)   # too long ago: the load is the reference
    dev.press()
    assert dev.run_until_state("IDLE", 30.0)
    dev2 = _stopped_with_a_hand_partly_out()
    dev2.controller.set_prescription(dataclasses.replace(RX, site="feet"))
    _restart(dev2)
    assert "CONTACT-CARRIED" not in _codes(dev2)  # other trays: another load


@pytest.mark.hazard("H-DENS-1")
def test_a_new_target_between_two_sessions_keeps_the_carry():
    """The technician raises the target between two sessions of the same patient, who starts
    again with a hand partly out (the CI campaign's fresh seed 7756744, run 90): the earlier
    session's full-immersion load stays the reference, and the density holds."""
    dev = _stopped_with_a_hand_partly_out()
    dev.controller.set_prescription(dataclasses.replace(RX, target_ma=12.0, duration_min=8.0))
    _restart(dev)
    assert "CONTACT-CARRIED" in _codes(dev)
    assert dev.truth.max_density_ma_cm2 <= dev.controller.limits.density_ma_cm2
    assert dev.truth.density_over_s <= 0.2


@pytest.mark.hazard("H-DENS-1")
def test_the_campaign_run_that_found_it_keeps_the_safety_properties():
    """The replay of finding 21 (docs/safety/findings/campaign-short-7756744-90.toml), judged by
    the campaign's own property checks on the ground truth."""
    import tomllib
    from pathlib import Path

    from sim.scenario import load_scenario
    from simtools.campaign import check_properties
    from simtools.simrun import run_scenario

    findings = Path(__file__).resolve().parents[1] / "docs/safety/findings"
    path = findings / "campaign-short-7756744-90.toml"
    s = run_scenario(load_scenario(path), None, trace=False)
    assert any(e["detail"].startswith("CONTACT-CARRIED") for e in s["events"])
    assert s["density_over_s"] == 0.0
    assert check_properties(tomllib.loads(path.read_text()), s) == []
