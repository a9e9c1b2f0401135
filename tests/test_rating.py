"""The patient's sweating score (HDSS) entered with SELECT and START on the DONE screen
(controller/rating.py, firmware/course.py), judged on the treatment log, on the screen the
display shows (the panel's own view) and on the ground truth: no press on the DONE screen lets
current flow."""

from __future__ import annotations

import pytest
from test_course_device import add, make, run_until, treat_to_end

from conftest import screened
from controller import Prescription
from controller.rating import RATE_WAIT_S, SCORE_WORDS, RatingPrompt
from controller.session import DONE_SHOW_S
from firmware.screens import screen

RX = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0)


def press_select(prog, rig, hold_s=0.2):
    rig.set_select_button(True)
    run_until(prog, lambda: False, hold_s)
    rig.set_select_button(False)
    run_until(prog, lambda: False, 0.1)


def press_start(prog, rig, hold_s=0.2):
    rig.set_button(True)
    run_until(prog, lambda: False, hold_s)
    rig.set_button(False)
    run_until(prog, lambda: False, 0.1)


def lines(prog):
    return screen(prog.screen.view(prog.clock.now())).lines


def codes(prog, code):
    return [e for e in prog.controller.events.events if e.code == code]


@pytest.fixture
def done(tmp_path, board):
    """A unit whose profile ``anna`` (no score yet: one is due) has just completed a session."""
    prog, rig, truth = make(tmp_path, board, rx=RX)
    add(prog, "anna", prescription=RX)
    screened(prog, rig)
    treat_to_end(prog)
    assert prog.controller.state == "DONE"
    yield prog, rig, truth
    prog.log.close()


def test_the_prompt_cycles_through_the_scores_and_waits_after_a_press():
    r = RatingPrompt()
    assert not r.open and r.done_until(100.0, DONE_SHOW_S) == 100.0 + DONE_SHOW_S
    r.ask()
    shown = []
    for t in range(6):
        r.on_select(100.0 + t)
        shown.append(r.score)
    assert shown == [1, 2, 3, 4, 1, 2]
    assert r.done_until(100.0, DONE_SHOW_S) == 105.0 + RATE_WAIT_S
    assert set(SCORE_WORDS) == {1, 2, 3, 4}


def test_the_patient_rates_with_select_and_saves_with_start(done):
    prog, rig, truth = done
    c, log = prog.controller, prog.log
    sessions = len(c.sessions_done)
    assert c.rating.open and lines(prog)[-1] == "SELECT: rate sweating"
    for _ in range(3):
        press_select(prog, rig)
    assert c.rating.score == 3
    assert lines(prog) == ("Rate your sweating:", f"3 {SCORE_WORDS[3]}", "SELECT = change",
                           "START = save")
    press_start(prog, rig)
    rows = log.hdss_of("anna")
    assert [(r["score"], r["entered_by"]) for r in rows] == [(3, "panel")]
    assert rows[0]["date"] == prog.course.today().isoformat()
    assert any(a["action"] == "profile hdss" and "hdss=3" in (a["new"] or "")
               for a in log.audit_rows())
    assert len(codes(prog, "HDSS-ENTERED")) == 1
    assert lines(prog)[:2] == ("Thank you!", "Sweating 3 saved")
    # START on the DONE screen saved the score: it began no session and let no current flow
    peak_before = truth.peak_ma
    assert run_until(prog, lambda: c.state == "IDLE", DONE_SHOW_S + 1.0)
    assert len(c.sessions_done) == sessions and c.session is None
    assert truth.peak_ma == peak_before
    assert abs(rig.truth()["patient_ma"]) < 0.01
    # a second session this week asks for nothing more
    assert prog.course.hdss_due("anna", prog.course.today()) > prog.course.today()


def test_no_press_saves_nothing_and_the_screen_ends_as_before(done):
    prog, rig, _ = done
    c = prog.controller
    entered = c.state_since
    press_start(prog, rig)               # START before any choice: nothing
    assert c.state == "DONE" and c.rating.open and c.rating.score is None
    assert run_until(prog, lambda: c.state == "IDLE", DONE_SHOW_S + 1.0)
    assert prog.clock.now() - entered == pytest.approx(DONE_SHOW_S, abs=0.05)
    assert prog.log.hdss_of("anna") == [] and not codes(prog, "HDSS-ENTERED")
    assert not c.rating.open


def test_a_choice_keeps_the_screen_up_and_is_not_saved_unless_confirmed(done):
    prog, rig, _ = done
    c = prog.controller
    press_select(prog, rig)
    pressed = prog.clock.now()
    assert not run_until(prog, lambda: c.state == "IDLE", RATE_WAIT_S - 1.0)
    assert c.state == "DONE" and lines(prog)[1] == f"1 {SCORE_WORDS[1]}"
    assert run_until(prog, lambda: c.state == "IDLE", 2.0)
    assert prog.clock.now() - pressed == pytest.approx(RATE_WAIT_S, abs=0.5)
    assert prog.log.hdss_of("anna") == []


def test_nothing_is_asked_when_this_weeks_score_is_in(tmp_path, board):
    prog, rig, _ = make(tmp_path, board, rx=RX)
    try:
        add(prog, "tom", prescription=RX)
        screened(prog, rig)
        prog.log.record_hdss("tom", prog.course.calendar.now().date(), 2, "technician")
        treat_to_end(prog)
        c = prog.controller
        assert c.state == "DONE" and not c.rating.open
        assert lines(prog)[-1] == "Moisturise your skin"
        press_select(prog, rig)
        assert codes(prog, "SELECT-REFUSED") and c.rating.score is None
        assert [r["score"] for r in prog.log.hdss_of("tom")] == [2]
    finally:
        prog.log.close()


def test_a_session_stopped_early_asks_nothing(tmp_path, board):
    prog, rig, _ = make(tmp_path, board, rx=RX)
    try:
        add(prog, "tom", prescription=RX)
        screened(prog, rig)
        c = prog.controller
        assert run_until(prog, lambda: c.state == "IDLE", 5)
        press_start(prog, rig)
        assert run_until(prog, lambda: c.state == "TREAT", 60)
        press_start(prog, rig)           # stopped at once: it does not count
        assert run_until(prog, lambda: c.state == "DONE", 10)
        assert not c.rating.open
    finally:
        prog.log.close()


def test_idle_says_what_select_does_and_the_due_date_follows_the_choice(tmp_path, board):
    prog, rig, _ = make(tmp_path, board, rx=RX)
    try:
        add(prog, "anna", prescription=RX)
        add(prog, "tom", prescription=RX)
        screened(prog, rig)
        prog.course.select("anna")
        c = prog.controller
        treat_to_end(prog)   # anna treated today: her next is not due today
        assert run_until(prog, lambda: c.state == "IDLE", DONE_SHOW_S + 1.0)
        shown = lines(prog)
        assert shown[0] == "Ready: anna" and shown[1].startswith("Not yet")
        assert shown[-1] == "SELECT = next person"
        press_select(prog, rig)
        assert prog.course.active == "tom"
        assert lines(prog)[:2] == ("Ready: tom", "Due today")
    finally:
        prog.log.close()
