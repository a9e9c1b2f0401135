"""The patient's sweating score (HDSS) entered with SELECT and START on the DONE screen
(controller/rating.py, firmware/course.py), judged on the treatment log, on the screen the
display shows (the panel's own view) and on the ground truth: no press on the DONE screen lets
current flow."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from test_course_device import add, make, run_until, start, treat_to_end

from conftest import screened
from controller import Prescription
from controller.rating import QUIET_S, RATE_ASK_S, RATE_WAIT_S, SCORE_WORDS, RatingPrompt
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
def unit(tmp_path, board):
    """A factory of units with the profiles named (the first selected), screened; closed after."""
    made = []

    def _unit(*pids):
        prog, rig, truth = make(tmp_path / str(len(made)), board, rx=RX) if made else \
            make(tmp_path, board, rx=RX)
        made.append(prog)
        for pid in pids:
            add(prog, pid, prescription=RX)
        screened(prog, rig)
        prog.course.select(pids[0])
        return prog, rig, truth

    yield _unit
    for prog in made:
        prog.log.close()


@pytest.fixture
def done(unit):
    """A unit whose profile ``anna`` (no score yet: one is due) has just completed a session."""
    prog, rig, truth = unit("anna")
    treat_to_end(prog)
    assert prog.controller.state == "DONE" and prog.controller.rating.open
    return prog, rig, truth


def test_the_prompt_cycles_through_the_scores_and_waits_after_a_press():
    r = RatingPrompt()
    assert not r.open and r.done_until(100.0, DONE_SHOW_S) == 100.0 + DONE_SHOW_S
    r.ask()
    assert r.done_until(100.0, DONE_SHOW_S) == 100.0 + RATE_ASK_S   # time to read and answer
    shown = []
    for t in range(6):
        r.on_select(100.0 + t)
        shown.append(r.score)
    assert shown == [1, 2, 3, 4, 1, 2]
    assert r.done_until(100.0, DONE_SHOW_S) == 105.0 + RATE_WAIT_S
    assert set(SCORE_WORDS) == {1, 2, 3, 4}
    r.left(170.0)                    # the screen gave way with the question open
    assert not r.open and r.score is None
    assert r.quiet(170.0 + QUIET_S - 0.01) and not r.quiet(170.0 + QUIET_S)
    r.ask()
    r.saved_at = 180.0
    r.left(190.0)                    # answered: quiet all the same (a press to save again)
    assert r.quiet(190.0) and not r.open
    r.left(300.0)                    # a DONE that asked nothing: nothing quiet
    assert not r.quiet(300.0)


def test_the_patient_rates_with_select_and_saves_with_start(done):
    prog, rig, truth = done
    c, log = prog.controller, prog.log
    sessions = len(c.sessions_done)
    assert lines(prog)[-1] == "SELECT: rate sweating"
    peak_before = truth.peak_ma
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
    # no press on the DONE screen began a session or let current flow
    assert run_until(prog, lambda: c.state == "IDLE", DONE_SHOW_S + 1.0)
    assert len(c.sessions_done) == sessions and c.session is None
    assert truth.peak_ma == peak_before
    assert abs(rig.truth()["patient_ma"]) < 0.01
    # START is quiet for a moment after it, and a second session this week asks nothing more
    assert c.rating.quiet(prog.clock.now()) and not codes(prog, "PRESS-IGNORED")
    assert prog.course.hdss_due("anna", prog.course.today()) > prog.course.today()


def test_no_press_saves_nothing_and_the_screen_waits_for_an_answer(done):
    prog, rig, _ = done
    c = prog.controller
    entered = c.state_since
    press_start(prog, rig)               # START before any choice: nothing
    assert c.state == "DONE" and c.rating.open and c.rating.score is None
    assert not run_until(prog, lambda: c.state == "IDLE", DONE_SHOW_S + 1.0)
    assert run_until(prog, lambda: c.state == "IDLE", RATE_ASK_S)
    assert prog.clock.now() - entered == pytest.approx(RATE_ASK_S, abs=0.05)
    assert prog.log.hdss_of("anna") == [] and not codes(prog, "HDSS-ENTERED")
    assert not c.rating.open


def test_a_select_after_the_usual_ten_seconds_is_still_a_score(unit):
    prog, rig, _ = unit("anna", "tom")
    c = prog.controller
    treat_to_end(prog)
    assert c.rating.open
    assert not run_until(prog, lambda: c.state != "DONE", DONE_SHOW_S + 0.5)
    press_select(prog, rig)
    assert c.state == "DONE" and c.rating.score == 1 and prog.course.active == "anna"


def test_a_choice_keeps_the_screen_up_and_is_not_saved_unless_confirmed(done):
    prog, rig, _ = done
    c = prog.controller
    run_until(prog, lambda: False, RATE_ASK_S - 10.0)   # late in the time to answer
    press_select(prog, rig)
    pressed = prog.clock.now()
    assert not run_until(prog, lambda: c.state == "IDLE", RATE_WAIT_S - 1.0)
    assert c.state == "DONE" and lines(prog)[1] == f"1 {SCORE_WORDS[1]}"
    assert run_until(prog, lambda: c.state == "IDLE", 2.0)
    assert prog.clock.now() - pressed == pytest.approx(RATE_WAIT_S, abs=0.5)
    assert prog.log.hdss_of("anna") == []


@pytest.mark.hazard("H-PROFILE-1")
@pytest.mark.parametrize("chose", [True, False], ids=["choosing", "reading"])
@pytest.mark.parametrize("button", ["select", "start"])
def test_presses_just_after_an_unanswered_screen_gives_way_do_nothing(unit, button, chose):
    """A patient still choosing a score (or still reading the question) when the screen gives
    way: the next press neither chooses the next person nor starts a session (ground truth:
    no current)."""
    prog, rig, truth = unit("anna", "tom")
    c = prog.controller
    treat_to_end(prog)
    if chose:
        press_select(prog, rig)
    if button == "start":
        # tom's turn is chosen meanwhile (the console), so that a START taken would start a
        # session: anna's own would be refused as too soon
        prog.course.select("tom")
    assert run_until(prog, lambda: c.state == "IDLE", RATE_WAIT_S + 1.0)
    audits, sessions, peak = len(prog.log.audit_rows()), len(c.sessions_done), truth.peak_ma
    active = prog.course.active
    press = press_select if button == "select" else press_start
    press(prog, rig)                     # ... and pressing once more, too late
    assert len(codes(prog, "PRESS-IGNORED")) == 1 and not codes(prog, "TOO-SOON")
    assert prog.course.active == active and len(prog.log.audit_rows()) == audits
    run_until(prog, lambda: False, 2.0)
    assert c.state == "IDLE" and c.session is None and len(c.sessions_done) == sessions
    assert truth.peak_ma == peak and prog.log.hdss_of("anna") == []
    # once the quiet time is over the buttons work as ever
    run_until(prog, lambda: False, QUIET_S)
    if button == "select":
        press_select(prog, rig)
        assert prog.course.active == "tom"
    else:
        press_start(prog, rig)
        assert c.session is not None and prog.course.session_profile == "tom"
        press_start(prog, rig)           # and stops it


def test_a_score_the_log_refuses_is_said_on_the_screen_and_in_the_events(done, monkeypatch):
    prog, rig, _ = done
    c = prog.controller

    def full(*_a, **_k):
        raise OSError("disk full")
    monkeypatch.setattr(prog.log, "record_hdss", full)
    press_select(prog, rig)
    press_start(prog, rig)
    [ev] = codes(prog, "HDSS-NOT-SAVED")
    assert "disk full" in ev.message and not codes(prog, "HDSS-ENTERED")
    assert lines(prog)[:2] == ("Score not saved", "Tell the technician")
    assert c.state == "DONE" and not c.rating.open and c.fault is None
    assert run_until(prog, lambda: c.state == "IDLE", DONE_SHOW_S + 1.0)
    assert prog.log.hdss_of("anna") == []


def test_a_score_committed_stays_saved_when_its_audit_fails(done, monkeypatch):
    prog, rig, _ = done

    def broken(*_a, **_k):
        raise OSError("audit unreadable")
    monkeypatch.setattr(prog.log, "audit", broken)
    press_select(prog, rig)
    press_select(prog, rig)
    press_start(prog, rig)
    assert [r["score"] for r in prog.log.hdss_of("anna")] == [2]
    assert codes(prog, "HDSS-ENTERED") and not codes(prog, "HDSS-NOT-SAVED")
    assert "audit unreadable" in codes(prog, "COURSE-NOT-UPDATED")[0].message
    assert lines(prog)[:2] == ("Thank you!", "Sweating 2 saved")


def test_the_score_is_the_asking_profiles_though_the_console_selects_another(unit):
    prog, rig, _ = unit("anna", "tom")
    treat_to_end(prog)
    assert prog.controller.rating.open
    prog.course.select("tom")            # the technician, on the console, meanwhile
    press_select(prog, rig)
    press_start(prog, rig)
    assert [r["score"] for r in prog.log.hdss_of("anna")] == [1]
    assert prog.log.hdss_of("tom") == []


def test_a_session_ended_by_a_fault_asks_nothing(unit):
    prog, rig, truth = unit("anna")
    c = prog.controller
    start(prog)
    assert run_until(prog, lambda: c.session is not None and c.session.treat_s > 0.6 * 300, 400)
    rig.inject("sense_b_open")           # a sense channel lost: a latched fault
    assert run_until(prog, lambda: c.state == "FAULT", 5.0)
    sess = c.sessions_done[-1]
    assert sess.outcome == "fault" and sess.treat_s > 0.5 * 300   # it would have counted
    assert not c.rating.open and prog.log.hdss_of("anna") == []
    assert truth.peak_ma < 6.0   # the lost channel did not let the current run away


def test_a_failure_to_ask_for_the_score_latches_nothing_after_a_good_session(unit, monkeypatch):
    prog, rig, _ = unit("anna")
    c = prog.controller

    def broken(*_a, **_k):
        raise OSError("database is locked")
    monkeypatch.setattr(prog.course, "hdss_due", broken)
    treat_to_end(prog)
    assert c.state == "DONE" and c.fault is None and not c.rating.open
    [ev] = codes(prog, "COURSE-NOT-UPDATED")
    assert "database is locked" in ev.message and "sweating score" in ev.message
    assert c.sessions_done[-1].outcome == "completed"


def test_the_thank_you_screen_shows_the_next_date_the_saved_score_gives(unit):
    """Two weekly scores of 2 or less move the plan to maintenance (weekly sessions): the date
    on the screen after the save is the new plan's, not the one the screen began with."""
    prog, rig, _ = unit("anna")
    today = prog.course.today()
    prog.log.record_hdss("anna", today - timedelta(days=14), 4, "technician")
    prog.log.record_hdss("anna", today - timedelta(days=7), 2, "technician")
    treat_to_end(prog)
    assert prog.controller.rating.open
    before = lines(prog)[2]
    press_select(prog, rig)
    press_select(prog, rig)
    press_start(prog, rig)
    assert prog.course.refresh_phase("anna", today) == "maintenance"
    nxt = prog.course.due("anna", prog.course.calendar.now()).next_date
    assert lines(prog)[2] == f"Next: {nxt:%m-%d}" != before


