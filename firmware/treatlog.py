"""The treatment log: one SQLite file in the data folder, safe against a power cut.

Tables: ``sessions`` (one row per session), ``events`` (everything the device did and said),
``trace`` (one row per second of a session, for plots) and ``audit`` (the technician's trail:
each login, logout and lockout, and each change of the prescription, the limits, the calibration
and the latched fault, with its time, the console it came from and the value before and after;
committed at once). The database runs in WAL mode with
``synchronous=FULL``, so a committed transaction survives a power cut. A session's row is
inserted and committed when it starts; its end (outcome, dose, treatment time...) is committed
before the device shows "done". A session still open when the program starts again was cut
short by a power loss or a crash: it is marked ``interrupted``, and nothing already committed is
lost.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    start_utc TEXT NOT NULL,
    end_utc TEXT,
    start_s REAL NOT NULL,
    end_s REAL,
    prescription TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'running',
    fault_code TEXT,
    treat_s REAL,
    dose_ma_min REAL,
    peak_ma REAL,
    mean_load_ohm REAL,
    pauses INTEGER,
    reversals INTEGER,
    lowest_target_ma REAL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    session_id INTEGER REFERENCES sessions(id),
    t_s REAL NOT NULL,
    utc TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trace (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t_s REAL NOT NULL,
    state TEXT NOT NULL,
    setpoint_ma REAL,
    current_a_ma REAL,
    current_b_ma REAL,
    electrode_v REAL,
    hv_v REAL,
    load_ohm REAL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    utc TEXT NOT NULL,
    t_s REAL NOT NULL,
    console TEXT NOT NULL,
    action TEXT NOT NULL,
    old TEXT,
    new TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id);
CREATE INDEX IF NOT EXISTS trace_session ON trace(session_id, t_s);
"""

AUDIT_COLUMNS = ("id", "utc", "t_s", "console", "action", "old", "new", "detail")
TRACE_COLUMNS = ("t_s", "state", "setpoint_ma", "current_a_ma", "current_b_ma", "electrode_v",
                 "hv_v", "load_ohm")


