"""The treatment log's schema version and migrations, and the course of treatment's tables.

A log "as the software before schema versions wrote it" is made with the frozen version-1
script (``SCHEMA_V1``, ``user_version`` 0) and rows shaped as that software inserted them. Every
test uses a real SQLite file in ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
from dataclasses import asdict

import pytest

from conftest import make_rig, screened
from controller import Limits, Prescription
from controller.events import Event
from controller.session import SessionRecord
from firmware import calibration as calmod
from firmware import cli, settings, treatlog
from firmware.device import DeviceProgram
from firmware.sdnotify import Notifier
from firmware.treatlog import (
    LATEST_VERSION,
    MAX_PROFILES,
    SCHEMA_V1,
    ProfileError,
    TreatmentLog,
    TreatmentLogError,
)

V1_TABLES = ("sessions", "events", "trace", "audit")
RX = {"site": "hands", "target_ma": 12.0, "duration_min": 15.0}


def clock(start=0):
    """An injected real-time clock: one second later at each reading."""
    n = [start]

    def utc():
        n[0] += 1
        return f"2027-01-04T19:{n[0] // 60 % 60:02d}:{n[0] % 60:02d}+00:00"
    return utc


def write_v1_log(path, sessions=3) -> None:
    """A log as the software before schema versions wrote it: the v1 tables, user_version 0,
    ``sessions`` sessions (the last one still running) with events, trace rows, audit rows."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA_V1)
    for sid in range(1, sessions + 1):
        rx = json.dumps({"site": "hands", "target_ma": 10.0 + sid, "duration_min": 20.0},
                        sort_keys=True)
        done = sid < sessions
        db.execute("INSERT INTO sessions(start_utc, start_s, prescription) VALUES (?, ?, ?)",
                   (f"2026-11-0{sid}T19:30:00+00:00", 100.0 * sid, rx))
        if done:
            db.execute("UPDATE sessions SET end_utc=?, end_s=?, outcome='completed', "
                       "treat_s=1200.0, dose_ma_min=?, peak_ma=?, mean_load_ohm=2010.5, "
                       "pauses=1, reversals=1, lowest_target_ma=?, fault_code=NULL WHERE id=?",
                       (f"2026-11-0{sid}T19:52:00+00:00", 100.0 * sid + 1320, 240.0 + sid,
                        10.0 + sid, 10.0 + sid, sid))
        for k, (kind, code) in enumerate([("session", "SESSION-START"), ("info", "RAMP"),
                                          ("warning", "LIFT")]):
            db.execute("INSERT INTO events(session_id, t_s, utc, kind, code, message) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (sid, 100.0 * sid + k, "2026-11-01T19:30:0"
                                                     f"{k}+00:00", kind, code, f"m {sid} {k}"))
        for k in range(5):
            db.execute("INSERT INTO trace VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (sid, 100.0 * sid + k, "TREAT", 10.0 + sid, 10.0 + sid + k / 100,
                        None if k == 2 else 10.0 + sid, 20.5, 24.0, 2000.0 + k))
    db.execute("INSERT INTO events(session_id, t_s, utc, kind, code, message) VALUES "
               "(NULL, 1.0, '2026-11-01T19:00:00+00:00', 'info', 'POWER-ON', 'started')")
    for action, old, new in [("login", None, None), ("rx set", "target=11mA", "target=12mA"),
                             ("logout", None, None)]:
        db.execute("INSERT INTO audit(utc, t_s, console, action, old, new, detail) VALUES "
                   "('2026-11-01T18:00:00+00:00', 5.0, 'serial', ?, ?, ?, '')",
                   (action, old, new))
    db.close()


def rows(path) -> dict[str, list[tuple]]:
    """Every row of the version-1 tables, with their columns by name."""
    db = sqlite3.connect(path)
    try:
        out = {}
        for table in V1_TABLES:
            cur = db.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid")
            cols = [d[0] for d in cur.description]
            out[table] = [dict(zip(cols, r, strict=True)) for r in cur]
        return out
    finally:
        db.close()


