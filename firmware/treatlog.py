"""The treatment log: one SQLite file in the data folder, safe against a power cut.

Tables: ``sessions`` (one row per session, with the profile it treated), ``events`` (everything
the device did and said), ``trace`` (one row per second of a session, for plots), ``audit`` (the
technician's trail: each login, logout and lockout, and each change of the prescription, the
limits, the calibration, the latched fault and the profiles, with its time, the console it came
from and the value before and after; committed at once), and for the course of treatment
``profiles`` (each person who shares the unit: an opaque JSON record, at most
:data:`MAX_PROFILES`), ``hdss`` (the HDSS scores entered, 1 to 4, by date) and
``course_events`` (refusals, phases, advice, overrides, comfort reports). The database runs in
WAL mode with ``synchronous=FULL``, so a committed transaction survives a power cut. A
session's row is inserted and committed when it starts; its end (outcome, dose, treatment
time...) is committed before the device shows "done". A session still open when the program
starts again was cut short by a power loss or a crash: it is marked ``interrupted``, and nothing
already committed is lost.

The schema has a version (``PRAGMA user_version``). Opening the log brings an older file up to
:data:`LATEST_VERSION` through :data:`MIGRATIONS`, one transaction each (the new version number
is written in the same transaction, so a power cut during a migration leaves the file whole at
the version before it), after a copy of the file as it was, ``<log>.v<N>.bak``, written
atomically. A file of a newer version than this software reads is refused and left as it is.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

#: Version 1 of the schema, frozen: the tables exactly as the software before schema versions
#: created them (``user_version`` 0, the same tables: :func:`_v0_to_v1` only stamps it 1). Never
#: edit it: a change of the schema is a new migration at the end of :data:`MIGRATIONS`.
SCHEMA_V1 = """
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

#: Version 2: the course of treatment. Applied statement by statement inside the migration's
#: transaction (``executescript`` would commit first).
SCHEMA_V2 = """
CREATE TABLE profiles (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    updated_utc TEXT NOT NULL
);
ALTER TABLE sessions ADD COLUMN profile_id TEXT REFERENCES profiles(id);
CREATE TABLE hdss (
    id INTEGER PRIMARY KEY,
    profile_id TEXT NOT NULL REFERENCES profiles(id),
    date TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 4),
    entered_by TEXT NOT NULL,
    t_utc TEXT NOT NULL
);
CREATE TABLE course_events (
    id INTEGER PRIMARY KEY,
    profile_id TEXT NOT NULL REFERENCES profiles(id),
    t_utc TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('refusal', 'phase', 'advice', 'override', 'comfort')),
    code TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX sessions_profile ON sessions(profile_id, id);
CREATE INDEX hdss_profile ON hdss(profile_id, date);
CREATE INDEX course_events_profile ON course_events(profile_id, id);
"""

#: Version 3: the lowest level the patient chose with SELECT in each session (mA, average;
#: NULL: not lowered), what the next session of the profile starts from (controller/comfort.py).
SCHEMA_V3 = """
ALTER TABLE sessions ADD COLUMN comfort_lowest_ma REAL
"""

#: The id the single prescription of a log of version 1 gets as the first profile.
FIRST_PROFILE = "patient-1"
#: At most this many people share the unit.
MAX_PROFILES = 6
COURSE_KINDS = ("refusal", "phase", "advice", "override", "comfort")


class TreatmentLogError(RuntimeError):
    """The log cannot be opened as it is (a newer version, a failed upgrade); the message says
    why and what to do. The file is left as it was."""


class ProfileError(ValueError):
    """A profile, an HDSS score or a course event refused, with the reason."""


@dataclass(frozen=True)
class Upgrade:
    """What a migration may need that is not in the log: ``prescription`` the prescription
    file's record (a dict, or None when there is none or it is unreadable), ``first_profile``
    the id it gets as a profile, ``utc`` the time of the upgrade, ``existing`` whether the
    file held a log before (False: a new log, created through every migration)."""

    prescription: dict | None
    first_profile: str
    utc: str
    existing: bool = True


