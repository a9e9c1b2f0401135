"""The course on the device program: the gate at START, the dates from the real-time clock, what
counts as a treatment, the medication mode's prescription, the advice after a session. Judged on
the simulator's ground truth (no current at a refusal) and on the treatment log."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from conftest import screened
from controller import Limits, Prescription
from controller.course import Profile, Screening
from controller.rating import QUIET_S, RATE_ASK_S
from firmware import calibration as calmod
from firmware import settings
from firmware.course import RtcCalendar, counts
from firmware.device import DeviceProgram
from firmware.sdnotify import Notifier
from hal import build_hardware
from sim.patient import Patient
from sim.rig import RTC_START, SimRig
from sim.truth import TruthRecorder

RX = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0)
NO = {"pregnancy": False, "epilepsy": False, "heart_condition": False, "implant": False}


def make(tmp_path, board, *, rx=RX, load_ohm=2000.0, rtc_start=RTC_START, screen=True,
         read_clock_at_start=True):
    calmod.save(tmp_path, calmod.Calibration.nominal(board), board)
    settings.save(tmp_path, rx=rx.validated(), limits=Limits())
    rig = SimRig(board, patient=Patient(load_ohm=load_ohm), rtc_start=rtc_start)
    hw = build_hardware(board, **rig.hardware_kwargs())
    prog = DeviceProgram(hw, rig.clock, board=board, data_dir=tmp_path,
                         notifier=Notifier(environ={}), read_clock_at_start=read_clock_at_start)
    if screen:
        screened(prog, rig)
    truth = TruthRecorder(rig)
    prog.loop.observers.append(lambda *_: truth.sample())
    return prog, rig, truth


def run_until(prog, pred, timeout):
    end = prog.clock.now() + timeout
    while prog.clock.now() < end and not pred():
        prog.step()
    return pred()


def ready(prog):
    """IDLE and taking START: after a DONE screen that asked for the sweating score and went
    unanswered, START is quiet for a moment (controller/rating.py)."""
    c = prog.controller
    return c.state == "IDLE" and not c.rating.quiet(prog.clock.now())


def start(prog):
    """START once the unit is ready (at power-on, or after the last session's DONE screen)."""
    assert run_until(prog, lambda: ready(prog), RATE_ASK_S + QUIET_S + 5.0)
    prog.controller.press(prog.clock.now())
    prog.step()


def treat_to_end(prog):
    start(prog)
    assert run_until(prog, lambda: prog.controller.state in ("DONE", "IDLE")
                     and prog.controller.sessions_done, 900)


def warnings(prog):
    return [e.code for e in prog.controller.events.events if e.kind == "warning"]


def add(prog, pid, **kw):
    extras = kw.pop("extras", {})
    p = Profile(id=pid, prescription=kw.pop("prescription", RX), **kw)
    prog.course.save(p, extras, "test")
    prog.course.select(pid)


@pytest.mark.hazard("H-SCREEN-1")
def test_an_unscreened_profile_is_refused_at_start_and_no_current_flows(tmp_path, board):
    prog, rig, truth = make(tmp_path, board, screen=False)
    try:
        start(prog)
        run_until(prog, lambda: False, 5.0)
        assert prog.controller.state == "IDLE"
        assert "NOT-SCREENED" in warnings(prog)
        assert truth.peak_ma < 0.05
        assert prog.log.sessions() == []
        ev = prog.log.course_events_of("patient-1")
        assert [e["code"] for e in ev if e["kind"] == "refusal"] == ["NOT-SCREENED"]
    finally:
        prog.shutdown()


@pytest.mark.hazard("H-SCREEN-1")
def test_a_contraindicated_profile_is_refused_until_cleared(tmp_path, board):
    prog, rig, truth = make(tmp_path, board, screen=False)
    try:
        on = RTC_START.date()
        add(prog, "zoe", screening=Screening(**{**NO, "epilepsy": True}, on=on))
        start(prog)
        run_until(prog, lambda: False, 3.0)
        assert "CONTRAINDICATED" in warnings(prog) and truth.peak_ma < 0.05
        p, extras = prog.course.profile("zoe")
        cleared = replace(p.screening, cleared_by="dr-lee", cleared_on=on)
        prog.course.save(replace(p, screening=cleared), extras, "test")
        start(prog)
        assert run_until(prog, lambda: truth.peak_ma > 4.0, 60)
        assert prog.log.sessions()[-1]["profile_id"] == "zoe"
    finally:
        prog.shutdown()


@pytest.mark.hazard("H-CLOCK-1")
def test_a_clock_that_lost_its_time_refuses_every_start(tmp_path, board):
    prog, rig, truth = make(tmp_path, board, rtc_start=None)
    try:
        start(prog)
        run_until(prog, lambda: False, 3.0)
        assert "CLOCK-LOST" in warnings(prog) and truth.peak_ma < 0.05
        assert prog.controller.state == "IDLE"
    finally:
        prog.shutdown()


@pytest.mark.hazard("H-OVERTREAT-1")
def test_a_second_session_within_20_hours_is_refused_after_a_counted_one(tmp_path, board):
    prog, rig, truth = make(tmp_path, board)
    try:
        treat_to_end(prog)
        row = prog.log.sessions()[-1]
        assert counts(row) and row["start_utc"].startswith("2027-01-04T08:00")
        peak = truth.peak_ma
        truth.peak_ma = 0.0
        run_until(prog, lambda: prog.controller.state == "IDLE", 30)
        start(prog)
        run_until(prog, lambda: False, 3.0)
        assert warnings(prog)[-1] == "TOO-SOON" and truth.peak_ma < 0.05 < peak
        assert len(prog.log.sessions()) == 1
    finally:
        prog.shutdown()


@pytest.mark.hazard("H-OVERTREAT-1")
def test_a_session_stopped_early_does_not_count_and_another_may_start(tmp_path, board):
    prog, rig, truth = make(tmp_path, board)
    try:
        start(prog)
        assert run_until(prog, lambda: prog.controller.state == "TREAT", 60)
        prog.controller.press(prog.clock.now())   # the patient stops after a few seconds
        assert run_until(prog, lambda: prog.controller.state == "IDLE"
                         and prog.controller.sessions_done, 60)
        assert not counts(prog.log.sessions()[-1])
        start(prog)
        assert run_until(prog, lambda: prog.controller.state == "TREAT", 60)
        assert "TOO-SOON" not in warnings(prog)
    finally:
        prog.shutdown()


@pytest.mark.hazard("H-DRUG-1")
def test_the_medication_mode_runs_without_reversal_and_within_8_ma(tmp_path, board):
    prog, rig, truth = make(tmp_path, board)
    try:
        rx = Prescription(target_ma=8.0, duration_min=5.0, ramp_ma_s=1.0,
                          reverse_polarity=False)
        screening = Screening(**NO, on=RTC_START.date())
        add(prog, "med", prescription=rx, drug="glycopyrronium", drug_mg_ml=0.5, drug_tray="A",
            screening=screening)
        start(prog)   # the technician has not unlocked the mode
        run_until(prog, lambda: False, 2.0)
        assert warnings(prog)[-1] == "MEDICATION-LOCKED" and truth.peak_ma < 0.05
        p, _ = prog.course.profile("med")
        prog.course.save(p, {"medication_unlocked": True}, "test")
        treat_to_end(prog)
        sess = prog.controller.sessions_done[-1]
        assert sess.reversals == 0 and sess.prescription.reverse_polarity is False
        assert truth.peak_ma <= 8.0 * 1.05 and truth.peak_reverse_ma < 0.5
        assert "DRUG-TRAY" in [e.code for e in prog.controller.events.events]
    finally:
        prog.shutdown()


@pytest.mark.hazard("H-DRUG-1")
@pytest.mark.parametrize("tray", ["A", "B"])
def test_the_drugs_tray_is_the_anode_for_the_whole_session(tmp_path, board, tray):
    """The drug (a cation) is driven into the skin from the anode: whichever tray holds it, the
    true current flows from that tray through the body for the whole session (positive
    patient_ma: from tray A), judged on the simulator's ground truth period by period."""
    prog, rig, truth = make(tmp_path, board)
    try:
        rx = Prescription(target_ma=8.0, duration_min=5.0, ramp_ma_s=1.0,
                          reverse_polarity=False)
        add(prog, "med", prescription=rx, drug="glycopyrronium", drug_mg_ml=0.5, drug_tray=tray,
            screening=Screening(**NO, on=RTC_START.date()), extras={"medication_unlocked": True})
        sign = 1.0 if tray == "A" else -1.0
        seen = []
        prog.loop.observers.append(lambda *_: seen.append(sign * rig.physics.patient_ma))
        treat_to_end(prog)
        assert prog.controller.sessions_done[-1].outcome == "completed"
        assert max(seen) > 7.5           # the drug's tray drove the treatment current
        assert min(seen) > -0.5          # and never the other tray (a skin discharge at most)
    finally:
        prog.shutdown()


@pytest.mark.hazard("H-WATER-1")
def test_a_high_load_that_keeps_the_target_out_of_reach_gives_the_soft_water_advice(
        tmp_path, board):
    rx = Prescription(target_ma=15.0, duration_min=5.0, ramp_ma_s=1.0)
    prog, rig, truth = make(tmp_path, board, rx=rx, load_ohm=9000.0)
    try:
        treat_to_end(prog)
        codes = [e["code"] for e in prog.log.course_events_of("patient-1")
                 if e["kind"] == "advice"]
        assert codes == ["SOFT-WATER"]
        assert prog.course.advice[-1]["code"] == "SOFT-WATER"
    finally:
        prog.shutdown()


def test_a_typical_load_gives_no_advice(tmp_path, board):
    prog, rig, truth = make(tmp_path, board)
    try:
        treat_to_end(prog)
        assert [e for e in prog.log.course_events_of("patient-1")
                if e["kind"] == "advice"] == []
    finally:
        prog.shutdown()


def test_the_calendar_is_read_once_and_carried_on_by_the_program_clock(tmp_path, board):
    prog, rig, truth = make(tmp_path, board, read_clock_at_start=False)
    try:
        cal = prog.calendar
        assert cal.reads == 0 and cal.stamp() is None     # not read until needed
        t0 = cal.now()
        assert cal.reads == 1 and t0.date() == date(2027, 1, 4) and t0.hour == 8
        run_until(prog, lambda: False, 90.0)
        assert (cal.now() - t0).total_seconds() == pytest.approx(90.0, abs=0.05)
        assert cal.reads == 1
        rig.rtc.set_time(datetime(2027, 3, 1, 19, 30))   # as `clock set` does, then re-read
        cal.read()
        assert cal.now().date() == date(2027, 3, 1) and cal.reads == 2
    finally:
        prog.shutdown()


def test_a_calendar_of_a_lost_clock_has_no_date():
    class Lost:
        def trusted_now(self):
            from hal import ClockLostError
            raise ClockLostError("lost")

    class Clock:
        def now(self):
            return 0.0

    cal = RtcCalendar(Lost(), Clock())
    from hal import ClockLostError
    with pytest.raises(ClockLostError):
        cal.now()
    assert cal.stamp() is None and cal.problem == "lost"