def user_version(path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def columns(path, table) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
    finally:
        db.close()


@pytest.fixture
def log(tmp_path):
    lg = TreatmentLog(tmp_path / "treatment.sqlite", utc=clock())
    yield lg
    lg.close()


def profile(pid, **more):
    return {"id": pid, "prescription": RX, **more}


# --- versions and migrations ----------------------------------------------------------------------
def test_a_new_log_is_made_at_the_latest_version(tmp_path):
    path = tmp_path / "treatment.sqlite"
    lg = TreatmentLog(path)
    try:
        assert lg.schema_version() == LATEST_VERSION == 3
        assert lg.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert lg.profiles() == {}          # no prescription given, no session: no profile
        assert lg.audit_rows() == []
    finally:
        lg.close()
    assert "profile_id" in columns(path, "sessions")
    assert not list(tmp_path.glob("*.bak"))   # nothing to keep a copy of


def test_a_new_log_with_a_prescription_starts_with_the_first_profile(tmp_path):
    lg = TreatmentLog(tmp_path / "t.sqlite", prescription=RX)
    try:
        assert lg.profiles() == {"patient-1": {"id": "patient-1", "prescription": RX}}
        assert lg.audit_rows() == []   # a new log: no upgrade to tell of
    finally:
        lg.close()


@pytest.mark.hazard("H-REC-1")
def test_a_v1_log_is_upgraded_without_losing_or_changing_a_record(tmp_path):
    path = tmp_path / "treatment.sqlite"
    write_v1_log(path, sessions=4)
    assert user_version(path) == 0 and "profile_id" not in columns(path, "sessions")
    before = rows(path)
    assert [len(before[t]) for t in V1_TABLES] == [4, 13, 20, 3]
    lg = TreatmentLog(path, prescription=RX, utc=clock())
    try:
        assert lg.schema_version() == LATEST_VERSION
        assert lg.profiles() == {"patient-1": {"id": "patient-1", "prescription": RX}}
        assert [s["id"] for s in lg.sessions_of("patient-1")] == [1, 2, 3, 4]
        assert lg.mark_interrupted() == [4]   # the open session is still found as open
    finally:
        lg.close()
    after = rows(path)
    for table in ("events", "trace"):
        assert after[table] == before[table], table
    # every session as it was, with its profile; the running one now interrupted
    for old, new in zip(before["sessions"], after["sessions"], strict=True):
        assert new.pop("profile_id") == "patient-1"
        assert new.pop("comfort_lowest_ma") is None
        if old["outcome"] == "running":
            assert new.pop("outcome") == "interrupted" and new.pop("end_utc")
            old.pop("outcome"), old.pop("end_utc")
        assert new == old
    # the trail as it was, and one row that says where the profile came from
    assert after["audit"][:3] == before["audit"]
    (added,) = after["audit"][3:]
    assert (added["console"], added["action"], added["old"]) == ("upgrade", "profile add", None)
    assert json.loads(added["new"]) == {"id": "patient-1", "prescription": RX}
    assert "prescription file" in added["detail"]


def test_the_first_profile_id_can_be_configured(tmp_path):
    path = tmp_path / "t.sqlite"
    write_v1_log(path, sessions=2)
    lg = TreatmentLog(path, prescription=RX, first_profile="anna")
    try:
        assert list(lg.profiles()) == ["anna"]
        assert [s["profile_id"] for s in lg.sessions()] == ["anna", "anna"]
    finally:
        lg.close()


def test_without_a_prescription_file_the_newest_sessions_prescription_is_the_profiles(tmp_path):
    path = tmp_path / "t.sqlite"
    write_v1_log(path, sessions=3)
    newest = json.loads(rows(path)["sessions"][-1]["prescription"])
    lg = TreatmentLog(path, prescription=None)
    try:
        assert lg.profiles()["patient-1"]["prescription"] == newest == {
            "site": "hands", "target_ma": 13.0, "duration_min": 20.0}
        assert {s["profile_id"] for s in lg.sessions()} == {"patient-1"}
        assert "newest session" in lg.audit_rows()[-1]["detail"]
    finally:
        lg.close()


@pytest.mark.hazard("H-REC-1")
def test_the_upgrade_keeps_a_whole_copy_of_the_v1_log(tmp_path):
    path = tmp_path / "treatment.sqlite"
    write_v1_log(path)
    before = rows(path)
    TreatmentLog(path, prescription=RX).close()
    bak = tmp_path / "treatment.sqlite.v1.bak"
    assert bak.exists() and not (tmp_path / "treatment.sqlite.v1.bak.tmp").exists()
    assert rows(bak) == before          # every row as it was before the upgrade
    assert user_version(bak) == 0 and "profile_id" not in columns(bak, "sessions")
    db = sqlite3.connect(bak)
    try:   # one file on its own: not in WAL mode, nothing beside it needed
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    # opening the upgraded log again writes no new copy over it
    stamp = bak.stat().st_mtime_ns
    TreatmentLog(path, prescription={"other": 1}).close()
    assert bak.stat().st_mtime_ns == stamp and rows(bak) == before


class FailAfter:
    """A connection that runs ``n`` statements, then fails as a write to a full or broken
    disk would."""

    def __init__(self, db, n):
        self.db, self.left, self.ran = db, n, []

    def execute(self, sql, *args):
        if self.left == 0:
            raise sqlite3.OperationalError("disk I/O error")
        self.left -= 1
        self.ran.append(sql)
        return self.db.execute(sql, *args)


@pytest.mark.hazard("H-REC-1")
def test_a_migration_that_fails_after_its_first_statement_leaves_the_old_version_whole(
        tmp_path, monkeypatch):
    path = tmp_path / "treatment.sqlite"
    write_v1_log(path)
    before = rows(path)
    real = treatlog.MIGRATIONS[1]
    seen = {}

    def failing(db, up):
        proxy = FailAfter(db, 1)
        try:
            real(proxy, up)
        finally:   # the first statement did run, inside the migration's transaction
            seen["ran"] = proxy.ran
            seen["profiles"] = db.execute("SELECT count(*) FROM sqlite_master WHERE "
                                          "name='profiles'").fetchone()[0]

    monkeypatch.setattr(treatlog, "MIGRATIONS", [treatlog.MIGRATIONS[0], failing])
    with pytest.raises(TreatmentLogError) as err:
        TreatmentLog(path, prescription=RX)
    assert len(seen["ran"]) == 1 and seen["profiles"] == 1
    msg = str(err.value)
    assert "from version 1 to 2" in msg and "left at version 1" in msg and "disk I/O" in msg
    assert user_version(path) == 1                       # the old version (0 -> 1 committed)
    assert "profile_id" not in columns(path, "sessions")
    assert columns(path, "profiles") == []
    assert rows(path) == before                          # with every row
    monkeypatch.undo()
    lg = TreatmentLog(path, prescription=RX)             # and the next start upgrades it
    try:
        assert lg.schema_version() == LATEST_VERSION and len(lg.sessions_of("patient-1")) == 3
    finally:
        lg.close()


@pytest.mark.hazard("H-REC-1")
def test_a_power_cut_in_the_middle_of_a_migration_leaves_the_old_version_whole(tmp_path):
    """SIGKILL (no handler, no rollback, nothing flushed) right after the migration's first
    statement, in a forked child: the file the next start finds is version 1, every row."""
    path = tmp_path / "treatment.sqlite"
    write_v1_log(path)
    before = rows(path)

    def cut(db, up):
        for stmt in treatlog._statements(treatlog.SCHEMA_V2)[:2]:
            db.execute(stmt)                             # the new table and the new column
        os.kill(os.getpid(), signal.SIGKILL)

    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            treatlog.MIGRATIONS = [treatlog.MIGRATIONS[0], cut]
            TreatmentLog(path, prescription=RX)
        finally:
            os._exit(3)                                  # reached only if no kill came
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert user_version(path) == 1
    assert "profile_id" not in columns(path, "sessions") and columns(path, "profiles") == []
    assert rows(path) == before
    lg = TreatmentLog(path, prescription=RX)
    try:
        assert lg.integrity_ok() and lg.schema_version() == LATEST_VERSION
        assert [s["profile_id"] for s in lg.sessions()] == ["patient-1"] * 3
    finally:
        lg.close()


ALL_TABLES = (*V1_TABLES, "profiles", "hdss", "course_events")


def every_row(path) -> dict[str, list[dict]]:
    """Every row of every table of a version-2 log, with its columns by name."""
    db = sqlite3.connect(path)
    try:
        out = {}
        for table in ALL_TABLES:
            cur = db.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid")
            cols = [d[0] for d in cur.description]
            out[table] = [dict(zip(cols, r, strict=True)) for r in cur]
        return out
    finally:
        db.close()


def write_v2_log(path, monkeypatch) -> None:
    """A log as the software of schema version 2 wrote it: that software's own code (the
    migrations up to version 2) with its rows, each written through the log's own methods, and
    the sessions' ends with the statement of version 2 (no comfort column)."""
    with monkeypatch.context() as m:
        m.setattr(treatlog, "MIGRATIONS", treatlog.MIGRATIONS[:2])
        m.setattr(treatlog, "LATEST_VERSION", 2)
        lg = TreatmentLog(path, prescription=RX, utc=clock())
        try:
            assert lg.schema_version() == 2
            assert "comfort_lowest_ma" not in columns(path, "sessions")
            rx = Prescription(target_ma=12.0, duration_min=15.0).validated()
            lg.save_profile("anna", profile("anna", comfort_ma=11.0), who="tech", t_s=1.0)
            lg.record_hdss("anna", "2027-01-04", 3, "tech")
            for sid in (1, 2):
                lg.start_session(10.0 * sid, rx, profile_id="anna")
                lg.event(Event(10.0 * sid + 1, "info", "CONTACT", f"contact {sid}"))
                lg.trace(10.0 * sid + 2, "TREAT", 12.0, None, 2000.0)
                lg.db.execute(   # the end as version 2 wrote it
                    "UPDATE sessions SET end_utc=?, end_s=?, outcome=?, fault_code=?, "
                    "treat_s=?, dose_ma_min=?, peak_ma=?, mean_load_ohm=?, pauses=?, "
                    "reversals=?, lowest_target_ma=? WHERE id=?",
                    ("2027-01-04T19:30:00+00:00", 10.0 * sid + 900, "completed", None, 900.0,
                     180.0, 12.1, 2000.0, 0, 1, None, lg.session_id))
                lg.session_id = None
            lg.course_event("anna", "advice", "SOFT-WATER", {"at": "2027-01-04T19:31:00"})
        finally:
            lg.close()


@pytest.mark.hazard("H-REC-1")
def test_a_v2_log_gets_the_comfort_column_without_losing_or_changing_a_record(
        tmp_path, monkeypatch):
    path = tmp_path / "treatment.sqlite"
    write_v2_log(path, monkeypatch)
    assert user_version(path) == 2
    before = every_row(path)
    assert [len(before[t]) for t in ALL_TABLES] == [2, 2, 2, 1, 2, 1, 1]
    lg = TreatmentLog(path, prescription=RX, utc=clock(100))
    try:
        assert lg.schema_version() == LATEST_VERSION == 3
        assert [s["comfort_lowest_ma"] for s in lg.sessions_of("anna")] == [None, None]
        # a session of the new version keeps the lowest level the patient chose
        rec = SessionRecord(start_t=50.0, prescription=Prescription().validated(), end_t=60.0,
                            outcome="completed", comfort_lowest_ma=9.0)
        lg.start_session(50.0, rec.prescription, profile_id="anna")
        lg.end_session(rec)
        assert lg.sessions_of("anna")[-1]["comfort_lowest_ma"] == 9.0
    finally:
        lg.close()
    after = every_row(path)
    for table in ALL_TABLES:
        old, new = before[table], after[table]
        if table == "sessions":
            new = new[:2]
            for row in new:
                assert row.pop("comfort_lowest_ma") is None
        assert new == old[: len(new)] and len(old) == len(new), table
    assert after["audit"] == before["audit"]      # a column added tells the trail nothing new
    bak = tmp_path / "treatment.sqlite.v2.bak"    # and the copy of the log as it was
    assert every_row(bak) == before and user_version(bak) == 2
    assert "comfort_lowest_ma" not in columns(bak, "sessions")


@pytest.mark.hazard("H-REC-1")
def test_a_failed_comfort_migration_leaves_the_v2_log_whole(tmp_path, monkeypatch):
    path = tmp_path / "treatment.sqlite"
    write_v2_log(path, monkeypatch)
    before = every_row(path)

    def failing(db, up):
        treatlog._v2_to_v3(db, up)                # the column added, in the transaction
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(treatlog, "MIGRATIONS", [*treatlog.MIGRATIONS[:2], failing])
    with pytest.raises(TreatmentLogError) as err:
        TreatmentLog(path, prescription=RX)
    assert "from version 2 to 3" in str(err.value)
    assert user_version(path) == 2 and "comfort_lowest_ma" not in columns(path, "sessions")
    assert every_row(path) == before
    monkeypatch.undo()
    lg = TreatmentLog(path, prescription=RX)      # the next start upgrades it
    try:
        assert lg.schema_version() == 3 and len(lg.sessions_of("anna")) == 2
    finally:
        lg.close()


def test_a_log_of_a_newer_version_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "treatment.sqlite"
    TreatmentLog(path).close()
    newer = LATEST_VERSION + 1
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(TreatmentLogError) as err:
        TreatmentLog(path, prescription=RX)
    msg = str(err.value)
    assert f"version {newer}" in msg and f"(version {LATEST_VERSION})" in msg
    assert "left unchanged" in msg and "newer software" in msg
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert user_version(path) == newer


def test_a_file_that_is_not_a_treatment_log_is_refused(tmp_path):
    path = tmp_path / "treatment.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (x)")
    db.close()
    with pytest.raises(TreatmentLogError, match="not a treatment log"):
        TreatmentLog(path)
    assert columns(path, "sessions") == []


