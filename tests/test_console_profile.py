"""The technician's ``profile`` command through a real pseudo-terminal: the login, the refusal
during a treatment, each change in the audit trail (who, what, old -> new), and what each change
does at the next START (judged on the simulator's ground truth: no current at a refusal)."""

from __future__ import annotations

import json

import pytest
from test_console import Bench, login

from controller.rating import QUIET_S, RATE_ASK_S
from sim.truth import TruthRecorder


@pytest.fixture
def bench(tmp_path, board):
    b = Bench(tmp_path, board)
    b.truth = TruthRecorder(b.rig)
    b.prog.loop.observers.append(lambda *_: b.truth.sample())
    yield b
    b.close()


def shown(reply):
    return dict(line.split(": ", 1) for line in reply[:-1] if ": " in line)


def press_start(b, seconds=3.0):
    b.prog.controller.press(b.prog.clock.now())
    b.run(seconds)


def last_warning(b):
    return [e.code for e in b.prog.controller.events.events if e.kind == "warning"][-1]


def rows(b, action):
    return [r for r in b.prog.log.audit_rows() if r["action"] == action]


def test_profile_commands_need_the_login(bench):
    for line in ("profile", "profile list", "profile show patient-1",
                 "profile add anna hands adult", "profile hdss patient-1 3"):
        assert bench.ask(line)[-1].startswith("ERR AUTH"), line
    assert "anna" not in bench.prog.log.profiles()


@pytest.mark.hazard("H-SCREEN-1", "H-PROFILE-1")
def test_a_profile_added_treats_only_after_its_screening_and_its_select(bench):
    login(bench)
    reply = bench.ask("profile add anna hands adult")
    assert reply[-1] == "OK" and shown(reply)["screening"].startswith("none")
    (add,) = rows(bench, "profile add")
    assert add["old"] is None and json.loads(add["new"])["id"] == "anna"
    assert add["console"] == f"pty {bench.pty.path}"
    assert bench.ask("profile select anna")[-1] == "OK"
    assert rows(bench, "profile select")[-1]["new"] == "anna"
    press_start(bench)
    assert last_warning(bench) == "NOT-SCREENED" and bench.truth.peak_ma < 0.05
    assert bench.prog.controller.state == "IDLE"
    # a yes blocks until a doctor's clearance
    reply = bench.ask("profile screen anna pregnancy=no epilepsy=yes heart=no implant=no")
    assert reply[-1] == "OK" and "epilepsy=yes" in shown(reply)["screening"]
    change = rows(bench, "profile change")[-1]
    assert json.loads(change["old"])["screening"] is None
    assert json.loads(change["new"])["screening"]["epilepsy"] is True
    press_start(bench)
    assert last_warning(bench) == "CONTRAINDICATED" and bench.truth.peak_ma < 0.05
    reply = bench.ask("profile clear anna Dr Lee")
    assert reply[-1] == "OK" and shown(reply)["cleared"].startswith("by Dr Lee on 2027-01-04")
    press_start(bench, 30.0)
    assert bench.truth.peak_ma > 1.0
    assert bench.prog.log.sessions()[-1]["profile_id"] == "anna"


def test_profile_changes_are_refused_during_a_treatment(bench):
    login(bench)
    press_start(bench, 20.0)
    assert bench.prog.controller.busy
    for line in ("profile add zoe feet child", "profile set patient-1 target=4",
                 "profile select patient-1", "profile hdss patient-1 2"):
        assert bench.ask(line)[-1].startswith("ERR BUSY"), line
    assert bench.ask("profile show patient-1")[-1] == "OK"   # looking is allowed
    assert "zoe" not in bench.prog.log.profiles()


@pytest.mark.hazard("H-DRUG-1")
def test_the_medication_mode_is_unlocked_by_setting_the_drug_and_caps_the_session(bench):
    login(bench)
    reply = bench.ask("profile set patient-1 drug=glycopyrronium conc=0.5 tray=A target=12")
    assert reply[-1].startswith("ERR VALUE") and "8 mA" in reply[-1]   # above the drug's cap
    reply = bench.ask("profile set patient-1 drug=glycopyrronium conc=0.5 tray=A target=8")
    assert reply[-1] == "OK", reply
    s = shown(reply)
    assert s["drug"] == "glycopyrronium" and s["medication mode"] == "unlocked"
    assert s["reverse"] == "no" and s["target"] == "8 mA"
    press_start(bench, 60.0)
    assert bench.prog.controller.rx.target_ma == 8.0
    assert not bench.prog.controller.rx.reverse_polarity
    assert bench.truth.peak_ma <= 8.0 * 1.05


