"""The patient's screens: every state has one, it fits four lines of 21 characters."""

import pytest

from controller.rating import SCORE_WORDS
from firmware.screens import ADVICE, COLUMNS, View, screen

STATES = ["IDLE", "SELF_TEST", "WAIT_CONTACT", "RAMP_UP", "TREAT", "PAUSED", "REVERSING",
          "RAMP_DOWN", "DONE", "FAULT"]


@pytest.mark.parametrize("state", STATES)
def test_every_state_fits(state):
    v = View(state, profile="Anna", due="Due today", current_ma=7.5, target_ma=15.0,
             time_left_s=605, conductance_ms=4.0, pause_reason="A hand came out",
             fault_code="R-OVERRUN", fault_todo="Call for help", dose_mas=18000,
             next_date="12-04", rate_sweating=True, score=2, profiles=3)
    s = screen(v)
    assert 1 <= len(s.lines) <= 4
    assert all(len(line) <= COLUMNS and line.isascii() for line in s.lines)


def test_treat_shows_current_percent_and_bars():
    s = screen(View("TREAT", current_ma=7.5, target_ma=15.0, time_left_s=65, conductance_ms=5))
    assert "7.5 of 15.0 mA 50%" in s.lines
    assert "1:05 left" in s.lines
    assert [b.fraction for b in s.bars] == [0.5, 0.5]


def test_wait_contact_and_fault_words():
    assert screen(View("WAIT_CONTACT")).lines[:2] == ("Put both hands", "in the water")
    s = screen(View("FAULT", fault_code="R-SHORT", fault_todo="Take hands out"))
    assert s.lines[0] == "Stopped: R-SHORT" and s.lines[1] == "Take hands out"


def test_idle_without_profile_leaves_it_out():
    assert screen(View("IDLE")).lines == ("Ready", "", "Press START")
    assert screen(View("IDLE", profile="Tom", due="Not yet: 12-04", profiles=1)).lines == (
        "Ready: Tom", "Not yet: 12-04", "Press START")
    # with more than one profile, IDLE says what SELECT does
    assert screen(View("IDLE", profile="Tom", profiles=3)).lines[-1] == "SELECT = next person"


def test_done_asks_for_the_score_and_thanks():
    base = {"dose_mas": 18000.0, "next_date": "12-04"}
    assert screen(View("DONE", **base)).lines == (
        "Done! Dry your hands", "Dose 300 mA min", "Next: 12-04", "Moisturise your skin")
    assert screen(View("DONE", rate_sweating=True, **base)).lines[-1] == "SELECT: rate sweating"
    assert screen(View("DONE", rate_sweating=True, score=4, **base)).lines == (
        "Rate your sweating:", "4 always bothers", "SELECT = change", "START = save")
    assert screen(View("DONE", score=4, score_saved=True, **base)).lines[:2] == (
        "Thank you!", "Sweating 4 saved")
    assert screen(View("DONE", score=4, score_failed=True, **base)).lines[:2] == (
        "Score not saved", "Tell the technician")
    for score in (1, 2, 3, 4):   # every score's words fit the line, whole
        assert screen(View("DONE", rate_sweating=True, score=score)).lines[1] == (
            f"{score} {SCORE_WORDS[score]}")


def test_advice_and_unknown_state():
    for lines in ADVICE.values():
        assert all(len(x) <= COLUMNS for x in lines)
    assert screen(View("ADVICE", advice=ADVICE["cuts"])).lines == ADVICE["cuts"]
    with pytest.raises(ValueError):
        screen(View("NAP"))
    with pytest.raises(ValueError):
        screen(View("PAUSED", pause_reason="x" * 30))