def test_nothing_is_asked_when_this_weeks_score_is_in(unit):
    prog, rig, _ = unit("tom")
    prog.log.record_hdss("tom", prog.course.calendar.now().date(), 2, "technician")
    treat_to_end(prog)
    c = prog.controller
    assert c.state == "DONE" and not c.rating.open
    assert lines(prog)[-1] == "Moisturise your skin"
    press_select(prog, rig)
    assert codes(prog, "SELECT-REFUSED") and c.rating.score is None
    assert [r["score"] for r in prog.log.hdss_of("tom")] == [2]
    # the DONE screen that asks nothing ends as ever, and nothing after it is quiet
    assert run_until(prog, lambda: c.state == "IDLE", DONE_SHOW_S + 1.0)
    assert not c.rating.quiet(prog.clock.now())


def test_a_session_stopped_early_asks_nothing(unit):
    prog, rig, _ = unit("tom")
    c = prog.controller
    assert run_until(prog, lambda: c.state == "IDLE", 5)
    press_start(prog, rig)
    assert run_until(prog, lambda: c.state == "TREAT", 60)
    press_start(prog, rig)               # stopped at once: it does not count
    assert run_until(prog, lambda: c.state == "DONE", 10)
    assert not c.rating.open


def test_idle_says_what_select_does_and_the_due_date_follows_the_choice(unit):
    prog, rig, _ = unit("anna", "tom")
    c = prog.controller
    treat_to_end(prog)   # anna treated today: her next is not due today
    assert run_until(prog, lambda: c.state == "IDLE", RATE_ASK_S + 1.0)
    run_until(prog, lambda: False, QUIET_S)
    shown = lines(prog)
    assert shown[0] == "Ready: anna" and shown[1].startswith("Not yet")
    assert shown[-1] == "SELECT = next person"
    press_select(prog, rig)
    assert prog.course.active == "tom"
    assert lines(prog)[:2] == ("Ready: tom", "Due today")


