"""SELECT: the patient's "lower" during a session and the choice of a profile in IDLE
(controller/comfort.py, firmware/course.py). Judged on the simulator's ground truth: the true
patient current, period by period."""

from __future__ import annotations

import bisect
import json

import pytest
from test_course_device import add, make, run_until, start

from conftest import device
from controller import PERIOD, Prescription
from controller.course import COMFORT_FLOOR_MA, Profile
from controller.select_button import SelectButton


def sampled(dev):
    """(t, true patient current) after every period from now on."""
    out: list[tuple[float, float]] = []
    dev.loop.observers.append(lambda loop, inp, cmd: out.append((inp.now, dev.truth.last_ma)))
    return out


def steepest(samples, lo, hi, rate):
    """The largest change of the true current over any window of 100 ms that starts within
    [lo, hi], beyond what the ramp ``rate`` (mA/s) allows over the window (mA), and the sign of
    that change. The bound a test puts on it is one period's step of the ramp: the regulator
    leads a rising reference by about that much, and when the reference turns from rising to
    falling (a press in the ramp up) the lead comes off in the first period (measured: 0.0544
    mA in 100 ms at 0.5 mA/s there, 0.0515 mA on a fall from a steady level)."""
    ts = [t for t, _ in samples]
    worst, sign = -1.0, 0
    for t, i in samples:
        if not lo <= t <= hi:
            continue
        j = bisect.bisect_left(ts, t + 0.1 - 1e-9)
        if j >= len(samples):
            break
        d = samples[j][1] - i
        over = abs(d) - rate * (samples[j][0] - t)
        if over > worst:
            worst, sign = over, (1 if d > 0 else -1)
    return worst, sign


def codes(dev, code):
    return [e for e in dev.controller.events.events if e.code == code]


# --- the button ---------------------------------------------------------------------------------
def test_select_is_debounced_and_one_press_however_long_it_is_held():
    seen = []
    b = SelectButton(seen.append)
    t = 0.0
    for raw in [True] * 3 + [False] * 10:          # a 30 ms blip: no press
        b.update(t, raw)
        t += 0.01
    assert seen == []
    for raw in [True] * 2000 + [False] * 10:       # held 20 s: one press, at 40 ms
        b.update(t, raw)
        t += 0.01
    assert len(seen) == 1
    for raw in [True] * 10 + [False] * 10:
        b.update(t, raw)
        t += 0.01
    assert len(seen) == 2


# --- lowering during a session ------------------------------------------------------------------
@pytest.mark.hazard("H-COMFORT-1", "H-SHOCK-1")
def test_a_press_in_treatment_lowers_1_ma_at_the_ramp_rate_and_the_session_goes_on():
    rx = Prescription(target_ma=12.0, duration_min=5.0, ramp_ma_s=0.5, reverse_polarity=False)
    dev = device(rx)
    assert dev.start_and_treat()
    dev.run(5.0)
    samples = sampled(dev)
    before = dev.truth.last_ma
    t0 = dev.clock.now()
    dev.select()
    dev.run(6.0)
    assert before == pytest.approx(12.0, abs=0.1)
    # no step: the fall is the prescribed ramp's, and nothing rises
    over, sign = steepest(samples, t0, dev.clock.now() - 0.2, rx.ramp_ma_s)
    assert sign < 0 and over <= rx.ramp_ma_s * PERIOD
    assert max(i for _, i in samples) <= before + 0.02
    # settled at the lowered level
    dev.run(5.0)
    assert dev.truth.last_ma == pytest.approx(11.0, abs=0.1)
    assert dev.controller.target_now_ma == pytest.approx(11.0)
    assert len(codes(dev, "COMFORT-LOWER")) == 1 and dev.state == "TREAT"
    # to the end of the prescribed time at that level, neither cut nor extended
    assert dev.run_until_state("RAMP_DOWN", 400.0)
    assert max(i for t, i in samples if t > t0 + 5.0) <= 11.05
    sess = dev.run_until_state("DONE", 60.0) and dev.controller.sessions_done[-1]
    assert sess.outcome == "completed" and sess.comfort_lowest_ma == pytest.approx(11.0)
    assert sess.treat_s == pytest.approx(300.0, abs=0.05) and sess.lowest_target_ma is None
    assert dev.truth.treatment_s >= 299.0


