"""Faults that come and go within a rule's persistence: the episodes add up (the rules' leaky
integrators, controller/rules.py) and the device latches the fault after a bounded number of
them. Judged on the ground truth: the true patient current of every episode."""

from __future__ import annotations

import pytest

from conftest import device
from controller import Prescription

RX = Prescription(target_ma=7.0, duration_min=5.0, ramp_ma_s=1.0)


def flicker(dev, fault, on_s, every_s, episodes, **params):
    """Inject ``fault`` for ``on_s`` in every ``every_s``; return the true current's peak in
    each episode that began before the device latched a fault."""
    peaks = []
    for _ in range(episodes):
        if dev.state == "FAULT":
            break
        dev.rig.inject(fault, **params)
        peak = 0.0
        end = dev.clock.now() + on_s
        while dev.clock.now() < end - 1e-9:
            dev.run(0.005)
            peak = max(peak, dev.rig.physics.patient_ma)
        dev.rig.repair(fault)
        peaks.append(peak)
        dev.run(every_s - on_s)
    return peaks


@pytest.mark.hazard("H-OC-2")
def test_a_setpoint_that_sticks_high_for_30_ms_in_every_200_ms_is_latched_on_the_second():
    dev = device(RX)
    assert dev.start_and_treat()
    dev.run(3.0)
    peaks = flicker(dev, "pwm_stuck", 0.03, 0.2, 50, duty=0.45)
    assert dev.state == "FAULT" and dev.controller.fault.code == "R-OC-REL"
    # two episodes reached the patient (each a step to about 18 mA, under the site limit)
    assert len([p for p in peaks if p > RX.target_ma + 1.0]) <= 2
    assert max(peaks) > RX.target_ma + 5.0  # the fault was real: the episodes drove current
    dev.run(0.1)
    assert abs(dev.rig.physics.patient_ma) < 0.1


@pytest.mark.hazard("H-OC-2")
def test_a_sink_that_shorts_for_30_ms_every_2_s_is_latched_within_three_episodes():
    dev = device(RX, load_ohm=4500.0)
    assert dev.start_and_treat()
    dev.run(3.0)
    peaks = flicker(dev, "sink_short", 0.03, 2.0, 20)
    assert dev.state == "FAULT"
    assert len([p for p in peaks if p > RX.target_ma + 1.0]) <= 3
    dev.run(0.1)
    assert abs(dev.rig.physics.patient_ma) < 0.1
