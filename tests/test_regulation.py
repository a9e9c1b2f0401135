"""Closed-loop current on the full stack: accuracy, overshoot, load steps, compliance."""

from __future__ import annotations

from statistics import mean

import pytest

from conftest import device
from controller import Limits, Prescription
from controller.contact import HOLD_S
from controller.session import CAL_BUDGET


def measure_steady(dev, seconds=1.0):
    errs = []
    end = dev.clock.now() + seconds
    while dev.clock.now() < end:
        dev.run(0.01)
        errs.append(abs(dev.rig.physics.patient_ma))
    return errs


@pytest.mark.hazard("H-OC-1")
@pytest.mark.parametrize("sink_gain", [0.97, 1.03])
@pytest.mark.parametrize("load,target", [(500, 20.0), (2000, 20.0), (5000, 10.0),
                                         (10000, 5.0)])
def test_steady_state_error_and_ramp_overshoot(load, target, sink_gain):
    # the area entered is the patient's (150 cm2), so that the density guard does not bind at
    # 20 mA and the regulation alone is seen
    dev = device(Prescription(target_ma=target, duration_min=5, ramp_ma_s=1.0, area_cm2=150.0),
                 load_ohm=load, sink_gain=sink_gain)
    peak = [0.0]
    dev.loop.observers.append(
        lambda *_: peak.__setitem__(0, max(peak[0], abs(dev.rig.physics.patient_ma))))
    assert dev.start_and_treat()
    dev.run(3.0)
    currents = measure_steady(dev)
    # at the hands' limit (20 mA) the device holds the current CAL_BUDGET under it (the
    # calibration's error budget): that is the current it regulates to
    aim = min(target, 20.0 * (1.0 - CAL_BUDGET))
    tol = max(0.01 * aim, 0.05)
    assert max(abs(i - aim) for i in currents) <= tol
    assert peak[0] - aim <= 0.3


# A load rise is also what a hand half out of the water looks like; with the patient's area
# entered (150 cm2) and the density limit at its highest (0.5 mA/cm2) the density guard still
# allows the target after the step (a share of the load of up to 0.8 taken as not scaling with
# the area makes a 50 % rise read as 29 % of the area left), so the regulation alone is seen.
# test_density_guard_* covers the case where it does not.
@pytest.mark.parametrize("load,target", [(1000, 15.0), (2000, 15.0), (4000, 8.0)])
def test_a_50_percent_load_step_recovers_within_200_ms(load, target):
    dev = device(Prescription(target_ma=target, duration_min=5, ramp_ma_s=1.0, area_cm2=150.0),
                 load_ohm=load, sink_gain=0.98, limits=Limits(density_ma_cm2=0.5))
    assert dev.start_and_treat()
    dev.run(3.0)
    dev.rig.physics.sync()
    dev.rig.patient.load_ohm *= 1.5
    t0 = dev.clock.now()
    tol = max(0.01 * target, 0.05)
    settled_at = None
    while dev.clock.now() - t0 < 1.0:
        dev.run(0.01)
        ok = abs(abs(dev.rig.physics.patient_ma) - target) <= tol
        if ok and settled_at is None:
            settled_at = dev.clock.now()
        elif not ok:
            settled_at = None
    assert settled_at is not None and settled_at - t0 <= 0.2


@pytest.mark.hazard("H-DOSE-1")
def test_compliance_holds_the_highest_reachable_current_and_extends_the_time():
    # 10 kOhm at 15 mA needs 150 V; the rail gives 58: about 5.7 mA is reachable.
    rx = Prescription(target_ma=15.0, duration_min=5.0, ramp_ma_s=1.0)
    dev = device(rx, load_ohm=10_000)
    assert dev.start_and_treat(timeout=60.0)
    dev.run(5.0)
    reachable = 58.0 / (10_000 + 149.9) * 1000
    assert abs(dev.rig.physics.patient_ma) == pytest.approx(reachable, rel=0.02)
    warnings = [e.message for e in dev.controller.events.events if e.code == "COMPLIANCE"]
    assert warnings and "% of target" in warnings[0]
    sess = dev.controller.session
    assert sess.reduced_target_ma == pytest.approx(reachable * 0.97, rel=0.03)
    assert dev.run_until_state("DONE", 600.0)
    done = dev.controller.sessions_done[-1]
    assert done.outcome == "completed"
    assert done.treat_s == pytest.approx(1.5 * 300.0, abs=0.1)  # the +50 % cap: dose not reached
    assert done.treat_s > 300.0


