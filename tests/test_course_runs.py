"""The course files of scenarios/courses/, played by ``ionto sim`` against the complete device
program: each [expect] holds, and what each course is about is judged on the ground truth
(the true patient current of each session's summary) and on the unit's treatment log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from controller.session import DONE_SHOW_S
from firmware.cli import main as ionto
from sim.course import load_course
from simtools.courserun import check_course_expect, run_course

COURSES = Path(__file__).resolve().parents[1] / "scenarios" / "courses"
NAMES = sorted(p.stem for p in COURSES.glob("*.toml"))


@pytest.fixture
def played(tmp_path):
    """Play a course once (each test plays its own: the courses are long) and check its
    [expect]: every course has one, and every one holds."""
    def play(name):
        course = load_course(COURSES / f"{name}.toml")
        result = run_course(course, tmp_path / name)
        assert course.expect, f"{name} has no [expect]"
        assert check_course_expect(course, result) == []
        assert json.loads((tmp_path / name / "course.json").read_text())["course"] == name
        return course, result, tmp_path / name
    return play


def summaries(out, result, pid):
    return [json.loads((out / s["summary"]).read_text())
            for s in result["profiles"][pid]["sessions"]]


def log_rows(out, sql, *args):
    db = sqlite3.connect(out / "device-data" / "treatment.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def test_the_course_files_are_there_each_played_by_one_test():
    assert NAMES == ["child-pulsed", "comfort", "family", "medication", "panel-score",
                     "same-day", "six-weeks", "soft-water"]
    text = Path(__file__).read_text()
    assert all(f'played("{n}")' in text for n in NAMES)


@pytest.mark.hazard("H-SCREEN-1")
def test_the_contraindicated_member_of_the_family_gets_no_current(played):
    course, result, out = played("family")
    for s in summaries(out, result, "ben"):
        assert s["outcome"] == "not_started" and s["peak_ma"] == 0.0 and s["dose_ma_min"] == 0
    assert log_rows(out, "SELECT count(*) FROM sessions WHERE profile_id='ben'") == [(0,)]
    assert log_rows(out, "SELECT code FROM course_events WHERE profile_id='ben' AND "
                         "kind='refusal'") == [("CONTRAINDICATED",)] * 2
    # the others treated, each on their own prescription
    (leo,) = summaries(out, result, "leo")
    assert leo["protocol"]["target_ma"] == 6.0 and leo["peak_ma"] <= 6.0 * 1.03


@pytest.mark.hazard("H-OVERTREAT-1")
def test_a_second_session_the_same_day_is_refused_and_one_override_lets_one_through(played):
    course, result, out = played("same-day")
    got = [(s["at"], s["refused"]) for s in result["profiles"]["kim"]["sessions"]]
    assert got == [("08:00", None), ("19:00", "TOO-SOON"), ("19:10", None),
                   ("20:00", "TOO-SOON"), ("16:00", None)]
    # the 08:00 session was stopped after more than half its time: it counts, so 19:00 is
    # within 20 hours of a session
    first = result["profiles"]["kim"]["sessions"][0]
    assert first["outcome"] == "stopped" and 150.0 <= first["treatment_s"] < 300.0
    for s, summ in zip(result["profiles"]["kim"]["sessions"], summaries(out, result, "kim"),
                       strict=True):
        if s["refused"]:
            assert summ["peak_ma"] == 0.0 and summ["treatment_s"] == 0.0
    codes = [c for (c,) in log_rows(out, "SELECT code FROM course_events WHERE kind='override' "
                                         "ORDER BY id")]
    assert codes == ["OVERRIDE-GRANTED", "OVERRIDE-USED"]


def test_six_weeks_move_from_the_initial_phase_to_maintenance(played):
    course, result, out = played("six-weeks")
    sam = result["profiles"]["sam"]
    assert [(p["day"], p["phase"]) for p in sam["phase"]] == [(0, "initial"), (21, "maintenance")]
    assert [h["score"] for h in sam["hdss"]] == [3, 3, 2, 2, 1, 2]
    assert len(sam["counted_sessions"]) == 12
    # from the second week each session is stopped after more than half its 5 minutes, and
    # each still counts (a stopped session counts when it treated at least half its time)
    assert [s["outcome"] for s in sam["sessions"]] == ["completed"] * 3 + ["stopped"] * 9
    assert all(150.0 <= s["treatment_s"] < 300.0 for s in sam["sessions"][3:])
    days = [s["day"] for s in sam["sessions"]]
    assert sum(d < 21 for d in days) == 9        # three a week in the initial phase
    assert days[-3:] == [21, 28, 35]              # then one a week


def test_the_weekly_score_entered_on_the_panel_moves_the_plan_to_maintenance(played):
    """The DONE screen asks when the week's score is due; SELECT and START enter it, as the
    panel (in the log and the audit trail); a week with its score asks nothing more."""
    course, result, out = played("panel-score")
    mia = result["profiles"]["mia"]
    assert [(h["day"], h["score"], h["by"]) for h in mia["hdss"]] == [
        (0, 3, "technician"), (7, 2, "panel"), (14, 2, "panel")]
    assert [(p["day"], p["phase"]) for p in mia["phase"]] == [(0, "initial"), (14, "maintenance")]
    assert len(mia["counted_sessions"]) == 7
    codes = [[e["detail"].split(":")[0] for e in s["events"]]
             for s in summaries(out, result, "mia")]
    entered = [day for day, c in zip([s["day"] for s in mia["sessions"]], codes, strict=True)
               if "HDSS-ENTERED" in c]
    assert entered == [7, 14]
    # day 9 (score not due): a session that counts, whose DONE screen did not ask: it gave way
    # after the usual DONE_SHOW_S (a screen that asks stays RATE_ASK_S), and nothing was saved
    i9 = [s["day"] for s in mia["sessions"]].index(9)
    assert mia["sessions"][i9]["treatment_s"] >= 150.0   # half of its 5 minutes: it counts
    events9 = summaries(out, result, "mia")[i9]["events"]
    done_t = [e["t_s"] for e in events9 if e["kind"] == "state" and e["detail"] == "DONE"]
    idle_t = [e["t_s"] for e in events9 if e["kind"] == "state" and e["detail"] == "IDLE"]
    assert len(done_t) == 1 and idle_t[-1] - done_t[0] == pytest.approx(DONE_SHOW_S, abs=0.05)
    assert not {"SELECT-REFUSED", "HDSS-NOT-SAVED", "HDSS-ENTERED"} & set(codes[i9])
    audit = log_rows(out, "SELECT console, new FROM audit WHERE action='profile hdss' "
                          "ORDER BY id")
    assert audit == [("panel", "mia 2027-03-08 hdss=2"), ("panel", "mia 2027-03-15 hdss=2")]


@pytest.mark.hazard("H-WATER-1")
def test_soft_water_is_advised_baking_soda_which_brings_the_target_within_reach(played):
    course, result, out = played("soft-water")
    first, second = summaries(out, result, "ines")
    assert (first["outcome"], second["outcome"]) == ("stopped", "completed")
    assert first["reduced_target_ma"] is not None and first["reduced_target_ma"] < 14.0
    assert second["reduced_target_ma"] is None and second["peak_ma"] >= 14.5
    assert [(a["day"], a["code"]) for a in result["profiles"]["ines"]["advice"]] == \
        [(0, "SOFT-WATER")]


@pytest.mark.hazard("H-DRUG-1")
def test_the_medication_mode_never_reverses_and_stays_within_8_ma(played):
    course, result, out = played("medication")
    for s in summaries(out, result, "omar"):
        assert s["outcome"] == "completed" and s["polarity_reversals"] == 0
        assert s["peak_ma"] <= 8.2 and s["peak_reverse_ma"] < 0.5
        assert any("DRUG-TRAY" in e["detail"] for e in s["events"])


@pytest.mark.hazard("H-COMFORT-1")
def test_a_lowered_session_makes_the_next_start_lower_and_each_after_rise_1_ma(played):
    course, result, out = played("comfort")
    sessions = result["profiles"]["anna"]["sessions"]
    assert [s["comfort_lowest_ma"] for s in sessions] == [9.0, None, None, None]
    starts = [s["start_ma"] for s in sessions]
    assert starts == [12.0, 10.0, 11.0, 12.0]
    assert all(b - a <= 1.0 for a, b in zip(starts[1:], starts[2:], strict=False))
    # on the ground truth: no session above the level it started with, the first one settled
    # at the lowered 9 mA, no step anywhere
    for s, level in zip(summaries(out, result, "anna"), starts, strict=True):
        assert s["peak_ma"] <= level + 0.1 and s["max_step_ma"] <= 0.5
    first = out / sessions[0]["summary"].replace("summary.json", "trace.csv")
    rows = [line.split(",") for line in first.read_text().splitlines()[1:]]
    late = [abs(float(r[5])) for r in rows if 60.0 <= float(r[0]) <= 300.0]
    assert max(late) <= 9.05 and min(late) >= 8.9
    assert log_rows(out, "SELECT comfort_lowest_ma FROM sessions WHERE profile_id='anna' "
                    "ORDER BY id") == [(9.0,), (None,), (None,), (None,)]
    codes = log_rows(out, "SELECT code FROM course_events WHERE profile_id='anna' AND "
                     "kind='comfort' ORDER BY id")
    assert codes == [("COMFORT-LOWERED",), ("COMFORT-RISES",), ("COMFORT-BACK",)]


@pytest.mark.hazard("H-SITE-1")
def test_a_child_on_pulsed_dc_stays_under_the_child_limit(played):
    course, result, out = played("child-pulsed")
    # the second and third sessions stopped after more than half their time (they count: the
    # next one is due on Monday, as [expect] says)
    assert [s["outcome"] for s in summaries(out, result, "mia")] == \
        ["completed", "stopped", "stopped"]
    for s in summaries(out, result, "mia"):
        assert s["peak_ma"] <= 15.1 and s["treatment_s"] >= 150.0
        assert any("PULSED-REDUCED" in e["detail"] for e in s["events"])


def test_a_course_file_with_a_wrong_key_is_refused_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text((COURSES / "family.toml").read_text().replace("[expect]",
                                                                 "[expect]\ncolour = 1"))
    assert ionto(["sim", str(bad), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "expect" in capsys.readouterr().err
    worse = tmp_path / "worse.toml"   # the device's own rules refuse it before anything plays
    worse.write_text((COURSES / "family.toml").read_text().replace(
        "reverse_polarity = false", "reverse_polarity = true"))
    assert ionto(["sim", str(worse), "--out", str(tmp_path / "out2"), "--quiet"]) == 2
    assert "reverse_polarity" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


@pytest.mark.hazard("H-SCREEN-1", "H-OVERTREAT-1")
def test_the_check_flags_a_refused_visit_with_current_and_each_unmet_expectation():
    course = load_course(COURSES / "same-day.toml")
    session = {"day": 0, "at": "19:00", "outcome": "not_started", "refused": "TOO-SOON",
               "dose_ma_min": 0.0, "peak_ma": 0.0, "max_step_ma": 0.0,
               "polarity_reversals": 0, "treatment_s": 0.0, "summary": "x"}
    result = {"profiles": {"kim": {"sessions": [session], "phase": [], "advice": [],
                                   "next_due": None}}}
    assert check_course_expect(course, result) == [
        "kim: refused ['TOO-SOON'] (expected ['TOO-SOON', 'TOO-SOON'])",
        "kim: 0 sessions completed (expected 2)"]
    session["peak_ma"] = 1.2   # a refusal that let current through never passes
    assert check_course_expect(course, result)[0] == \
        "kim day 0: refused (TOO-SOON) but 1.2 mA flowed"