@pytest.mark.hazard("H-STOP-1", "H-COMFORT-1")
def test_start_during_a_lowering_stops_the_session_within_5_s():
    rx = Prescription(target_ma=12.0, duration_min=5.0, ramp_ma_s=0.5, reverse_polarity=False)
    dev = device(rx)
    assert dev.start_and_treat()
    dev.run(2.0)
    samples = sampled(dev)
    dev.select()
    dev.run(0.5)                                   # the lowering is under way
    assert dev.controller.comfort.ceiling > dev.controller.comfort.level
    t_press = dev.clock.now()
    dev.press(hold_s=0.1)
    assert dev.run_until(lambda d: abs(d.rig.physics.patient_ma) < 0.01, 6.0)
    assert dev.clock.now() - t_press <= 5.2
    assert dev.run_until_state("DONE", 2.0)
    assert dev.controller.sessions_done[-1].outcome == "stopped"
    assert max(i for _, i in samples) <= 12.02     # nothing rose on the way


@pytest.mark.hazard("H-COMFORT-1")
def test_a_press_in_the_ramp_up_ends_it_below_where_it_was_and_never_under_the_floor():
    rx = Prescription(target_ma=12.0, duration_min=5.0, ramp_ma_s=0.5, reverse_polarity=False)
    dev = device(rx)
    dev.run_until_state("IDLE", 5.0)
    dev.press()
    assert dev.run_until(lambda d: d.state == "RAMP_UP" and d.truth.last_ma >= 5.0, 60.0)
    samples = sampled(dev)
    at_press = dev.truth.last_ma
    dev.select()
    assert dev.run_until_state("TREAT", 20.0)
    dev.run(5.0)
    assert max(i for _, i in samples) <= at_press + 0.1      # the ramp stopped at the press
    assert dev.truth.last_ma == pytest.approx(at_press - 1.0, abs=0.15)
    for _ in range(8):                                        # pressed again and again
        dev.select()
        dev.run(4.0)
    dev.run(3.0)
    assert dev.truth.last_ma == pytest.approx(COMFORT_FLOOR_MA, abs=0.05)
    assert codes(dev, "COMFORT-FLOOR")
    assert max(i for t, i in samples if t > samples[0][0] + 1.0) <= at_press + 0.1
    over, _ = steepest(samples, samples[0][0], dev.clock.now() - 0.2, rx.ramp_ma_s)
    assert over <= rx.ramp_ma_s * PERIOD


@pytest.mark.hazard("H-COMFORT-1", "H-SHOCK-1")
def test_a_press_in_a_pause_lowers_the_level_the_session_comes_back_to():
    rx = Prescription(target_ma=10.0, duration_min=5.0, ramp_ma_s=1.0, reverse_polarity=False)
    dev = device(rx)
    assert dev.start_and_treat()
    dev.run(2.0)
    dev.rig.lift()
    assert dev.run_until_state("PAUSED", 1.0)
    dev.select()
    assert codes(dev, "COMFORT-LOWER")
    samples = sampled(dev)
    dev.rig.immerse()
    assert dev.run_until_state("TREAT", 30.0)
    dev.run(3.0)
    assert max(i for _, i in samples) <= 9.05
    assert dev.truth.last_ma == pytest.approx(9.0, abs=0.1)


@pytest.mark.parametrize("when", ["power-on self-test", "session self-test", "wait contact",
                                  "ramp down", "technician self-test"])
def test_select_is_refused_where_there_is_nothing_to_lower_and_nothing_changes(when):
    rx = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0)
    dev = device(rx, contact=0.0 if when == "wait contact" else 1.0)
    c = dev.controller
    if when == "power-on self-test":
        dev.run(0.3)
        assert dev.state == "SELF_TEST"
    else:
        dev.run_until_state("IDLE", 5.0)
        if when == "technician self-test":
            c.start_service(dev.clock.now(), c.selftest_sequence(), lambda *_: None)
            dev.run(0.1)
            assert dev.state == "SERVICE"
        else:
            dev.press()
            if when == "session self-test":
                assert dev.state == "SELF_TEST" and c.session is not None
            elif when == "wait contact":
                assert dev.run_until_state("WAIT_CONTACT", 3.0)
            else:
                assert dev.run_until_state("TREAT", 30.0)
                dev.press()
                assert dev.state == "RAMP_DOWN"
    state = dev.state
    dev.select()
    refused = codes(dev, "SELECT-REFUSED")
    assert len(refused) == 1 and "SELECT pressed" in refused[0].message
    assert c.comfort.level is None and not codes(dev, "COMFORT-LOWER")
    assert dev.state == state or state != "IDLE"   # the sequence in progress went on