@pytest.mark.hazard("H-OC-1")
def test_pulsed_dc_regulates_the_average_and_keeps_the_peak_within_limits():
    # the area entered is the patient's (150 cm2): the density guard does not bind
    rx = Prescription(site="hands", target_ma=15.0, duration_min=5.0, ramp_ma_s=1.0,
                      waveform="pulsed", pulse_hz=5000, pulse_duty=0.5, area_cm2=150.0)
    dev = device(rx)
    assert dev.start_and_treat()
    dev.run(2.0)
    # 15 mA average at 50 % would be a 30 mA peak: the average is cut to 10 mA (20 mA peak),
    # and the peak, at the hands' limit, held CAL_BUDGET under it (the calibration's budget).
    peak = 20.0 * (1.0 - CAL_BUDGET)
    assert abs(dev.rig.physics.patient_ma) == pytest.approx(peak / 2, abs=0.1)
    assert dev.truth.peak_ma <= 20.0
    assert dev.rig.truth()["patient_peak_ma"] == pytest.approx(peak, abs=0.2)


@pytest.mark.hazard("H-DENS-1")
def test_density_guard_cuts_the_current_when_a_hand_is_half_out():
    rx = Prescription(target_ma=20.0, duration_min=5.0, ramp_ma_s=1.0)
    dev = device(rx, load_ohm=1000)
    assert dev.start_and_treat()
    dev.run(2.0)
    dev.rig.set_contact(0.4)
    over = 0.0
    for _ in range(300):
        dev.run(0.01)
        area = dev.rig.patient.area_cm2 * dev.rig.patient.contact
        if abs(dev.rig.physics.patient_ma) / area > 0.2:
            over += 0.01
    assert over <= 0.2  # above the bound for at most 200 ms
    assert dev.truth.max_density_ma_cm2 <= 0.2 * 1.05
    assert any(e.code == "DENSITY-LIMIT" for e in dev.controller.events.events)


@pytest.mark.hazard("H-SHOCK-1")
def test_no_step_when_the_compliance_limit_lets_go():
    """Held at the compliance limit (8 kOhm: about 7 mA of 15), the load then falls to 2 kOhm
    (hands deeper in the water): the current may only climb back at the ramp's pace, never
    jump to the target.

    The hands are in the water at the contact check (2 kOhm) and then mostly lifted, so that
    the fall back to 2 kOhm is a hand going back in. A fall to a fourth of the lowest load seen
    with the hands fully in is no hand going deeper: the device takes it for a path beside the
    patient and holds the current (controller/contact.py; ``tests/test_contact.py``). The
    density limit is raised to the technician's highest (0.5 mA/cm2) so that the compliance
    limit, not the density guard, holds the current with the hands mostly out; so is the area
    (large hands, 200 cm2, entered as measured): the density guard takes the body's share of
    the load as the largest it can be (0.65 of 2 kOhm), and with the default area it would
    allow 5 mA at a tenth of the area, under the 7 mA the rail gives."""
    dev = device(Prescription(target_ma=15.0, duration_min=5.0, ramp_ma_s=1.0, area_cm2=200.0),
                 load_ohm=2000, area_cm2=200.0, limits=Limits(density_ma_cm2=0.5))
    assert dev.start_and_treat(timeout=60.0)
    dev.run(2.0)
    dev.rig.set_contact(0.8 / (4.0 - 0.2))          # 8 kOhm with the model's body share 0.2
    dev.run(10.0)
    assert dev.rig.physics.limited
    step_before = dev.truth.max_step_ma
    dev.rig.set_contact(1.0)
    dev.run(15.0)
    assert abs(dev.rig.physics.patient_ma) > 10.0  # it did climb back towards the target
    assert max(dev.truth.max_step_ma, step_before) <= 0.5