def test_a_copy_that_cannot_be_written_stops_the_upgrade(tmp_path):
    path = tmp_path / "treatment.sqlite"
    write_v1_log(path)
    (tmp_path / "treatment.sqlite.v1.bak.tmp").mkdir()   # in the way of the copy
    with pytest.raises(TreatmentLogError) as err:
        TreatmentLog(path, prescription=RX)
    assert "copy" in str(err.value) and "left unchanged" in str(err.value)
    assert user_version(path) == 0 and "profile_id" not in columns(path, "sessions")


# --- the profiles -------------------------------------------------------------------------------
def test_a_profile_is_added_and_changed_with_its_audit_row_old_and_new(log):
    assert log.save_profile("anna", profile("anna"), who="serial", t_s=10.0) is True
    changed = profile("anna", child=True)
    assert log.save_profile("anna", changed, who="pty", t_s=20.0) is True
    assert log.save_profile("anna", changed, who="pty", t_s=30.0) is False   # the same record
    assert log.profiles() == {"anna": changed}
    add, change = log.audit_rows()
    assert (add["action"], add["console"], add["t_s"], add["old"]) == (
        "profile add", "serial", 10.0, None)
    assert json.loads(add["new"]) == profile("anna")
    assert (change["action"], change["console"], change["detail"]) == (
        "profile change", "pty", "profile anna")
    assert json.loads(change["old"]) == profile("anna") and json.loads(change["new"]) == changed
    created, updated = log.db.execute(
        "SELECT created_utc, updated_utc FROM profiles WHERE id='anna'").fetchone()
    assert created < updated


