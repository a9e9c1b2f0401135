"""A profile's course from the treatment log: ``ionto log --profile ID [--csv FILE]
[--plot FILE.png]``, on any computer.

The report is as of the log's last date (the newest session or HDSS score of the profile: a
computer reading the log has no real-time clock of the unit): the sessions per week since the
course's start (the first HDSS score or the first counted session), each week's dose, the HDSS
scores, the phases (``controller.course.phase_history``), the adherence (the sessions that count,
over the ones the plan asked: three a week in the initial phase, one every ``maintenance_days``
in maintenance; at most 100 % a week), and the next due date (``controller.course.due``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from controller import course as rules

from .course import counts, split_record, started_at


@dataclass
class Week:
    index: int
    start: date
    phase: str
    sessions: int
    counted: int
    asked: float
    dose_ma_min: float


def course_report(log, pid: str) -> dict:
    """The course of ``pid`` as a dict (see the module's docstring); KeyError: no profile."""
    record = log.profiles()[pid]
    fields_, extras = split_record(record)
    maintenance_days = fields_.get("maintenance_days", rules.DEFAULT_MAINTENANCE_DAYS)
    rows = [r for r in log.sessions_of(pid) if started_at(r) is not None]
    hdss = [(date.fromisoformat(h["date"]), h["score"]) for h in log.hdss_of(pid)]
    counted = [started_at(r) for r in rows if counts(r)]
    days = [d for d, _ in hdss] + [t.date() for t in counted]
    if not days and not rows:
        return {"profile": pid, "as_of": None, "start": None, "weeks": [], "sessions": [],
                "hdss": [], "phases": [], "adherence": None, "next_due": None,
                "due_status": None}
    start = min(days) if days else started_at(rows[0]).date()
    last_t = max([started_at(r) for r in rows] + [datetime.combine(d, datetime.min.time())
                                                  for d in days])
    as_of = last_t.date()
    decisions = [(date.fromisoformat(d), ph) for d, ph in extras.get("decisions", [])]
    phases = rules.phase_history(start, hdss, decisions, as_of)

    def phase_on(d: date) -> str:
        ph = rules.INITIAL
        for ch in phases:
            if ch.on <= d:
                ph = ch.phase
        return ph

    weeks = []
    n_weeks = (as_of - start).days // 7 + 1
    for i in range(n_weeks):
        w0 = start + timedelta(days=7 * i)
        in_week = [r for r in rows if w0 <= started_at(r).date() < w0 + timedelta(days=7)]
        ph = phase_on(w0)
        asked = rules.INITIAL_PER_WEEK if ph != rules.MAINTENANCE else 7 / maintenance_days
        weeks.append(Week(i + 1, w0, ph, len(in_week), sum(counts(r) for r in in_week), asked,
                          round(sum(r["dose_ma_min"] or 0.0 for r in in_week), 1)))
    done = sum(min(w.counted, w.asked) for w in weeks)
    asked = sum(w.asked for w in weeks)
    due = rules.due(counted, last_t, phase=phases[-1].phase,
                    maintenance_days=maintenance_days)
    return {
        "profile": pid, "as_of": as_of.isoformat(), "start": start.isoformat(),
        "weeks": [{"week": w.index, "from": w.start.isoformat(), "phase": w.phase,
                   "sessions": w.sessions, "counted": w.counted, "asked": round(w.asked, 2),
                   "dose_ma_min": w.dose_ma_min} for w in weeks],
        "sessions": [{"start": started_at(r).isoformat(timespec="minutes"),
                      "outcome": r["outcome"], "treat_min": round((r["treat_s"] or 0) / 60, 1),
                      "dose_ma_min": round(r["dose_ma_min"] or 0.0, 1),
                      "peak_ma": round(r["peak_ma"] or 0.0, 2), "counted": counts(r),
                      "target_ma": json.loads(r["prescription"]).get("target_ma")}
                     for r in rows],
        "hdss": [{"date": d.isoformat(), "score": s} for d, s in hdss],
        "phases": [{"from": ch.on.isoformat(), "phase": ch.phase, "reason": ch.reason}
                   for ch in phases],
        "adherence": round(done / asked, 3) if asked else None,
        "next_due": None if due.next_date is None else due.next_date.isoformat(),
        "due_status": due.status,
    }


def report_lines(rep: dict) -> list[str]:
    pid = rep["profile"]
    if rep["as_of"] is None:
        return [f"profile {pid}: no sessions and no HDSS scores yet"]
    adh = "-" if rep["adherence"] is None else f"{rep['adherence'] * 100:.0f} %"
    lines = [f"profile {pid}: course from {rep['start']}, as of {rep['as_of']} (the log's last "
             "date)",
             f"phase: {rep['phases'][-1]['phase']} since {rep['phases'][-1]['from']} "
             f"({rep['phases'][-1]['reason']})",
             f"next due: {rep['next_due'] or '-'} ({rep['due_status']}); adherence {adh}",
             "", f"{'week':>4} {'from':10s} {'phase':14s} {'sessions':>8} {'counted':>7} "
             f"{'asked':>5} {'dose mA*min':>11}"]
    for w in rep["weeks"]:
        lines.append(f"{w['week']:>4} {w['from']:10s} {w['phase']:14s} {w['sessions']:>8} "
                     f"{w['counted']:>7} {w['asked']:>5g} {w['dose_ma_min']:>11.1f}")
    if rep["hdss"]:
        lines += ["", "HDSS: " + ", ".join(f"{h['date']} {h['score']}" for h in rep["hdss"])]
    return lines


CSV_COLUMNS = ("kind", "date", "time", "outcome", "treat_min", "dose_ma_min", "peak_ma",
               "target_ma", "counted", "score", "phase")


def write_csv(rep: dict, path: Path) -> None:
    """One row per session, HDSS score and phase change, by date: for the dermatologist."""
    rows = []
    for s in rep["sessions"]:
        d, t = s["start"].split("T")
        rows.append({"kind": "session", "date": d, "time": t, "outcome": s["outcome"],
                     "treat_min": s["treat_min"], "dose_ma_min": s["dose_ma_min"],
                     "peak_ma": s["peak_ma"], "target_ma": s["target_ma"],
                     "counted": "yes" if s["counted"] else "no"})
    rows += [{"kind": "hdss", "date": h["date"], "score": h["score"]} for h in rep["hdss"]]
    rows += [{"kind": "phase", "date": p["from"], "phase": p["phase"]} for p in rep["phases"]]
    rows.sort(key=lambda r: (r["date"], r.get("time", ""), r["kind"]))
    with open(path, "w", newline="") as f:
        out = csv.DictWriter(f, CSV_COLUMNS)
        out.writeheader()
        out.writerows(rows)
