"""``ionto log --profile ID``: a profile's course from the treatment log, as text, CSV and PNG
(the log written through its own API, with the times a unit's clock would stamp)."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta

import pytest

from controller import Prescription, SessionRecord
from firmware.cli import main as ionto
from firmware.coursereport import course_report
from firmware.treatlog import TreatmentLog

RX = Prescription(target_ma=12.0, duration_min=10.0).validated()
START = datetime(2027, 1, 4, 19, 0)


def logged(tmp_path, session_days, treat_min=10.0, hdss=()):
    now = [START]
    log = TreatmentLog(tmp_path / "treatment.sqlite", utc=lambda: now[0].isoformat())
    log.save_profile("sam", {"id": "sam", "prescription": {"target_ma": 12.0}}, who="t", t_s=0)
    for day in session_days:
        now[0] = START + timedelta(days=day)
        log.start_session(0.0, RX, profile_id="sam")
        log.end_session(SessionRecord(start_t=0.0, prescription=RX, end_t=600.0,
                                      outcome="completed", treat_s=treat_min * 60,
                                      dose_ma_min=12.0 * treat_min, peak_ma=12.0))
    for day, score in hdss:
        log.record_hdss("sam", (START + timedelta(days=day)).date(), score, "t")
    return log


def test_the_report_counts_sessions_per_week_against_the_plan(tmp_path):
    log = logged(tmp_path, [0, 2, 4, 7, 9], hdss=[(0, 3), (7, 3)])
    rep = course_report(log, "sam")
    assert [(w["sessions"], w["counted"], w["asked"]) for w in rep["weeks"]] == [(3, 3, 3),
                                                                                 (2, 2, 3)]
    assert rep["adherence"] == pytest.approx(5 / 6, abs=1e-3)
    assert rep["weeks"][0]["dose_ma_min"] == 360.0
    # two days after the last (the 13th), and a week after the third from last (the 8th)
    assert rep["next_due"] == "2027-01-15"
    assert rep["phases"][-1]["phase"] == "initial"
    log.close()


def test_sessions_under_half_the_time_do_not_count(tmp_path):
    log = logged(tmp_path, [0, 2], treat_min=4.0)
    rep = course_report(log, "sam")
    assert [s["counted"] for s in rep["sessions"]] == [False, False]
    assert rep["weeks"][0]["counted"] == 0 and rep["adherence"] == 0.0
    assert rep["next_due"] is None
    log.close()


def test_ionto_log_profile_writes_text_csv_and_png(tmp_path, capsys):
    logged(tmp_path, [0, 2, 4, 7, 9, 11, 14], hdss=[(0, 3), (7, 2), (14, 2)]).close()
    out_csv, out_png = tmp_path / "sam.csv", tmp_path / "sam.png"
    assert ionto(["log", "--data-dir", str(tmp_path), "--profile", "sam", "--csv",
                  str(out_csv), "--plot", str(out_png)]) == 0
    text = capsys.readouterr().out
    assert "phase: maintenance since 2027-01-18" in text and "adherence 100 %" in text
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["kind"] for r in rows].count("session") == 7
    assert [r["score"] for r in rows if r["kind"] == "hdss"] == ["3", "2", "2"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10000


def test_ionto_log_profile_refuses_an_unknown_profile_and_a_subcommand_beside_it(tmp_path,
                                                                                 capsys):
    logged(tmp_path, [0]).close()
    assert ionto(["log", "--data-dir", str(tmp_path), "--profile", "zoe"]) == 2
    assert "no profile 'zoe'" in capsys.readouterr().err
    assert ionto(["log", "--data-dir", str(tmp_path), "--profile", "sam", "list"]) == 2
    assert ionto(["log", "--data-dir", str(tmp_path)]) == 2
    assert ionto(["log", "--data-dir", str(tmp_path), "--csv", str(tmp_path / "x.csv"),
                  "list"]) == 2