def test_a_profile_and_its_audit_row_are_one_transaction(log):
    log.save_profile("anna", profile("anna"), who="serial", t_s=1.0)
    real = log.db

    class NoAudit:
        """The connection, but the disk is full when the audit row is written."""

        @property
        def in_transaction(self):
            return real.in_transaction

        def execute(self, sql, *args):
            if sql.startswith("INSERT INTO audit"):
                raise sqlite3.OperationalError("disk full")
            return real.execute(sql, *args)

    log.db = NoAudit()
    with pytest.raises(sqlite3.OperationalError):
        log.save_profile("anna", profile("anna", child=True), who="serial", t_s=2.0)
    with pytest.raises(sqlite3.OperationalError):
        log.save_profile("ben", profile("ben"), who="serial", t_s=3.0)
    log.db = real
    assert not real.in_transaction
    assert log.profiles() == {"anna": profile("anna")}   # neither change without its audit row
    assert len(log.audit_rows()) == 1


@pytest.mark.parametrize("pid,data,why", [
    ("anna", profile("ben"), "the record's id is 'ben'"),
    ("anna", {"prescription": RX}, "the record's id is None"),
    ("anna", ["anna"], "JSON object"),
    ("anna", profile("anna", when={1, 2}), "not JSON"),
    ("anna", profile("anna", x=float("nan")), "not JSON"),
    ("", profile(""), "non-empty"),
])
def test_a_profile_record_that_is_not_a_json_object_with_its_id_is_refused(log, pid, data, why):
    with pytest.raises(ProfileError, match=why):
        log.save_profile(pid, data, who="serial", t_s=1.0)
    assert log.profiles() == {} and log.audit_rows() == []