TRANSIENTS = {
    # both hands into one tray at 13.7 mA: the skin capacitance discharges backwards (reported
    # as peak_reverse_ma) and the forward current falls to zero (campaign seed 1, run 442)
    "trays-shorted": ({"seed": 1442, "end_after_s": 36.0,
                       "protocol": {"site": "hands", "target_ma": 13.72, "duration_min": 10.0,
                                    "ramp_ma_s": 1.0, "area_cm2": 143.6},
                       "patient": {"load_ohm": 506.9, "load_drift_per_min": -0.0194,
                                   "area_cm2": 143.6},
                       "event": [{"at_s": 1.0, "do": "press"},
                                 {"at_s": 33.804, "do": "short", "ohm": 175.8}]}, 0.52),
    # most of a hand lifted at 6 mA near compliance: the current falls to 3.5 mA and the skin
    # capacitance undershoots for one period (campaign seed 20261125, run 67, without its
    # irrelevant welded-relay fault)
    "hand-mostly-lifted": ({"seed": 933772235, "end_after_s": 20.0,
                            "protocol": {"site": "hands", "target_ma": 6.07,
                                         "duration_min": 6.0, "ramp_ma_s": 1.0,
                                         "area_cm2": 143.0},
                            "patient": {"load_ohm": 3690.5, "load_drift_per_min": -0.0003,
                                        "area_cm2": 143.0},
                            "event": [{"at_s": 1.0, "do": "press"},
                                      {"at_s": 7.481, "do": "lift"},
                                      {"at_s": 9.357, "do": "immerse"},
                                      {"at_s": 17.192, "do": "partial", "fraction": 0.191}]},
                           0.61),
}


@pytest.mark.hazard("H-SHOCK-1")
@pytest.mark.parametrize("name", sorted(TRANSIENTS))
def test_a_falling_current_with_a_circuit_transient_is_not_a_step(name):
    """The shock measure must not read the circuit's own settling after the patient changed it
    as a rise: two random-campaign runs once reported 0.52 and 0.61 mA "steps" in currents that
    only fell. Each is replayed exactly (the simulator is deterministic)."""
    from sim.scenario import parse_scenario
    from simtools.simrun import run_scenario
    doc, reported = TRANSIENTS[name]
    s = run_scenario(parse_scenario({"name": name, **doc}, f"{name}.toml"), None, trace=False)
    assert s["pauses"] >= 1 or s["reduced_target_ma"] is not None   # the device reacted
    assert s["max_step_ma"] <= 0.5 < reported
    if name == "trays-shorted":
        assert s["peak_reverse_ma"] > 1.0      # the discharge happened, reported apart


def _then(dev, what):
    """What the patient does after minutes with a hand partly out of the water."""
    rig = dev.rig
    if what == "hand-further-in":
        rig.set_contact(0.36)
    elif what == "hand-back-in":
        rig.set_contact(0.6)
    elif what == "bridge-removed":          # wet skin between the trays, above the short range
        rig.short(1500.0)
        dev.run(0.5)
        rig.unshort()
    elif what == "lifted-then-partly-back":
        rig.lift()
        dev.run(3.0)
        rig.set_contact(0.3)
    elif what == "paused-for-minutes":      # both electrodes in one tray: a pause, hands in
        rig.short(20.0)
        dev.run(240.0)
        rig.unshort()
    dev.run(20.0)


@pytest.mark.hazard("H-DENS-1")
@pytest.mark.parametrize("waveform", ["dc", "pulsed"])
@pytest.mark.parametrize("then", ["hand-further-in", "hand-back-in", "bridge-removed",
                                  "lifted-then-partly-back", "paused-for-minutes"])
def test_density_guard_does_not_follow_a_slow_fall_of_the_load(waveform, then):
    # Campaign finding 8 (seed 2, run 60 of whole sessions): with a hand partly out of the water
    # the skin's resistance kept falling, the same immersion looked deeper minute by minute and
    # the guard let the current creep up, over the bound in the end. Here the skin's resistance
    # falls 4 % a minute with 30 % of the area in the water for five minutes: the current must
    # not creep. Then the patient moves: a sudden fall of the load raises the allowed current
    # by that step only, not by the drift of the minutes before (a review found each of these
    # moves crediting the whole drift at once, up to 0.227 mA/cm2). Judged on the ground truth.
    pulsed = {"pulse_hz": 1000, "pulse_duty": 0.8} if waveform == "pulsed" else {}
    rx = Prescription(target_ma=20.0, duration_min=10.0, ramp_ma_s=1.0, waveform=waveform,
                      **pulsed)
    dev = device(rx, load_ohm=1000, load_drift_per_min=-0.04)
    assert dev.start_and_treat()
    dev.run(2.0)
    dev.rig.set_contact(0.3)
    dev.run(5.0)
    before = mean(measure_steady(dev))
    dev.run(300.0)                                  # the load falls by another fifth
    after = mean(measure_steady(dev))
    assert dev.rig.patient.load_ohm_at(dev.clock.now()) < 0.85 * 1000 * (0.2 + 0.8 / 0.3)
    assert after <= before * 1.01
    _then(dev, then)
    end = mean(measure_steady(dev))
    assert dev.controller.state == "TREAT"
    assert dev.truth.max_density_ma_cm2 <= 0.2      # 100 ms means
    assert dev.truth.density_over_s <= 0.02         # the periods before the first cut
    if then == "hand-back-in":                      # a hand going back in is still followed
        assert end >= 1.8 * after
    else:
        assert end <= after * 1.05 if then in ("lifted-then-partly-back",
                                                "paused-for-minutes") else end >= after


