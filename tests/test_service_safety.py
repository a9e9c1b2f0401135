"""The self-test and the technician's procedures with a welded patient relay and someone in the
water: the output's test current must not reach the patient, and the fault named must be the
relay (ST-RELAY). Judged on the simulator's ground truth: the true patient current."""

from __future__ import annotations

import pytest

from controller import selftest
from sim.scenario import Event, parse_scenario
from simtools.simrun import ScenarioRun

#: the welded relay: a short session whose relay welds; the patient stops it at 8 s and the
#: device is idle again (DONE shown for 10 s) by 25 s
WELD = [
    {"at_s": 1.0, "do": "press"},
    {"at_s": 5.0, "do": "fault", "fault": "patient_relay_welded"},
    {"at_s": 8.0, "do": "press"},
]


class Play:
    """A scenario played on the complete device program, with the ground truth of every
    control period: (time, device state, test load in, true peak mA, true mean mA)."""

    def __init__(self, events, *, end_s, target_ma=2.0, load_ohm=2000.0):
        raw = {"name": "service", "end_after_s": end_s,
               "protocol": {"site": "hands", "target_ma": target_ma, "duration_min": 5.0,
                            "ramp_ma_s": 1.0},
               "patient": {"load_ohm": load_ohm}, "event": events}
        self.run = ScenarioRun(parse_scenario(raw), None, trace=False)
        self.rows: list[tuple[float, str, bool, float, float]] = []
        self.console: list[str] = []
        ph = self.run.rig.physics
        truth = self.run.truth
        orig = truth.sample

        def sample():
            ph.sync()
            peak = ph.peak_seen_a * 1000.0
            orig()
            self.rows.append((self.run.clock.now(), self.run.program.controller.state,
                              ph.k_test, peak, truth.last_ma))
        truth.sample = sample

    def play(self):
        try:
            self.summary = self.run.run()
        finally:
            self.run.close()
        self.console = [e["detail"] for e in self.summary["events"] if e["kind"] == "console"]
        return self

    def after(self, t0):
        return [r for r in self.rows if r[0] >= t0]

    @staticmethod
    def over_s(rows, ma=0.1):
        """Time the true current was at or above ``ma`` (periods of 10 ms)."""
        return sum(0.01 for r in rows if r[3] >= ma or r[4] >= ma)


def assert_no_test_current(rows):
    """The bound on what hands that go into the water during a procedure get (a welded relay):
    nothing while the test load is in (the test-load relay is a changeover that opens the line
    to the trays, hardware/README.md), so no share of any test current, whenever the hands go
    in; then at most the open-output probe's 0.2 mA, which finds the weld. Nothing after the
    fault."""
    in_test = [r for r in rows if r[2]]
    assert max((max(r[3], r[4]) for r in in_test), default=0.0) <= 0.01
    assert max((r[3] for r in rows), default=0.0) <= selftest.OPEN_PROBE_MA + 0.05
    assert Play.over_s(rows) <= 0.05 + 1e-9
    faulted = [r for r in rows if r[1] == "FAULT"]
    assert faulted and Play.over_s(faulted[2:]) == 0.0


def login_then(lines, start=26.0):
    ev = [{"at_s": start, "do": "console", "line": "login 123456"}]
    for k, line in enumerate(lines):
        ev.append({"at_s": start + 2.0 * (k + 1), "do": "console", "line": line})
    return ev


# --- technician procedures with hands in the water ---------------------------------------------
@pytest.mark.hazard("H-RELAY-2")
@pytest.mark.parametrize("lines", [
    ["cal zero"],
    ["selftest"],
    ["fault clear"],  # nothing latched yet: it answers at once, then the self-test on demand
])
def test_a_procedure_with_a_welded_relay_and_hands_in_the_water_is_refused(lines):
    """A welded relay and hands still in the trays after a session: every procedure that
    drives the output is refused with ST-RELAY before any test current flows; the patient gets
    the open-output probe's 0.2 mA for at most 20 ms, nothing else."""
    p = Play(WELD + login_then(lines + ["selftest"]), end_s=34.0).play()
    rows = p.after(25.0)
    assert p.run.program.controller.fault.code == "ST-RELAY"
    assert any("ST-RELAY" in c and "take the hands out of the water" in c for c in p.console)
    peak = max(r[3] for r in rows)
    assert peak <= selftest.OPEN_PROBE_MA * 1.1
    # every probe: at most two periods above 0.1 mA, each procedure one probe
    assert p.over_s(rows) <= 0.02 * len(lines + ["selftest"]) + 1e-9
    assert not any(r[2] for r in rows)  # the test load never goes in: no test current


@pytest.mark.hazard("H-RELAY-2")
def test_cal_ref_with_a_welded_relay_and_hands_in_the_water_drives_no_current():
    """The sequence that put 3.3 mA through the patient for 0.4 s: a welded relay, the hands
    still in the trays, 'cal zero' then 'cal ref'. Now 'cal zero' is refused (ST-RELAY) and
    'cal ref' has nothing to work from; the true current stays at the probe's."""
    p = Play(WELD + login_then(["cal zero", "cal ref 10.0"]), end_s=32.0).play()
    rows = p.after(25.0)
    assert p.run.program.controller.fault.code == "ST-RELAY"
    assert any(c.startswith("cal ref") and "ERR" in c for c in p.console)
    assert max(r[3] for r in rows) <= selftest.OPEN_PROBE_MA * 1.1
    assert p.over_s(rows) <= 0.02 + 1e-9


