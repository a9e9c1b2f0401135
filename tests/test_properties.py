"""Property-based tests: the full stack (controller, real HAL, simulator) driven through random
patients, load trajectories, lifts, partial immersions, shorts, button presses and faults,
judged on the ground truth:

- the true current never exceeds the site limit (pulse peaks included);
- the true current density exceeds 0.2 mA/cm2 for at most 200 ms at a time;
- while in contact, the 10 ms-averaged true current never rises by more than 0.5 mA in 100 ms;
- every fault ends in the safe state.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from conftest import device
from controller import Prescription
from controller.contact import HOLD_S
from simtools.faultmatrix import DEFERRED_MA

ACTIONS = st.one_of(
    st.tuples(st.just("lift"), st.just(0.0)),
    st.tuples(st.just("immerse"), st.just(0.0)),
    st.tuples(st.just("partial"), st.floats(0.05, 0.95)),
    st.tuples(st.just("short"), st.floats(5.0, 250.0)),
    st.tuples(st.just("unshort"), st.just(0.0)),
    st.tuples(st.just("press"), st.just(0.0)),
    st.tuples(st.just("load"), st.floats(0.6, 1.6)),
)
TIMELINE = st.lists(st.tuples(st.floats(0.05, 6.0), ACTIONS), min_size=1, max_size=8)
FAULTS = st.sampled_from(["sink_short", "pwm_stuck", "sense_a_gain", "sense_b_open",
                          "adc_absent", "adc_stuck", "hv_sag", "hv_over", "patient_relay_welded",
                          "loop_stall"])


#: faults of the current sensing: a gain error or a dead channel shows only once the current is up
SENSE_FAULTS = ("sense_a_gain", "sense_b_open")


class Watch:
    """Per-period ground-truth checks that need more than the recorder's maxima."""

    def __init__(self, dev):
        self.dev = dev
        self.over_since = None
        self.longest_over = 0.0
        self.peak_after = None  # the highest true current since :meth:`arm`

    def arm(self):
        self.peak_after = 0.0

    def __call__(self, *_):
        dev = self.dev
        if self.peak_after is not None:
            self.peak_after = max(self.peak_after, abs(dev.truth.last_ma))
        area = dev.rig.patient.area_cm2 * dev.rig.patient.contact
        now = dev.clock.now()
        dens = abs(dev.truth.last_ma) / area if area > 0 else 0.0
        if dens > 0.2:
            if self.over_since is None:
                self.over_since = now - 0.01
            self.longest_over = max(self.longest_over, now - self.over_since)
        else:
            self.over_since = None


def act(dev, action, value):
    rig = dev.rig
    if action == "lift":
        rig.lift()
    elif action == "immerse":
        rig.immerse()
    elif action == "partial":
        rig.set_contact(value)
    elif action == "short":
        rig.short(value)
    elif action == "unshort":
        rig.unshort()
    elif action == "press":
        dev.press(0.1)
    elif action == "load":
        rig.physics.sync()
        rig.patient.load_ohm = min(12_000.0, max(400.0, rig.patient.load_ohm * value))


def check(dev, watch, limit, *, steps=True):
    t = dev.truth
    assert t.peak_ma <= limit + 0.3, f"true current {t.peak_ma:.2f} mA above {limit} mA"
    assert watch.longest_over <= 0.2 + 1e-9, f"density above bound for {watch.longest_over} s"
    if steps:
        assert t.max_step_ma <= 0.5, f"step of {t.max_step_ma:.3f} mA at {t.max_step_at}"


# Each example simulates a minute of the whole device; shrinking would re-run dozens, so it is
# off: a failure prints its example, which replays exactly (the simulator is deterministic).
# The examples are derandomized so that CI is reproducible; IONTO_HYPOTHESIS_EXAMPLES=N with
# IONTO_HYPOTHESIS_RANDOM=1 explores further (and `ionto sim campaign` hunts at scale).
PROPS = settings(max_examples=int(os.environ.get("IONTO_HYPOTHESIS_EXAMPLES", "10")),
                 deadline=None, suppress_health_check=list(HealthCheck),
                 phases=[Phase.explicit, Phase.reuse, Phase.generate], print_blob=True,
                 derandomize=not os.environ.get("IONTO_HYPOTHESIS_RANDOM"))


