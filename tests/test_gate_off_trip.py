"""The gate-off comparator: a shorted sink in pulsed DC at the compliance limit.

A sink that fails short ignores the pulse gate. At the compliance limit the true average then
rises (pulsed becomes continuous DC) but stays below the command, so no current rule can see it
(docs/safety/campaigns.md, finding 11). The board's second comparator on R_S1 is armed only
while the gate holds the sink off, when no current can pass R_S1 through a working sink; it sets
the trip latch, which removes HV without software. Judged on the simulator's ground truth.

A software check was tried first (hold the gate off for one conversion every 100 ms and read the
current): the gate must stay off about 2.2 ms (the input filter's settling, a conversion, the
I2C traffic), a fifth of that period's mean; the patient can feel it, and the campaign's shock
measure saw steps of 1 to 3 mA in 8 of 30 pulsed runs. A comparator sees every pause within
microseconds and never interrupts the current.
"""

from __future__ import annotations

import pytest

from conftest import energise, make_rig, run
from controller.limits import PULSE_DUTY, PULSE_HZ
from sim.scenario import parse_scenario
from simtools.campaign import DEADLINE_MS, check_properties, safe_after_acting_ms
from simtools.simrun import run_scenario


def _short_doc(site, target, load, drift, hz, duty, at_s):
    return {"name": "gate-off-trip", "seed": 2935, "end_after_s": at_s + 3.0,
            "protocol": {"site": site, "target_ma": target, "duration_min": 10.0,
                         "waveform": "pulsed", "pulse_hz": hz, "pulse_duty": duty,
                         "ramp_ma_s": 1.0, "area_cm2": 170.8},
            "patient": {"load_ohm": load, "load_drift_per_min": drift, "area_cm2": 170.8},
            "event": [{"at_s": 1.0, "do": "press"},
                      {"at_s": at_s, "do": "fault", "fault": "sink_short", "params": {}}]}


@pytest.mark.hazard("H-OC-1", "H-OC-2")
@pytest.mark.parametrize("site,target,load,drift,hz,duty,at_s", [
    # the shape of finding 11 (seed 1, run 1935 of the short profile): hands, duty 0.8, 9.5 kOhm,
    # the rail holding the current below the command when the sink fails short
    ("hands", 17.01, 9476.6, -0.0123, 1000, 0.8, 16.24),
    # duty 0.5 at 10 kHz at 9 kOhm
    ("feet", 12.0, 9000.0, -0.01, 10_000, 0.5, 16.0),
])
def test_a_shorted_sink_at_the_compliance_limit_in_pulsed_dc_trips_the_latch(
        site, target, load, drift, hz, duty, at_s):
    doc = _short_doc(site, target, load, drift, hz, duty, at_s)
    s = run_scenario(parse_scenario(doc, "gate-off-trip.toml"), None, trace=False)
    f = s["fault"]
    assert f is not None and f["code"] == "R-HW-TRIP"
    # from the injection: the latch needs no rise of the current to act
    assert f["safe_after_ms"] <= DEADLINE_MS["R-HW-TRIP"]
    acting = safe_after_acting_ms(doc, f)
    assert acting is None or acting <= DEADLINE_MS["R-HW-TRIP"]
    assert check_properties(doc, s) == []


@pytest.mark.hazard("H-OC-1")
def test_the_gate_off_comparator_is_armed_in_the_pauses_only(board):
    """On the hardware alone: a shorted sink with the gate pulsed sets the latch at once; with
    the gate held on (DC) there is no pause and only the 35 mA comparator watches."""
    rig, hw = make_rig(board, load_ohm=9000.0)
    energise(rig, hw, 5.0)
    rig.inject("sink_short")
    run(rig, hw, 0.05)
    assert not rig.physics.tripped                # DC: 6.4 mA, rail over load, no pause
    hw.output.gate_pulsed(1000, 0.8)
    run(rig, hw, 0.002)
    assert rig.physics.tripped
    run(rig, hw, 0.05)
    assert abs(rig.truth()["patient_ma"]) < 0.1
    hw.close()


@pytest.mark.hazard("H-OC-1")
def test_the_latch_cannot_be_reset_while_a_shorted_sink_conducts_with_the_gate_off(board):
    """Set-dominant, as the 35 mA comparator: TRIP_RESET clears nothing while the gate-off
    comparator still sees its condition (the shorted sink still conducting, the gate off)."""
    rig, hw = make_rig(board, load_ohm=9000.0)
    energise(rig, hw, 5.0)
    rig.inject("sink_short")
    hw.output.gate_pulsed(1000, 0.8)
    run(rig, hw, 0.0005)
    ph = rig.physics
    assert ph.tripped
    ph.sync()
    assert ph.sink_a * 1000.0 > 0.5        # the rail has not yet decayed: the sink conducts
    assert hw.guard.reset_trip() is False
    assert ph.tripped and ph.trip_events == 1
    hw.close()


def test_the_blanking_is_shorter_than_the_shortest_pulse_pause(board):
    """The comparator is armed gate_off_blanking_us after each falling edge; a pause shorter
    than that would never be watched."""
    shortest_pause_us = (1.0 - PULSE_DUTY[1]) / min(PULSE_HZ[1], board.pulse.max_hz) * 1e6
    assert board.protection.gate_off_blanking_us < 0.5 * shortest_pause_us