def test_at_most_six_profiles(log):
    for k in range(MAX_PROFILES):
        log.save_profile(f"p{k}", profile(f"p{k}"), who="serial", t_s=k)
    with pytest.raises(ProfileError) as err:
        log.save_profile("p6", profile("p6"), who="serial", t_s=9.0)
    assert "at most 6" in str(err.value) and "p0, p1" in str(err.value)
    assert len(log.profiles()) == 6 and "p6" not in log.profiles()
    assert log.save_profile("p5", profile("p5", child=True), who="serial", t_s=10.0)  # a change
    log.delete_profile("p0", who="serial", t_s=11.0)
    assert log.save_profile("p6", profile("p6"), who="serial", t_s=12.0)
    assert list(log.profiles()) == ["p1", "p2", "p3", "p4", "p5", "p6"]


def test_a_profile_with_sessions_is_not_deleted(log):
    log.save_profile("anna", profile("anna"), who="serial", t_s=1.0)
    log.save_profile("ben", profile("ben"), who="serial", t_s=1.0)
    log.start_session(5.0, Prescription(), profile_id="anna")
    with pytest.raises(ProfileError) as err:
        log.delete_profile("anna", who="serial", t_s=6.0)
    assert "1 session" in str(err.value) and "never deleted" in str(err.value)
    log.record_hdss("ben", "2027-01-04", 3, "serial")
    with pytest.raises(ProfileError, match="1 HDSS score"):
        log.delete_profile("ben", who="serial", t_s=6.0)
    assert set(log.profiles()) == {"anna", "ben"}
    log.save_profile("cleo", profile("cleo"), who="serial", t_s=7.0)
    log.delete_profile("cleo", who="pty", t_s=8.0)
    assert "cleo" not in log.profiles()
    last = log.audit_rows()[-1]
    assert (last["action"], last["console"], last["new"]) == ("profile delete", "pty", None)
    assert json.loads(last["old"]) == profile("cleo")
    with pytest.raises(ProfileError, match="no profile 'cleo'"):
        log.delete_profile("cleo", who="pty", t_s=9.0)