def test_a_score_the_technician_entered_meanwhile_is_not_doubled(done):
    prog, rig, _ = done
    prog.log.record_hdss("anna", prog.course.today(), 2, "technician")   # profile hdss
    press_select(prog, rig)
    press_start(prog, rig)
    assert "already in the log" in codes(prog, "HDSS-NOT-SAVED")[0].message
    assert [(r["score"], r["entered_by"]) for r in prog.log.hdss_of("anna")] == [(2, "technician")]


def test_a_start_held_on_the_asking_screen_latches_and_drops_the_question(done):
    prog, rig, truth = done
    c = prog.controller
    peak = truth.peak_ma
    rig.set_button(True)                 # held, never released: a stuck button
    assert run_until(prog, lambda: c.state == "FAULT", 15.0)
    assert c.fault.code == "BUTTON-STUCK" and not c.rating.asked
    assert prog.log.hdss_of("anna") == [] and truth.peak_ma == peak


def test_a_score_saved_after_midnight_is_the_day_it_was_asked_on(tmp_path, board):
    prog, rig, _ = make(tmp_path, board, rx=RX, rtc_start=datetime(2027, 1, 4, 23, 52, 0))
    try:
        add(prog, "anna", prescription=RX)
        screened(prog, rig)
        treat_to_end(prog)
        c, cal = prog.controller, prog.course.calendar
        asked = cal.now().date()
        assert c.rating.open and asked == date(2027, 1, 4)
        while cal.now().date() == asked:     # choosing (each SELECT holds the screen) ...
            press_select(prog, rig)
            run_until(prog, lambda: False, 20.0)
        assert c.state == "DONE" and c.rating.open
        press_start(prog, rig)               # ... and saving after midnight
        assert [r["date"] for r in prog.log.hdss_of("anna")] == ["2027-01-04"]
    finally:
        prog.log.close()