@pytest.mark.hazard("H-OVERTREAT-1")
def test_an_override_lets_exactly_one_too_soon_session_through(bench):
    login(bench)
    assert bench.ask("profile set patient-1 duration=5")[-1] == "OK"
    c = bench.prog.controller
    press_start(bench, 1.0)
    end = bench.prog.clock.now() + 600
    while not c.sessions_done and bench.prog.clock.now() < end:
        bench.run(5.0)
    bench.run(RATE_ASK_S + QUIET_S + 1.0)   # the DONE screen (it asks for a score), then ready
    login(bench)   # the idle logout may have come
    press_start(bench)
    assert last_warning(bench) == "TOO-SOON" and c.state == "IDLE"
    assert bench.ask("profile override patient-1")[-1] == "OK"
    press_start(bench, 5.0)
    assert c.session is not None          # let through once
    assert [e["code"] for e in bench.prog.log.course_events_of("patient-1")
            if e["kind"] == "override"] == ["OVERRIDE-GRANTED", "OVERRIDE-USED"]
    assert "override" not in bench.prog.log.profiles()["patient-1"]


def test_hdss_scores_are_logged_and_audited(bench):
    login(bench)
    reply = bench.ask("profile hdss patient-1 3")
    assert reply[-1] == "OK" and shown(reply) == {"hdss": "patient-1 2027-01-04 3",
                                                 "phase": "initial"}
    assert [h["score"] for h in bench.prog.log.hdss_of("patient-1")] == [3]
    assert rows(bench, "profile hdss")[-1]["new"] == "patient-1 2027-01-04 hdss=3"
    assert bench.ask("profile hdss patient-1 5")[-1].startswith("ERR VALUE")
    assert bench.ask("profile hdss patient-1 x")[-1].startswith("ERR VALUE")
    assert len(bench.prog.log.hdss_of("patient-1")) == 1


def test_a_profile_without_records_is_deleted_and_one_with_them_kept(bench):
    login(bench)
    assert bench.ask("profile add zoe feet child")[-1] == "OK"
    listed = bench.ask("profile list")
    assert listed[-1] == "OK" and "* patient-1: hands adult screened" in listed
    assert "  zoe: feet child not screened" in listed
    assert bench.ask("profile delete zoe")[-1] == "OK"
    assert rows(bench, "profile delete")[-1]["new"] is None
    assert bench.ask("profile hdss patient-1 2")[-1] == "OK"
    reply = bench.ask("profile delete patient-1")
    assert reply[-1].startswith("ERR VALUE") and "never deleted" in reply[-1]
    assert "patient-1" in bench.prog.log.profiles()


def test_the_clock_lost_refuses_what_needs_a_date(bench):
    login(bench)
    bench.rig.lose_clock_time()
    assert bench.ask("clock set 2000-01-01 00:00")[-1] == "OK"   # re-read: a time, but...
    bench.rig.lose_clock_time()
    bench.prog.calendar.read()
    reply = bench.ask("profile hdss patient-1 2")
    assert reply[-1].startswith("ERR CLOCK")
    press_start(bench)
    assert last_warning(bench) == "CLOCK-LOST" and bench.truth.peak_ma < 0.05


def test_the_course_report_on_the_console_is_the_logs(bench):
    """``profile report`` gives the course as ``ionto log --profile`` prints it: the phase, the
    next due date, the weeks and the HDSS scores entered."""
    from firmware.coursereport import course_report, report_lines

    login(bench)
    assert bench.ask("profile report nobody")[-1].startswith("ERR NOT-FOUND")
    assert bench.ask("profile report patient-1")[:-1] == [
        "profile patient-1: no sessions and no HDSS scores yet"]
    assert bench.ask("profile hdss patient-1 3")[-1] == "OK"
    reply = bench.ask("profile report patient-1")
    assert reply[-1] == "OK"
    want = [line or "-" for line in report_lines(course_report(bench.prog.log, "patient-1"))]
    assert reply[:-1] == want
    assert any(line.startswith("phase: initial") for line in want)
    assert "HDSS: 2027-01-04 3" in want