def test_sessions_are_logged_against_their_profile(log):
    log.save_profile("anna", profile("anna"), who="serial", t_s=1.0)
    log.save_profile("ben", profile("ben"), who="serial", t_s=1.0)
    rx = Prescription(target_ma=9.0)
    for pid in ("anna", "ben", "anna", None):
        log.start_session(2.0, rx, profile_id=pid)
        log.end_session(SessionRecord(start_t=2.0, prescription=rx, end_t=3.0,
                                      outcome="completed"))
    assert [s["id"] for s in log.sessions_of("anna")] == [1, 3]
    assert [s["id"] for s in log.sessions_of("ben")] == [2]
    assert log.sessions()[3]["profile_id"] is None
    assert json.loads(log.sessions_of("ben")[0]["prescription"]) == asdict(rx)
    with pytest.raises(ProfileError, match="no profile 'zoe'; the profiles are: anna, ben"):
        log.start_session(4.0, rx, profile_id="zoe")
    assert len(log.sessions()) == 4


def test_hdss_scores_by_date(log):
    import datetime as dt
    log.save_profile("anna", profile("anna"), who="serial", t_s=1.0)
    log.record_hdss("anna", "2027-01-11", 2, "patient")
    log.record_hdss("anna", dt.date(2027, 1, 4), 3, "serial")
    log.record_hdss("anna", "2027-01-11", 1, "serial")       # a second score that day: kept
    got = log.hdss_of("anna")
    assert [(h["date"], h["score"], h["entered_by"]) for h in got] == [
        ("2027-01-04", 3, "serial"), ("2027-01-11", 2, "patient"), ("2027-01-11", 1, "serial")]
    assert all(h["t_utc"].startswith("2027-01-04T19:") for h in got)   # the injected clock
    for bad, why in [(0, "1 to 4"), (5, "1 to 4"), (True, "1 to 4"), ("3", "1 to 4"),
                     (2.5, "1 to 4")]:
        with pytest.raises(ProfileError, match=why):
            log.record_hdss("anna", "2027-01-12", bad, "serial")
    with pytest.raises(ProfileError, match="YYYY-MM-DD"):
        log.record_hdss("anna", "12/01/2027", 2, "serial")
    with pytest.raises(ProfileError, match="no profile"):
        log.record_hdss("ben", "2027-01-12", 2, "serial")
    with pytest.raises(ProfileError, match="who entered it"):
        log.record_hdss("anna", "2027-01-12", 2, "")
    assert len(log.hdss_of("anna")) == 3 and log.hdss_of("ben") == []