def test_without_a_course_select_in_idle_says_there_is_no_profile_to_choose():
    dev = device()
    dev.run_until_state("IDLE", 5.0)
    dev.select()
    (ev,) = codes(dev, "SELECT-REFUSED")
    assert "profile" in ev.message and dev.state == "IDLE"


# --- the unit: profiles, the log, the next session -----------------------------------------------
def presses(prog, rig, n=1):
    for _ in range(n):
        rig.set_select_button(True)
        run_until(prog, lambda: False, 0.2)
        rig.set_select_button(False)
        run_until(prog, lambda: False, 0.2)


def test_select_in_idle_cycles_the_profiles_audited_from_the_panel(tmp_path, board):
    prog, rig, truth = make(tmp_path, board)
    try:
        first = prog.course.active
        add(prog, "anna", prescription=Prescription(target_ma=8.0, duration_min=5.0))
        add(prog, "ben", prescription=Prescription(site="feet", target_ma=14.0,
                                                   duration_min=5.0))
        prog.course.select(first)
        assert run_until(prog, lambda: prog.controller.state == "IDLE", 5)
        seen = []
        for _ in range(3):
            presses(prog, rig)
            seen.append((prog.course.active, prog.controller.rx.site,
                         prog.controller.rx.target_ma))
        assert seen == [("anna", "hands", 8.0), ("ben", "feet", 14.0), (first, "hands", 5.0)]
        said = [e.message for e in prog.controller.events.events
                if e.code == "PROFILE-SELECTED"]
        assert len(said) == 3 and said[0].startswith("anna selected (hands, 8 mA")
        trail = [r for r in prog.log.audit_rows() if r["action"] == "profile select"]
        assert [(r["console"], r["old"], r["new"]) for r in trail] == [
            ("panel", first, "anna"), ("panel", "anna", "ben"), ("panel", "ben", first)]
        assert truth.peak_ma < 1e-6                # choosing a profile drives no current
    finally:
        prog.shutdown()


def lower_in_session(prog, rig, n):
    """START, n presses of SELECT once treating, then to the end of the session."""
    start(prog)
    assert run_until(prog, lambda: prog.controller.state == "TREAT", 60)
    run_until(prog, lambda: False, 2.0)
    presses(prog, rig, n)
    assert run_until(prog, lambda: prog.controller.state in ("DONE", "IDLE")
                     and prog.controller.sessions_done, 900)


@pytest.mark.hazard("H-COMFORT-1", "H-REC-1")
def test_the_next_session_starts_at_the_comfort_level_and_rises_1_ma_a_session(tmp_path, board):
    rx = Prescription(target_ma=6.0, duration_min=5.0, ramp_ma_s=1.0, reverse_polarity=False)
    prog, rig, truth = make(tmp_path, board, rx=rx)
    try:
        pid = prog.course.active
        lower_in_session(prog, rig, 3)                       # 6 -> 3 mA
        rows = prog.log.sessions_of(pid)
        assert rows[-1]["comfort_lowest_ma"] == pytest.approx(3.0)
        profile, _ = prog.course.profile(pid)
        assert profile.comfort_ma == pytest.approx(4.0)
        assert [e["code"] for e in prog.log.course_events_of(pid)
                if e["kind"] == "comfort"] == ["COMFORT-LOWERED"]
        assert any(r["console"] == "device" and r["action"] == "profile change"
                   for r in prog.log.audit_rows())
        targets, peaks = [], []
        for _ in range(3):                                    # the days after, not lowered
            # the too-soon caps are the plan's: let each session through as the technician would
            prog.course.save(*_with_override(prog, pid), "test")
            truth.peak_ma = 0.0
            run_until(prog, lambda: False, 11.0)
            events_before = len(prog.controller.events.events)
            lower_in_session(prog, rig, 0)
            targets.append(json.loads(prog.log.sessions_of(pid)[-1]["prescription"])
                           ["target_ma"])
            peaks.append(truth.peak_ma)
            new = [e.code for e in prog.controller.events.events[events_before:]]
            assert ("COMFORT-START" in new) == (targets[-1] < rx.target_ma)
        assert targets == [4.0, 5.0, 6.0]                     # 1 mA a session, then the rx
        for target, peak in zip(targets, peaks, strict=True):  # on the ground truth
            assert peak <= target + 0.15
        assert [s["comfort_lowest_ma"] for s in prog.log.sessions_of(pid)][1:] == [None] * 3
        assert prog.course.profile(pid)[0].comfort_ma is None
    finally:
        prog.shutdown()