def _statements(script: str) -> list[str]:
    """A script's statements (the schema scripts have no ``;`` inside a statement)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def _v0_to_v1(db, up: Upgrade) -> None:
    """Version 1: today's tables; on a log written before schema versions (the same tables)
    every statement is a no-op, and the version is stamped."""
    for stmt in _statements(SCHEMA_V1):
        db.execute(stmt)


def _v1_to_v2(db, up: Upgrade) -> None:
    """Version 2: profiles, HDSS scores, course events. The prescription becomes the first
    profile (the prescription file's record; without one, the newest session's prescription),
    and every session already in the log is that profile's; on a log that held records, an
    audit row says so. No row is removed, and no value changed but the new column's."""
    for stmt in _statements(SCHEMA_V2):
        db.execute(stmt)
    rx, source = up.prescription, "the prescription file"
    if rx is None:
        row = db.execute("SELECT prescription FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return   # a new log: no prescription, no session, no profile yet
        try:
            rx, source = json.loads(row[0]), "the newest session's prescription"
        except ValueError:
            return   # not a record a profile can hold: the sessions stay without one
    pid = up.first_profile
    data = _profile_json(pid, {"id": pid, "prescription": rx})
    db.execute("INSERT INTO profiles(id, data, created_utc, updated_utc) VALUES (?, ?, ?, ?)",
               (pid, data, up.utc, up.utc))
    db.execute("UPDATE sessions SET profile_id=? WHERE profile_id IS NULL", (pid,))
    if up.existing:   # the trail says where the profile came from
        db.execute("INSERT INTO audit(utc, t_s, console, action, old, new, detail) "
                   "VALUES (?, 0.0, 'upgrade', 'profile add', NULL, ?, ?)",
                   (up.utc, data, f"profile {pid}: from {source}, at the log's upgrade to "
                    "version 2; every earlier session is this profile's"))


def _v2_to_v3(db, up: Upgrade) -> None:
    """Version 3: each session's lowest comfort level, NULL for every session already in the
    log (none was lowered: the unit had no way to). No row is removed, no value changed."""
    for stmt in _statements(SCHEMA_V3):
        db.execute(stmt)


#: ``MIGRATIONS[n]`` brings a log from version ``n`` to ``n + 1``, in one transaction.
MIGRATIONS: list[Callable[[sqlite3.Connection, Upgrade], None]] = [_v0_to_v1, _v1_to_v2,
                                                                    _v2_to_v3]
LATEST_VERSION = len(MIGRATIONS)


def _json_object(what: str, data) -> str:
    """``data`` as stored JSON text (keys sorted, no NaN), or a ProfileError naming ``what``."""
    if not isinstance(data, dict):
        raise ProfileError(f"{what} is a JSON object (dict), not {type(data).__name__}")
    try:
        return json.dumps(data, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{what} is not JSON ({exc})") from None


def _profile_json(pid, data) -> str:
    """The stored text of a profile's record; refuses what is not a JSON object with this id."""
    if not isinstance(pid, str) or not pid:
        raise ProfileError(f"a profile id is a non-empty text, not {pid!r}")
    text = _json_object(f"profile {pid}: its record", data)
    if data.get("id") != pid:
        raise ProfileError(f"profile {pid}: the record's id is {data.get('id')!r}; it must be "
                           f"{pid!r}")
    return text


def _who(who) -> None:
    if not isinstance(who, str) or not who:
        raise ProfileError(f"who entered it: a non-empty text, not {who!r}")


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


AUDIT_COLUMNS = ("id", "utc", "t_s", "console", "action", "old", "new", "detail")
TRACE_COLUMNS = ("t_s", "state", "setpoint_ma", "current_a_ma", "current_b_ma", "electrode_v",
                 "hv_v", "load_ohm")


def _utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class TreatmentLog:
    """:param path: the database file (created with its folder if missing).
    :param prescription: the prescription file's record, for the upgrade of a log of version 1
        (it becomes the first profile); None if there is none.
    :param first_profile: that profile's id.
    :param utc: the real-time clock, an ISO text in UTC (default: the system's clock).
    :raises TreatmentLogError: the log is of a newer version, or an upgrade failed (the file is
        left at the version it had).
    """

    def __init__(self, path: Path | str, *, prescription: dict | None = None,
                 first_profile: str = FIRST_PROFILE, utc: Callable[[], str] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._utc = utc or _utc
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        try:
            self._open(Upgrade(prescription, first_profile, self._utc()))
        except BaseException:
            self.db.close()
            raise
        self.session_id: int | None = None
        self._last_trace_t: float | None = None

    # --- opening and upgrading ------------------------------------------------------------------
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _open(self, up: Upgrade) -> None:
        version = self.schema_version()
        if version > LATEST_VERSION:    # checked before anything is written to the file
            raise TreatmentLogError(
                f"the treatment log {self.path} is of version {version}, newer than this "
                f"software reads (version {LATEST_VERSION}); it was left unchanged. Install "
                "the newer software again (a log is never converted back); the copy kept "
                "before its upgrade, if any, is beside it as "
                f"{self.path.name}.v{LATEST_VERSION}.bak")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        if version == LATEST_VERSION:
            return
        tables = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0 and tables and "sessions" not in tables:
            raise TreatmentLogError(f"{self.path} is not a treatment log (it has no sessions "
                                    "table); it was left unchanged")
        if tables:   # a log with records: keep a copy of it as it is
            self._backup(max(version, 1))
        else:
            up = replace(up, existing=False)
        for v in range(version, LATEST_VERSION):
            self._migrate(v, up)

    def _migrate(self, v: int, up: Upgrade) -> None:
        """One migration, ``v`` to ``v + 1``, in one transaction with the new version number."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self.schema_version() == v:   # else another program upgraded it meanwhile
                MIGRATIONS[v](self.db, up)
                self.db.execute(f"PRAGMA user_version = {v + 1}")
            self.db.execute("COMMIT")
        except Exception as exc:
            if self.db.in_transaction:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass   # closing the connection rolls it back all the same
            raise TreatmentLogError(
                f"the treatment log {self.path} could not be upgraded from version {v} to "
                f"{v + 1} ({type(exc).__name__}: {exc}); it was left at version {v} with "
                "every record. Start the device again; if this comes back, the log and its "
                "copy (.bak) are for the service technician") from exc

    def _backup(self, version: int) -> Path:
        """``<log>.v<version>.bak``: a whole copy (one file, no WAL), written beside the log
        under a temporary name, fsynced, renamed over any older copy, the folder fsynced."""
        bak = self.path.with_name(f"{self.path.name}.v{version}.bak")
        tmp = bak.with_name(bak.name + ".tmp")
        try:
            tmp.unlink(missing_ok=True)
            dst = sqlite3.connect(tmp)
            try:
                self.db.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
            _fsync_path(tmp)
            os.replace(tmp, bak)
            _fsync_path(bak.parent)
        except (OSError, sqlite3.Error) as exc:
            raise TreatmentLogError(
                f"the treatment log {self.path} needs an upgrade, and the copy kept before it "
                f"could not be written ({bak}: {exc}); it was left unchanged at version "
                f"{version}. Free space in the data folder and start again") from exc
        return bak

    # --- writing --------------------------------------------------------------------------------
    def mark_interrupted(self) -> list[int]:
        """Mark sessions left open by a power cut or crash; returns their ids."""
        rows = [r[0] for r in self.db.execute(
            "SELECT id FROM sessions WHERE outcome='running'")]
        if rows:
            self._begin()
            self.db.execute("UPDATE sessions SET outcome='interrupted', end_utc=? "
                            "WHERE outcome='running'", (self._utc(),))
            self.commit()
        return rows

    def start_session(self, t_s: float, prescription, *, profile_id: str | None = None) -> int:
        """The session's row, committed at once; ``profile_id`` the person treated (a profile
        in the log), None for none."""
        rx = json.dumps(asdict(prescription), sort_keys=True)
        if profile_id is not None:
            self._known(profile_id)
        self._begin()
        cur = self.db.execute("INSERT INTO sessions(start_utc, start_s, prescription, profile_id) "
                              "VALUES (?, ?, ?, ?)", (self._utc(), t_s, rx, profile_id))
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
            "lowest_target_ma=?, comfort_lowest_ma=? WHERE id=?",
            (self._utc(), record.end_t, record.outcome, record.fault_code, record.treat_s,
             record.dose_ma_min, record.peak_ma, record.mean_load_ohm, record.pauses,
             record.reversals, record.lowest_target_ma,
             getattr(record, "comfort_lowest_ma", None), self.session_id))
        self.commit()
        self.session_id = None

    def event(self, ev) -> None:
        self._begin()
        self.db.execute("INSERT INTO events(session_id, t_s, utc, kind, code, message) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (self.session_id, ev.t, self._utc(), ev.kind, ev.code, ev.message))
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
                        (self._utc(), t_s, console, action, old, new, detail))
        self.commit()

    # --- the course of treatment ------------------------------------------------------------------
    def save_profile(self, pid: str, data: dict, *, who: str, t_s: float) -> bool:
        """Add or change a profile; its audit row (``profile add`` or ``profile change``, the
        record before and after) in the same transaction. ``data`` is a JSON object whose
        ``id`` is ``pid``. Returns False when the record was already exactly this.
        :raises ProfileError: not such a record, or a profile more than :data:`MAX_PROFILES`."""
        new = _profile_json(pid, data)
        _who(who)
        with self._transaction():
            row = self.db.execute("SELECT data FROM profiles WHERE id=?", (pid,)).fetchone()
            if row is not None and row[0] == new:
                return False
            now = self._utc()
            if row is None:
                ids = [r[0] for r in self.db.execute("SELECT id FROM profiles ORDER BY rowid")]
                if len(ids) >= MAX_PROFILES:
                    raise ProfileError(
                        f"profile {pid} not added: at most {MAX_PROFILES} people share the "
                        f"unit, and {len(ids)} profiles are set up ({', '.join(ids)}); delete "
                        "one that has no treatment records first")
                self.db.execute("INSERT INTO profiles(id, data, created_utc, updated_utc) "
                                "VALUES (?, ?, ?, ?)", (pid, new, now, now))
                self._audit_row(t_s, who, "profile add", None, new, f"profile {pid}")
            else:
                self.db.execute("UPDATE profiles SET data=?, updated_utc=? WHERE id=?",
                                (new, now, pid))
                self._audit_row(t_s, who, "profile change", row[0], new, f"profile {pid}")
        return True

    def delete_profile(self, pid: str, *, who: str, t_s: float) -> None:
        """Remove a profile that has no treatment record (no session, HDSS score or course
        event); its audit row (``profile delete``, the record it had) in the same transaction.
        :raises ProfileError: no such profile, or the log holds its records (which are kept)."""
        _who(who)
        with self._transaction():
            row = self.db.execute("SELECT data FROM profiles WHERE id=?", (pid,)).fetchone()
            if row is None:
                raise ProfileError(f"no profile {pid!r}; the profiles are: "
                                   f"{', '.join(self.profiles()) or 'none'}")
            held = [(n, what) for what, table in (("session", "sessions"),
                                                 ("HDSS score", "hdss"),
                                                 ("course event", "course_events"))
                    if (n := self.db.execute(f"SELECT count(*) FROM {table} WHERE "
                                             "profile_id=?", (pid,)).fetchone()[0])]
            if held:
                records = ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in held)
                raise ProfileError(f"profile {pid} is not deleted: the log holds its treatment "
                                   f"records ({records}), and a treatment record is never "
                                   "deleted; the profile can be changed instead")
            self.db.execute("DELETE FROM profiles WHERE id=?", (pid,))
            self._audit_row(t_s, who, "profile delete", row[0], None, f"profile {pid}")

    def record_hdss(self, pid: str, date, score: int, who: str) -> int:
        """An HDSS score (1 to 4) entered for ``date`` (a ``datetime.date`` or an ISO date
        text), committed at once; returns its row id. A later score for the same date is kept
        beside the earlier one."""
        if isinstance(date, _dt.datetime):
            date = date.date()
        if isinstance(date, str):
            try:
                date = _dt.date.fromisoformat(date)
            except ValueError:
                raise ProfileError(f"HDSS date {date!r}: a date as YYYY-MM-DD") from None
        if not isinstance(date, _dt.date):
            raise ProfileError(f"HDSS date {date!r}: a date as YYYY-MM-DD")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 4:
            raise ProfileError(f"HDSS score {score!r}: a whole number from 1 to 4")
        _who(who)
        with self._transaction():
            self._known(pid)
            cur = self.db.execute("INSERT INTO hdss(profile_id, date, score, entered_by, t_utc) "
                                  "VALUES (?, ?, ?, ?, ?)",
                                  (pid, date.isoformat(), score, who, self._utc()))
        return cur.lastrowid

    def hdss_of(self, pid: str) -> list[dict]:
        """A profile's HDSS scores by date, each date's in the order they were entered."""
        cols = ("date", "score", "entered_by", "t_utc")
        return [dict(zip(cols, r, strict=True)) for r in self.db.execute(
            f"SELECT {', '.join(cols)} FROM hdss WHERE profile_id=? ORDER BY date, id", (pid,))]

    def course_event(self, pid: str, kind: str, code: str, detail: dict | None = None) -> int:
        """What the course did for a profile (``kind``: refusal, phase, advice, override,
        comfort; ``code`` e.g. TOO-SOON, SOFT-WATER; ``detail`` a JSON object), committed at
        once; returns its row id."""
        if kind not in COURSE_KINDS:
            raise ProfileError(f"course event kind {kind!r}: one of {', '.join(COURSE_KINDS)}")
        if not isinstance(code, str) or not code:
            raise ProfileError(f"course event code {code!r}: a non-empty text")
        text = _json_object("course event detail", {} if detail is None else detail)
        with self._transaction():
            self._known(pid)
            cur = self.db.execute("INSERT INTO course_events(profile_id, t_utc, kind, code, "
                                  "detail) VALUES (?, ?, ?, ?, ?)",
                                  (pid, self._utc(), kind, code, text))
        return cur.lastrowid

    def course_events_of(self, pid: str) -> list[dict]:
        """A profile's course events, oldest first, ``detail`` as a dict."""
        return [{"t_utc": t, "kind": k, "code": c, "detail": json.loads(d)}
                for t, k, c, d in self.db.execute(
                    "SELECT t_utc, kind, code, detail FROM course_events WHERE profile_id=? "
                    "ORDER BY id", (pid,))]

    def _audit_row(self, t_s, console, action, old, new, detail) -> None:
        self.db.execute("INSERT INTO audit(utc, t_s, console, action, old, new, detail) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (self._utc(), t_s, console, action, old, new, detail))

    def _known(self, pid) -> None:
        if self.db.execute("SELECT 1 FROM profiles WHERE id=?", (pid,)).fetchone() is None:
            raise ProfileError(f"no profile {pid!r}; the profiles are: "
                               f"{', '.join(self.profiles()) or 'none'}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A transaction of its own: what was pending is committed first, and on an error
        only this transaction is rolled back, a failed COMMIT too (so that what the caller was
        told was not saved is never committed later with something else)."""
        self.commit()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.commit()
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

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

    def sessions_of(self, pid: str) -> list[dict]:
        """A profile's sessions, oldest first."""
        cur = self.db.execute("SELECT * FROM sessions WHERE profile_id=? ORDER BY id", (pid,))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    def profiles(self) -> dict[str, dict]:
        """Every profile's record by its id, in the order they were added."""
        return {pid: json.loads(data) for pid, data in self.db.execute(
            "SELECT id, data FROM profiles ORDER BY rowid")}

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