@pytest.mark.hazard("H-OC-1", "H-DENS-1", "H-SHOCK-1")
@PROPS
@given(target=st.floats(2.0, 20.0), load=st.floats(500.0, 10_000.0),
       drift=st.floats(-0.02, 0.0), timeline=TIMELINE, seed=st.integers(0, 1000),
       pulsed=st.booleans())
def test_random_sessions_keep_the_safety_properties(target, load, drift, timeline, seed,
                                                    pulsed):
    rx = Prescription(target_ma=target, duration_min=5.0, ramp_ma_s=1.0,
                      waveform="pulsed" if pulsed else "dc", pulse_duty=0.6)
    dev = device(rx, load_ohm=load, seed=seed, load_drift_per_min=drift)
    watch = Watch(dev)
    dev.loop.observers.append(watch)
    dev.run_until_state("IDLE", 2.0)
    dev.press()
    dev.run(8.0)
    for wait, (action, value) in timeline:
        act(dev, action, value)
        dev.run(wait)
    dev.run(3.0)
    check(dev, watch, 20.0)


@pytest.mark.hazard("H-OC-2", "H-SENSE-2", "H-SUPPLY-1", "H-HANG-1")
@PROPS
@given(fault=FAULTS, when=st.floats(1.0, 20.0), load=st.floats(500.0, 5000.0),
       target=st.floats(5.0, 20.0), seed=st.integers(0, 1000))
# found by CI: a gain error injected at the contact probe of a 4.9 kohm patient, whose start the
# skin test holds at 0.43 mA for HOLD_S; caught when the ramp goes on (SENSE_FAULTS below)
@example(fault="sense_a_gain", when=1.5, load=4938.076791179349, target=15.449706265186611,
         seed=601)
def test_every_fault_ends_in_the_safe_state(fault, when, load, target, seed):
    rx = Prescription(target_ma=target, duration_min=5.0, ramp_ma_s=1.0)
    dev = device(rx, load_ohm=load, seed=seed)
    watch = Watch(dev)
    dev.loop.observers.append(watch)
    dev.run_until_state("IDLE", 2.0)
    dev.press()
    dev.run(when)
    dev.rig.inject(fault)
    watch.arm()
    dev.run(3.0)
    # Under a component fault the independent series limiter (31 mA) is the bound; the device
    # must be safe again within the deadlines test_safety.py checks.
    # A shorted sink or a stuck setpoint is itself a step, and a collapsing rail drops the
    # current and lets it rebound as the skin capacitance settles; the bound is then the
    # limiter and the deadline, not the shock measure.
    check(dev, watch, dev.board.protection.limiter_ma,
          steps=fault not in ("sink_short", "pwm_stuck", "hv_sag"))
    if fault == "patient_relay_welded":
        return  # latent: harmless while treating; the next self-test finds it (test_safety)
    if fault in ("sink_short", "pwm_stuck") and dev.state != "FAULT":
        # At the compliance limit a shorted sink delivers what the regulated one did: nothing
        # to see until the current should change. Stop the session: it must not follow.
        dev.press(0.1)
        dev.run(6.0)
        check(dev, watch, dev.board.protection.limiter_ma, steps=False)
    if fault in SENSE_FAULTS and dev.state != "FAULT":
        # A sensing fault at a current held low (the contact probe; the skin test's hold at a
        # high load, HOLD_S from the ramp's start) is a difference below the agreement rule's
        # floor: it lies dormant until the current rises, and must be caught before the true
        # current passes DEFERRED_MA (the fault matrix's deferred cells, the same bound).
        dev.run_until_state("FAULT", HOLD_S + 5.0)
        dev.run(3.0)  # the safe state's deadlines, as after the injection above
        assert watch.peak_after <= DEFERRED_MA, \
            f"{fault}: true current {watch.peak_after:.2f} mA before it was caught"
    assert dev.state == "FAULT", f"{fault} at {when:.1f} s left the device in {dev.state}"
    truth = dev.rig.truth()
    assert abs(truth["patient_ma"]) < 0.1 and truth["supply_v"] < 1.0