def test_course_events_of_a_profile(log):
    log.save_profile("anna", profile("anna"), who="serial", t_s=1.0)
    log.save_profile("ben", profile("ben"), who="serial", t_s=1.0)
    log.course_event("anna", "phase", "initial", {"day": 0})
    log.course_event("ben", "refusal", "TOO-SOON")
    log.course_event("anna", "advice", "SOFT-WATER", {"conductivity_us_cm": 90})
    got = log.course_events_of("anna")
    assert [(e["kind"], e["code"], e["detail"]) for e in got] == [
        ("phase", "initial", {"day": 0}), ("advice", "SOFT-WATER", {"conductivity_us_cm": 90})]
    assert log.course_events_of("ben")[0]["detail"] == {}
    with pytest.raises(ProfileError, match="one of refusal, phase, advice, override, comfort"):
        log.course_event("anna", "note", "X")
    with pytest.raises(ProfileError, match="not JSON"):
        log.course_event("anna", "comfort", "TINGLE", {"at": object()})
    with pytest.raises(ProfileError, match="no profile"):
        log.course_event("zoe", "comfort", "TINGLE")
    with pytest.raises(ProfileError, match="course event"):
        log.delete_profile("anna", who="serial", t_s=2.0)
    assert len(log.course_events_of("anna")) == 2


def test_a_course_record_commits_what_was_pending_and_only_itself_on_an_error(log):
    log.save_profile("anna", profile("anna"), who="serial", t_s=1.0)
    sid = log.start_session(1.0, Prescription(), profile_id="anna")
    log.event(Event(2.0, "info", "NOTE", "pending until the next commit"))
    assert log.db.in_transaction
    with pytest.raises(ProfileError):
        log.record_hdss("zoe", "2027-01-04", 2, "serial")
    assert [e["code"] for e in log.events_of(sid)] == ["NOTE"]   # not rolled back with it
    assert not log.db.in_transaction