def _utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class TreatmentLog:
    """:param path: the database file (created with its folder if missing)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.session_id: int | None = None
        self._last_trace_t: float | None = None

    # --- writing --------------------------------------------------------------------------------
    def mark_interrupted(self) -> list[int]:
        """Mark sessions left open by a power cut or crash; returns their ids."""
        rows = [r[0] for r in self.db.execute(
            "SELECT id FROM sessions WHERE outcome='running'")]
        if rows:
            self._begin()
            self.db.execute("UPDATE sessions SET outcome='interrupted', end_utc=? "
                            "WHERE outcome='running'", (_utc(),))
            self.commit()
        return rows

    def start_session(self, t_s: float, prescription) -> int:
        rx = json.dumps(asdict(prescription), sort_keys=True)
        self._begin()
        cur = self.db.execute("INSERT INTO sessions(start_utc, start_s, prescription) "
                              "VALUES (?, ?, ?)", (_utc(), t_s, rx))
        self.commit()
        self.session_id = cur.lastrowid
        self._last_trace_t = None
        return self.session_id

    def end_session(self, record) -> None:
        """Commit the finished session (called before the device signals done)."""
        if self.session_id is None:
            return
        self._begin()
        self.db.execute(
            "UPDATE sessions SET end_utc=?, end_s=?, outcome=?, fault_code=?, treat_s=?, "
            "dose_ma_min=?, peak_ma=?, mean_load_ohm=?, pauses=?, reversals=?, "
            "lowest_target_ma=? WHERE id=?",
            (_utc(), record.end_t, record.outcome, record.fault_code, record.treat_s,
             record.dose_ma_min, record.peak_ma, record.mean_load_ohm, record.pauses,
             record.reversals, record.lowest_target_ma, self.session_id))
        self.commit()
        self.session_id = None

    def event(self, ev) -> None:
        self._begin()
        self.db.execute("INSERT INTO events(session_id, t_s, utc, kind, code, message) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (self.session_id, ev.t, _utc(), ev.kind, ev.code, ev.message))
        if ev.kind in ("fault", "session"):
            self.commit()

    def trace(self, t_s: float, state: str, setpoint_ma: float, sample, load_ohm) -> None:
        """One row a second while a session runs; commits what is pending at the same time."""
        if self.session_id is None:
            return
        if self._last_trace_t is not None and t_s - self._last_trace_t < 1.0 - 1e-9:
            return
        self._last_trace_t = t_s
        self._begin()
        a = b = e = hv = None
        if sample is not None:
            a, b, e, hv = (sample.current_a_ma, sample.current_b_ma, sample.electrode_v,
                           sample.hv_v)
        self.db.execute("INSERT INTO trace VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (self.session_id, t_s, state, setpoint_ma, a, b, e, hv, load_ohm))
        self.commit()

    def audit(self, t_s: float, console: str, action: str, old: str | None = None,
              new: str | None = None, detail: str = "") -> None:
        """One row of the technician's trail, committed at once (like a fault event): ``action``
        what was done (``rx set``, ``login``...), ``old`` and ``new`` the values before and
        after a change, ``console`` where it came from."""
        self._begin()
        self.db.execute("INSERT INTO audit(utc, t_s, console, action, old, new, detail) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (_utc(), t_s, console, action, old, new, detail))
        self.commit()

    def _begin(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN")

    def commit(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.db.close()

    # --- reading --------------------------------------------------------------------------------
    def sessions(self) -> list[dict]:
        cur = self.db.execute("SELECT * FROM sessions ORDER BY id")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    def session(self, sid: int) -> dict | None:
        cur = self.db.execute("SELECT * FROM sessions WHERE id=?", (sid,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def events_of(self, sid: int) -> list[dict]:
        cur = self.db.execute("SELECT t_s, kind, code, message FROM events WHERE session_id=? "
                              "ORDER BY id", (sid,))
        return [dict(zip(("t_s", "kind", "code", "message"), r, strict=True)) for r in cur]

    def audit_rows(self, last: int | None = None) -> list[dict]:
        """The technician's trail, oldest first (the newest ``last`` rows if given)."""
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit ORDER BY id"
        if last is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(last)}) ORDER BY id"
        return [dict(zip(AUDIT_COLUMNS, r, strict=True)) for r in self.db.execute(sql)]

    def trace_of(self, sid: int) -> list[tuple]:
        return list(self.db.execute(
            f"SELECT {', '.join(TRACE_COLUMNS)} FROM trace WHERE session_id=? "
            "ORDER BY t_s, rowid", (sid,)))

    def export_csv(self, sid: int) -> str:
        return "".join(self.export_lines(sid, page=None))

    def export_lines(self, sid: int, page: int | None = 50):
        """A session's trace as CSV lines (``\\r\\n`` ends), the header first. With ``page`` a
        generator that reads ``page`` rows at a time, each read a short query of its own on the
        ``(session_id, t_s)`` index (no cursor stays open between two reads, no read scans the
        table): the console sends a long session's export across many control periods while
        the log goes on writing."""
        buf = io.StringIO()
        out = csv.writer(buf)

        def csv_line(row) -> str:
            buf.seek(0)
            buf.truncate()
            out.writerow(row)
            return buf.getvalue()

        yield csv_line(TRACE_COLUMNS)
        if page is None:
            for row in self.trace_of(sid):
                yield csv_line(row)
            return
        cols = ", ".join(TRACE_COLUMNS)
        last_t, same = float("-inf"), 0   # the last time sent, and how many rows had it
        while True:
            rows = self.db.execute(
                f"SELECT {cols} FROM trace WHERE session_id=? AND t_s >= ? "
                "ORDER BY t_s, rowid LIMIT ? OFFSET ?", (sid, last_t, page, same)).fetchall()
            for row in rows:
                yield csv_line(row)
                if row[0] == last_t:
                    same += 1
                else:
                    last_t, same = row[0], 1
            if len(rows) < page:
                return

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