@pytest.mark.hazard("H-DENS-1")
@pytest.mark.parametrize("ramp", ["stop", "reversal"])
def test_the_density_guard_holds_on_the_way_down(ramp):
    # A review: the ramps down (the patient's stop, the polarity reversal at the prescribed
    # 1 mA/s) did not consult the density guard; a hand lifted to 30 % as the ramp began took
    # 0.43 mA/cm2 for seconds. Patients often lift their hands as a session ends.
    rx = Prescription(target_ma=20.0, duration_min=10.0, ramp_ma_s=1.0,
                      reverse_polarity=True)
    dev = device(rx, load_ohm=1000)
    assert dev.start_and_treat()
    if ramp == "stop":
        dev.press()
        assert dev.controller.state == "RAMP_DOWN"
    else:
        assert dev.run_until_state("REVERSING", 400.0)
    dev.rig.set_contact(0.3)
    dev.run(3.0)
    assert dev.truth.max_density_ma_cm2 <= 0.2
    assert dev.truth.density_over_s <= 0.02


@pytest.mark.hazard("H-DENS-1")
@pytest.mark.parametrize("waveform", ["dc", "pulsed"])
@pytest.mark.parametrize("fraction,seconds", [(0.3, 0.08), (0.6, 0.3), (0.7, 0.5)])
def test_after_a_short_dip_the_current_returns_to_the_target(waveform, fraction, seconds):
    # A review of the guard's first remedy for finding 8: a hand lifted for a moment and put
    # straight back left the estimated area (and the current) at half for the rest of the
    # session. With the density limit at 0.15 mA/cm2 the guard binds at full immersion here,
    # so a lost area shows as a lost current. The area entered is the patient's (150 cm2).
    pulsed = {"pulse_hz": 1000, "pulse_duty": 0.8} if waveform == "pulsed" else {}
    target = 18.0 if waveform == "dc" else 14.0
    rx = Prescription(target_ma=target, duration_min=10.0, ramp_ma_s=1.0, waveform=waveform,
                      area_cm2=150.0, **pulsed)
    dev = device(rx, load_ohm=2000, load_drift_per_min=-0.02,
                 limits=Limits(density_ma_cm2=0.15))
    assert dev.start_and_treat()
    dev.run(5.0)
    assert mean(measure_steady(dev)) >= 0.99 * target
    dev.rig.set_contact(fraction)
    dev.run(seconds)
    dev.rig.immerse()
    dev.run(30.0)
    assert mean(measure_steady(dev)) >= 0.99 * target
    assert dev.truth.density_over_s <= 0.05         # the periods before the cut at the dip


@pytest.mark.hazard("H-DENS-1")
@pytest.mark.parametrize("site,target,area,load,pulse_hz,duty,drift,fraction", [
    # campaign seed 20261125, runs 168 and 182 of the short profile: pulsed DC, a tenth to a
    # sixth of the area in the water, the load estimate biased near the compliance limit
    ("axillae", 1.74, 52.5, 1874.6, 1000, 0.5, -0.0068, 0.16),
    ("hands", 16.06, 159.6, 1015.2, 5000, 0.5, -0.0182, 0.101),
    # campaign seed 1, run 3 (whole sessions): feet at duty 0.3, 13 % immersed: the load
    # estimate's bias in pulsed DC made the area 13 % optimistic (pulsed_load_bias)
    ("feet", 17.51, 224.4, 1084.6, 10000, 0.3, -0.0078, 0.133),
    ("feet", 17.51, 224.4, 1084.6, 10000, 0.3, -0.0078, 0.05),
])
def test_density_stays_within_the_bound_at_deep_partial_immersion_in_pulsed_dc(
        site, target, area, load, pulse_hz, duty, drift, fraction):
    from sim.scenario import parse_scenario
    from simtools.simrun import run_scenario
    doc = {"name": "deep-partial", "seed": 7, "end_after_s": 60.0,
           "protocol": {"site": site, "target_ma": target, "duration_min": 5.0,
                        "waveform": "pulsed", "pulse_hz": pulse_hz, "pulse_duty": duty,
                        "ramp_ma_s": 1.0, "area_cm2": area},
           "patient": {"load_ohm": load, "load_drift_per_min": drift, "area_cm2": area},
           "event": [{"at_s": 1.0, "do": "press"},
                     {"at_s": 40.0, "do": "partial", "fraction": fraction}]}
    s = run_scenario(parse_scenario(doc, "deep-partial.toml"), None, trace=False)
    assert s["reduced_target_ma"] is not None          # the guard acted
    assert s["max_density_ma_cm2"] <= 0.2
    assert s["density_over_s"] <= 0.2