def _with_override(prog, pid):
    profile, extras = prog.course.profile(pid)
    now = prog.course.calendar.now()
    return profile, {**extras, "override": {"granted_at": now.isoformat(timespec="seconds"),
                                            "by": "test", "reason": "next visit"}}


def test_profile_show_says_why_and_comfort_reset_is_audited(tmp_path, board):
    from firmware.console import TechConsole, set_pin
    from firmware.run_device import SIM_PIN
    rx = Prescription(target_ma=6.0, duration_min=5.0, ramp_ma_s=1.0, reverse_polarity=False)
    prog, rig, truth = make(tmp_path, board, rx=rx)
    set_pin(tmp_path, SIM_PIN)
    out: list[bytes] = []
    con = TechConsole(prog, out.append)

    def type_(line):
        out.clear()
        con.feed(line.encode() + b"\n")
        run_until(prog, lambda: False, 0.05)
        return b"".join(out).decode()
    try:
        pid = prog.course.active
        lower_in_session(prog, rig, 2)                     # 6 -> 4 mA: the next at 5 mA
        run_until(prog, lambda: prog.controller.state == "IDLE", 15)
        type_(f"login {SIM_PIN}")
        shown = type_(f"profile show {pid}")
        assert "comfort: 5 mA (lowered to 4 mA by the patient on " in shown
        assert "comfort=reset" in shown
        reply = type_(f"profile set {pid} comfort=reset")
        assert "comfort: the prescription" in reply
        assert prog.course.profile(pid)[0].comfort_ma is None
        last = [r for r in prog.log.audit_rows() if r["action"] == "profile change"][-1]
        assert json.loads(last["old"])["comfort_ma"] == 5.0
        assert json.loads(last["new"])["comfort_ma"] is None
        assert last["console"] != "device"
    finally:
        prog.shutdown()


def test_the_comfort_rule_after_a_session():
    from controller.course import comfort_after_session as after
    assert after(15.0, None, 10.0, counted=True) == 11.0
    assert after(15.0, None, 10.0, counted=False) == 11.0    # a lowering counts however short
    assert after(15.0, 11.0, None, counted=True) == 12.0     # rises 1 mA
    assert after(15.0, 11.0, None, counted=False) == 11.0    # not shown comfortable: stays
    assert after(15.0, 14.0, None, counted=True) is None      # the prescription again
    assert after(15.0, 12.0, 9.0, counted=True) == 10.0
    assert after(15.0, None, None, counted=True) is None
    assert after(15.0, None, None, counted=False) is None
    assert Profile  # the field it sets is Profile.comfort_ma (tests/test_course.py)


@pytest.mark.hazard("H-COMFORT-1")
def test_a_comfort_level_that_cannot_be_saved_latches_a_fault(tmp_path, board, monkeypatch):
    """The patient lowered the current and the log refuses the lower level: the next session
    must not start above it, so the unit latches SW-ERROR (the technician's) rather than go on
    as if nothing was chosen."""
    rx = Prescription(target_ma=6.0, duration_min=5.0, ramp_ma_s=1.0, reverse_polarity=False)
    prog, rig, truth = make(tmp_path, board, rx=rx)
    try:
        c = prog.controller
        start(prog)
        assert run_until(prog, lambda: c.state == "TREAT", 60)
        run_until(prog, lambda: False, 2.0)
        presses(prog, rig, 2)

        def full(*_a, **_k):
            raise OSError("disk full")
        monkeypatch.setattr(prog.course, "save", full)
        assert run_until(prog, lambda: c.sessions_done, 900)
        run_until(prog, lambda: c.state == "FAULT", 1.0)
        assert c.state == "FAULT" and c.fault.code == "SW-ERROR"
        assert "disk full" in c.fault.message
        assert abs(rig.truth()["patient_ma"]) < 0.01
    finally:
        prog.shutdown()