@pytest.mark.hazard("H-RELAY-2")
@pytest.mark.parametrize("dip_after_s", [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5])
def test_hands_that_go_in_during_cal_ref_get_none_of_its_current(dip_after_s):
    """A welded relay, the hands out at the probe, back in while 'cal ref' drives 10 mA into
    the test load: the changeover keeps the trays off the line while the test load is in, and
    the probe after the procedure names the relay."""
    lift_t, ref_t = 24.0, 30.0
    events = WELD + [{"at_s": lift_t, "do": "lift"}] + login_then(["cal zero"]) + [
        {"at_s": ref_t, "do": "console", "line": "cal ref 10.0"},
        {"at_s": ref_t + dip_after_s, "do": "immerse"}]
    p = Play(events, end_s=ref_t + 2.0).play()
    rows = p.after(ref_t + dip_after_s)
    assert p.run.program.controller.fault.code == "ST-RELAY"
    assert not any("channel A gain" in c for c in p.console)  # no calibration from it
    assert_no_test_current(rows)


@pytest.mark.hazard("H-RELAY-2")
@pytest.mark.parametrize("again", ["cal zero", "selftest", "fault clear"])
def test_no_procedure_runs_while_st_relay_is_latched(again):
    """After the probe found the weld with the hands in (ST-RELAY), every procedure typed next
    would send the probe's current through the patient again (finding 18 of
    docs/safety/campaigns.md): each is refused, and nothing flows after the detection."""
    p = Play(WELD + login_then(["cal zero", again]), end_s=34.0).play()
    c = p.run.program.controller
    assert c.fault.code == "ST-RELAY"
    assert any(line.startswith(again) and "ERR REFUSED" in line and "switch the unit off"
               in line for line in p.console), p.console
    faulted = [r for r in p.rows if r[1] == "FAULT"]
    assert faulted and Play.over_s(faulted[5:]) == 0.0


# --- the self-test: hands going in at any moment ------------------------------------------------
SELFTEST_MOMENTS = [0.0, 0.03, 0.08, 0.12, 0.18, 0.24, 0.3, 0.36, 0.42, 0.46, 0.5, 0.55, 0.6,
                    0.65, 0.7, 0.75, 0.8, 0.85]


@pytest.mark.hazard("H-RELAY-2")
@pytest.mark.parametrize("dip_after_s", SELFTEST_MOMENTS)
def test_hands_that_go_in_during_the_self_test_never_share_its_test_current(dip_after_s):
    """A welded relay with the hands out of the water when START is pressed; the hands go in
    at some moment of the self-test. Whenever that is, the weld is found (ST-RELAY, the relay
    named, not the voltage sensor), no treatment follows, and the patient gets at most the
    probe's 0.2 mA, the pre-step's share or, for hands that go in while the 5 mA step holds,
    a share of it for the one period until the sample shows it."""
    press_t = 28.0
    events = WELD + [{"at_s": 24.0, "do": "lift"}, {"at_s": press_t, "do": "press"}]
    p = Play(events, end_s=press_t + 4.0)
    # the dip is timed from the moment the self-test starts
    started = []

    def watch(ev):
        if ev.kind == "state" and ev.code == "SELF_TEST" and ev.t >= press_t and not started:
            started.append(ev.t)
            p.run.player.pending.append(Event(ev.t + dip_after_s, "immerse", {}))
            p.run.player.pending.sort(key=lambda e: e.at_s)
    p.run.program.controller.events.listeners.append(watch)
    p.play()
    c = p.run.program.controller
    assert started
    assert c.fault is not None and c.fault.code == "ST-RELAY", c.fault
    states = [r[1] for r in p.after(press_t)]
    assert "WAIT_CONTACT" not in states and "RAMP_UP" not in states
    assert_no_test_current(p.after(started[0] + dip_after_s))


@pytest.mark.hazard("H-RELAY-2")
def test_hands_that_go_in_as_the_trip_test_starts_are_found_by_the_last_probe():
    """The one moment the samples cannot watch: the trip test's 36 mA lasts until the latch
    fires (about 3 ms), shorter than a conversion of all four channels. Hands that go into the
    water exactly as it is commanded (a welded relay) get none of it: the test-load relay's
    changeover has opened the line to the trays (with a plain relay across the output they
    shared it until the latch, 19.6 mA peak). The probe after the self-test names the relay
    before any session (docs/safety/hazard-analysis.md, H-RELAY-2)."""
    press_t = 28.0
    p = Play(WELD + [{"at_s": 24.0, "do": "lift"}, {"at_s": press_t, "do": "press"}],
             end_s=press_t + 3.0)
    ph = p.run.rig.physics
    write = ph.pin_written
    hit = []

    def pin_written(name, value, frequency):
        write(name, value, frequency)
        trip_cmd = value * ph._pwm_v * ph._ma_per_v > 30.0
        if (ph._role_of.get(name) == "setpoint" and trip_cmd and not hit
                and p.run.clock.now() > press_t):
            hit.append(p.run.clock.now())
            p.run.rig.immerse()
    ph.pin_written = pin_written
    p.play()
    assert hit
    c = p.run.program.controller
    assert c.fault.code == "ST-RELAY" and "after the self-test" in c.fault.message
    rows = p.after(hit[0])
    assert "WAIT_CONTACT" not in [r[1] for r in rows]
    assert_no_test_current(rows)