@pytest.mark.hazard("H-SHOCK-1")
def test_the_shock_measure_sees_a_hand_dipped_into_a_live_output(board):
    """The measure itself, on the hardware alone (no controller): with 10 mA commanded and the
    hands out of the water, dipping them in is a 10 mA step from the zero they held; a slow
    ramp from zero with the hands in the water is not."""
    from conftest import energise, make_rig, run
    from sim.truth import TruthRecorder

    rig, hw = make_rig(board, contact=0.0)
    truth = TruthRecorder(rig)
    energise(rig, hw, 10.0)
    for _ in range(20):
        run(rig, hw, 0.01)
        truth.sample()
    rig.immerse()
    for _ in range(20):
        run(rig, hw, 0.01)
        truth.sample()
    assert truth.max_step_ma > 5.0
    hw.close()

    rig, hw = make_rig(board)
    truth = TruthRecorder(rig)
    energise(rig, hw, 0.0)
    for k in range(200):   # 1 mA/s, the device's ramp
        hw.output.set_setpoint_ma(k * 0.01)
        run(rig, hw, 0.01)
        truth.sample()
    assert truth.last_ma > 1.5 and truth.max_step_ma < 0.2
    hw.close()


@pytest.mark.hazard("H-SHOCK-1")
def test_the_shock_measure_still_sees_steps_in_pulsed_dc_through_a_short(board):
    """In pulsed DC through a short every pulse pause carries a little reverse current; those
    periods are levels like any other, so a step of the current is still seen (a review found
    the measure blind there when such periods were left out of it)."""
    from conftest import energise, make_rig, run
    from sim.truth import TruthRecorder

    rig, hw = make_rig(board, load_ohm=2000.0)
    truth = TruthRecorder(rig)
    energise(rig, hw, 4.0)
    hw.output.gate_pulsed(1000.0, 0.5)
    rig.short(3000.0)
    for _ in range(100):
        run(rig, hw, 0.01)
        truth.sample()
    assert truth.peak_reverse_ma > 0.0 and truth.max_step_ma < 0.5
    hw.output.set_setpoint_ma(10.0)   # a 6 mA step of the pulse current
    for _ in range(20):
        run(rig, hw, 0.01)
        truth.sample()
    assert truth.max_step_ma > 1.0
    hw.close()


@pytest.mark.hazard("H-DENS-1")
def test_feet_in_pulsed_dc_partly_out_before_the_first_ramp_stay_within_the_bound():
    """The random campaign's seed 1, run 1327 of the short profile: feet, pulsed at duty 0.3
    and 5 kHz, 544 ohm; the feet went to 15.5 % immersed before the first ramp. On a model that
    took the trays to zero in the pulse pauses, the pulsed load estimate read a third of the
    truth, the session paused and ramped up against the contact check's DC reference, and the
    true density stayed at 0.267 mA/cm2 for 36.6 s (docs/safety/campaigns.md, finding 10)."""
    from sim.scenario import parse_scenario
    from simtools.simrun import run_scenario
    doc = {"name": "campaign-short-1-1327", "seed": 2327, "end_after_s": 55.2,
           "protocol": {"site": "feet", "target_ma": 19.04, "duration_min": 5.0,
                        "waveform": "pulsed", "pulse_hz": 5000, "pulse_duty": 0.3,
                        "ramp_ma_s": 0.5, "area_cm2": 181.1},
           "patient": {"load_ohm": 543.6, "load_drift_per_min": -0.0098, "area_cm2": 181.1},
           "event": [{"at_s": 1.0, "do": "press"},
                     {"at_s": 6.892, "do": "partial", "fraction": 0.155}]}
    s = run_scenario(parse_scenario(doc, "campaign-short-1-1327.toml"), None, trace=False)
    assert s["treatment_s"] > 20.0                     # it treated
    assert s["max_density_ma_cm2"] <= 0.2
    assert s["density_over_s"] <= 0.2