# --- the start-up path ---------------------------------------------------------------------------
@pytest.mark.hazard("H-REC-1")
def test_the_first_start_of_the_device_upgrades_a_v1_log(tmp_path, board):
    rx = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0).validated()
    calmod.save(tmp_path, calmod.Calibration.nominal(board), board)
    settings.save(tmp_path, rx=rx, limits=Limits())
    path = tmp_path / "treatment.sqlite"
    write_v1_log(path, sessions=3)
    before = rows(path)
    rig, hw = make_rig(board)
    prog = DeviceProgram(hw, rig.clock, board=board, data_dir=tmp_path,
                         notifier=Notifier(environ={}))
    try:
        log = prog.log
        assert log.schema_version() == LATEST_VERSION
        assert log.profiles() == {"patient-1": {"id": "patient-1", "prescription": asdict(rx)}}
        assert [s["profile_id"] for s in log.sessions()] == ["patient-1"] * 3
        assert [s["outcome"] for s in log.sessions()][-1] == "interrupted"
        assert (tmp_path / "treatment.sqlite.v1.bak").exists()
        # the next session is the profile's too (screened, as a simulated unit is provisioned)
        screened(prog, rig)
        end = prog.clock.now() + 2.0
        while prog.clock.now() < end and prog.controller.state != "IDLE":
            prog.step()
        prog.controller.press(prog.clock.now())
        end = prog.clock.now() + 3.0
        while prog.clock.now() < end:
            prog.step()
        assert [s["id"] for s in log.sessions_of("patient-1")] == [1, 2, 3, 4]
    finally:
        prog.shutdown()
    assert rows(tmp_path / "treatment.sqlite.v1.bak") == before


def test_ionto_log_reads_a_v1_log_and_refuses_a_newer_one(tmp_path, capsys):
    settings.save(tmp_path, rx=Prescription(target_ma=7.0).validated(), limits=Limits())
    path = tmp_path / "treatment.sqlite"
    write_v1_log(path, sessions=2)
    assert cli.main(["log", "--data-dir", str(tmp_path), "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing[1:]] == ["1", "2"]
    lg = TreatmentLog(path)
    try:
        assert lg.profiles()["patient-1"]["prescription"]["target_ma"] == 7.0
    finally:
        lg.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 9")
    db.close()
    assert cli.main(["log", "--data-dir", str(tmp_path), "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ionto log: the treatment log") and "version 9" in err
    assert "Traceback" not in err


def test_ionto_device_refuses_a_newer_log_with_a_clear_message(tmp_path, capsys):
    path = tmp_path / "treatment.sqlite"
    TreatmentLog(path).close()
    newer = LATEST_VERSION + 1
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    rc = cli.main(["device", "--sim", "--speed", "max", "--quiet", "--exit-after", "0.2",
                   "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("ionto device: the treatment log") and f"version {newer}" in err
    assert "Traceback" not in err and user_version(path) == newer


def test_a_transaction_whose_commit_fails_is_rolled_back_not_committed_later(tmp_path):
    """A score the caller was told was not saved (the COMMIT failed) must not reach the file
    with the next transaction's commit."""
    log = treatlog.TreatmentLog(tmp_path / "t.sqlite")
    try:
        log.save_profile("anna", {"id": "anna"}, who="test", t_s=0.0)
        real, fail = log.commit, [True]

        def commit():   # the commit after the insert fails (the one before finds nothing open)
            if fail[0] and log.db.in_transaction:
                fail[0] = False
                raise sqlite3.OperationalError("disk I/O error")
            real()
        log.commit = commit
        with pytest.raises(sqlite3.OperationalError):
            log.record_hdss("anna", "2027-01-04", 3, "panel")
        assert not fail[0]
        assert not log.db.in_transaction
        log.record_hdss("anna", "2027-01-11", 2, "panel")   # a later transaction commits
        assert [h["date"] for h in log.hdss_of("anna")] == ["2027-01-11"]
    finally:
        log.close()
