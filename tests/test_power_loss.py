"""Power loss during writes: SIGKILL at 200 random moments of calibration saves and of treatment
log writes, with zero corrupted files and zero lost completed records.

A child process (forked, so that 200 kills take seconds rather than minutes of interpreter
start-ups) writes in a loop and reports each write that *returned* on a pipe; the parent kills
it (SIGKILL: no handler, no flush, no clean-up) after a random delay, then checks the files
as the next start of the device would read them:

- calibration: the file loads and verifies (checksum), and it holds the last save that returned
  or the one that was in progress; never an older one, never a mix;
- treatment log: ``PRAGMA integrity_check`` is ok, every session whose end was reported
  committed is there with the same figures, and the next start marks open sessions
  ``interrupted``.

What a process kill does not show: data in the kernel's page cache survives a killed process
but not a real power cut. That part rests on the fsyncs of the write protocols (``store.save``:
temporary file fsynced, renamed, folder fsynced; SQLite WAL with ``synchronous=FULL``), which
a kill cannot exercise.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
import traceback
from dataclasses import replace

import pytest

from controller import Prescription
from controller.events import Event
from controller.session import SessionRecord
from firmware import calibration as calmod
from firmware.treatlog import TreatmentLog

KILLS = 200


def _child(write_loop, ack_fd: int) -> None:
    """In the forked child: run the writes, report each completed one; never return. A child
    that fails exits with status 3 after printing why, which the parent reports."""
    try:
        write_loop(lambda n: os.write(ack_fd, f"{n}\n".encode()))
    except BaseException:  # noqa: BLE001 - reported through the exit status
        traceback.print_exc()
        os._exit(3)
    os._exit(0)


def _kill_during(write_loop, rng: random.Random, max_delay_s: float) -> list[int]:
    """Fork a writer; after its first completed write, kill it at a random moment of the
    following ones (the delay is random, so the moment in the write sequence is too, whatever
    the machine's speed); returns the acknowledged write numbers."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        _child(write_loop, w)
    os.close(w)
    data = b""
    while b"\n" not in data:          # the first write has returned
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    time.sleep(rng.uniform(0.0, max_delay_s))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status), "the writer failed before it was killed (see its stderr)"
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    return [int(x) for x in data.split()]


@pytest.mark.hazard("H-CAL-1", "H-REC-1")
def test_sigkill_during_calibration_saves_never_corrupts_or_loses_a_saved_calibration(
        tmp_path, board):
    rng = random.Random(20261125)
    base = calmod.Calibration.nominal(board)
    calmod.save(tmp_path, base, board)
    on_disk = 0          # the generation on disk (0: the first calibration)
    unacked = 0          # kills that came after a save's rename, before its caller returned
    for kill in range(KILLS):

        def loop(ack, start=on_disk + 1):
            n = start
            while True:  # the generation is carried in the gain (well within +-10 %)
                calmod.save(tmp_path, replace(base, a_gain=1.0 + n * 1e-6), board)
                ack(n)
                n += 1

        acks = _kill_during(loop, rng, 0.03)
        cal = calmod.load(tmp_path, board)   # raises on a corrupt or missing file
        gen = round((cal.a_gain - 1.0) / 1e-6)
        newest = acks[-1] if acks else on_disk
        # the last save that returned, or the one in progress when the power went: never an
        # older one (a lost save), never anything else (a mix)
        assert gen in (newest, newest + 1), (kill, gen, newest)
        unacked += gen == newest + 1
        prev = tmp_path / "calibration.json.prev"
        if prev.exists():    # the previous good copy is always whole too
            calmod.store.load(prev, calmod.KIND)
        on_disk = gen
    assert on_disk > KILLS   # every kill came after at least one save of its own
    if os.environ.get("IONTO_VERBOSE"):
        print(f"{KILLS} kills over {on_disk} saves; {unacked} after a rename, before its ack")


def _session_loop(db_path, start_sid_hint: int):
    rx = Prescription(target_ma=12.0, duration_min=5.0)

    def loop(ack):
        log = TreatmentLog(db_path)
        log.mark_interrupted()
        t = float(start_sid_hint)
        while True:
            sid = log.start_session(t, rx)
            log.event(Event(t, "session", "SESSION-START", "hands"))
            for k in range(5):
                log.trace(t + k, "TREAT", 12.0, None, 2000.0)
                log.event(Event(t + k, "info", "NOTE", f"second {k}"))
            rec = SessionRecord(start_t=t, prescription=rx, end_t=t + 5, outcome="completed",
                                treat_s=300.0, dose_ma_min=60.0 + sid / 1000, peak_ma=12.0,
                                load_sum=2000.0, load_n=1)
            log.end_session(rec)
            ack(sid)
            t += 10.0

    return loop


@pytest.mark.hazard("H-REC-1")
def test_sigkill_during_log_writes_never_corrupts_the_log_or_loses_a_completed_session(tmp_path):
    rng = random.Random(1125)
    db_path = tmp_path / "treatment.sqlite"
    TreatmentLog(db_path).close()
    completed: dict[int, float] = {}
    for kill in range(KILLS):
        acks = _kill_during(_session_loop(db_path, kill * 1000), rng, 0.05)
        db = sqlite3.connect(db_path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", kill
            rows = {sid: (outcome, dose) for sid, outcome, dose in
                    db.execute("SELECT id, outcome, dose_ma_min FROM sessions")}
        finally:
            db.close()
        for sid in acks:
            completed[sid] = 60.0 + sid / 1000
        for sid, dose in completed.items():  # never lost, never changed
            assert rows.get(sid) == ("completed", dose), (kill, sid, rows.get(sid))
    log = TreatmentLog(db_path)
    try:
        log.mark_interrupted()
        outcomes = [r["outcome"] for r in log.sessions()]
        assert "running" not in outcomes
        assert set(outcomes) <= {"completed", "interrupted"}
        assert log.integrity_ok()
    finally:
        log.close()
    assert len(completed) >= KILLS  # every kill came after at least one completed session