@pytest.mark.hazard("H-DOSE-1")
@pytest.mark.parametrize("duty,load,target", [(0.5, 3000.0, 10.0), (0.3, 3500.0, 6.0)])
def test_pulsed_dc_away_from_compliance_reaches_its_target_with_a_weak_sink(duty, load,
                                                                            target):
    """A sink 4 % weaker than its calibration (within the self-test's 5 %) in pulsed DC, far
    from the compliance limit: the PI loop must make up the difference. When the pulse-on
    voltage was taken as the averaged voltage over the duty (all of the load as series), these
    sessions read as near compliance, the headroom clamp held the current at 8.67 mA for 10 and
    a false COMPLIANCE warning extended the session (a review of finding 10's fix)."""
    rx = Prescription(site="hands", target_ma=target, duration_min=5.0, ramp_ma_s=1.0,
                      waveform="pulsed", pulse_hz=5000, pulse_duty=duty)
    dev = device(rx, load_ohm=load, sink_gain=0.96)
    assert dev.start_and_treat()
    # at these loads the skin test cannot judge the smallest adult hands (110 cm2), so the
    # start is held for HOLD_S under 0.5 mA before the ramp goes on (controller/contact.py)
    dev.run(10.0 + HOLD_S)
    # the pulse peak is at the hands' limit: held CAL_BUDGET under it (the calibration's budget)
    aim = min(target, 20.0 * (1.0 - CAL_BUDGET) * duty)
    assert mean(measure_steady(dev, 2.0)) >= 0.99 * aim
    assert not any(e.code == "COMPLIANCE" for e in dev.controller.events.events)


@pytest.mark.hazard("H-SITE-1", "H-OC-1")
def test_a_childs_pulse_peak_stays_within_the_limit_when_a_hand_goes_back_in():
    """The random campaign's seed 1, run 3960 of the short profile: a child's hands, pulsed at
    duty 0.3, the average reduced to 4.5 mA so that the peak is the child's 15 mA. With only
    40 % of the hands' area in the water the compliance voltage came in; the headroom clamp let
    the command stand 0.3 mA of average (1 mA of peak) above the held current, and when the
    hand went back in the true peak rose to 15.56 mA (docs/safety/campaigns.md, finding 13)."""
    from sim.scenario import parse_scenario
    from simtools.simrun import run_scenario
    doc = {"name": "campaign-short-1-3960", "seed": 4960, "end_after_s": 40.0,
           "protocol": {"site": "hands", "target_ma": 5.16, "duration_min": 10.0,
                        "waveform": "pulsed", "child": True, "ramp_ma_s": 1.0,
                        "area_cm2": 122.4, "reverse_polarity": True, "pulse_hz": 1000,
                        "pulse_duty": 0.3},
           "patient": {"load_ohm": 4824.2, "load_drift_per_min": -0.0037, "area_cm2": 122.4},
           "event": [{"at_s": 1.0, "do": "press"},
                     {"at_s": 11.913, "do": "partial", "fraction": 0.403},
                     {"at_s": 16.817, "do": "immerse"}]}
    s = run_scenario(parse_scenario(doc, "campaign-short-1-3960.toml"), None, trace=False)
    assert s["treatment_s"] > 25.0                     # it treated through the lift
    assert s["peak_ma"] <= 15.0 + 0.3                  # the campaign's bound for the site limit


def test_a_short_during_treatment_does_not_poison_the_density_reference():
    dev = device(Prescription(target_ma=15.0, duration_min=5.0, ramp_ma_s=1.0))
    assert dev.start_and_treat()
    dev.rig.short(20.0)
    dev.run(2.0)
    dev.rig.unshort()
    assert dev.run_until_state("TREAT", 30.0)
    dev.run(2.0)
    assert abs(dev.rig.physics.patient_ma) == pytest.approx(15.0, rel=0.01)
