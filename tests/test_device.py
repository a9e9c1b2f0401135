"""The device program: log, calibration, settings, panel, watchdog notification, signals, and
the Pi error path."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import device, make_rig, screened
from controller import Limits, Prescription
from firmware import calibration as calmod
from firmware import settings
from firmware.config import ConfigError, load_config
from firmware.device import DeviceProgram
from firmware.indication import PATTERNS, led_for
from firmware.sdnotify import Notifier
from firmware.treatlog import TreatmentLog
from sim.truth import TruthRecorder

SHORT_RX = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0)


def provision(data_dir, board, rx=SHORT_RX):
    calmod.save(data_dir, calmod.Calibration.nominal(board), board)
    settings.save(data_dir, rx=rx.validated(), limits=Limits())


def program(tmp_path, board, rx=SHORT_RX, provisioned=True, **rig_kw):
    if provisioned:
        provision(tmp_path, board, rx)
    rig, hw = make_rig(board, **rig_kw)
    prog = screened(DeviceProgram(hw, rig.clock, board=board, data_dir=tmp_path,
                                  notifier=Notifier(environ={})), rig)
    truth = TruthRecorder(rig)
    prog.loop.observers.append(lambda *_: truth.sample())
    return prog, rig, truth


def run_until(prog, pred, timeout):
    end = prog.clock.now() + timeout
    while prog.clock.now() < end and not pred():
        prog.step()
    return pred()


def press(prog, rig, hold=0.2):
    rig.set_button(True)
    end = prog.clock.now() + hold
    run_until(prog, lambda: prog.clock.now() >= end, hold + 1)
    rig.set_button(False)


@pytest.mark.hazard("H-REC-1", "H-DOSE-1")
def test_session_is_logged_with_the_true_dose(tmp_path, board):
    prog, rig, truth = program(tmp_path, board)
    assert run_until(prog, lambda: prog.controller.state == "IDLE", 2)
    press(prog, rig)
    assert run_until(prog, lambda: prog.controller.state == "DONE", 400)
    prog.shutdown()
    log = TreatmentLog(tmp_path / "treatment.sqlite")
    (row,) = log.sessions()
    assert row["outcome"] == "completed"
    assert row["dose_ma_min"] == pytest.approx(truth.dose_ma_min, rel=0.02)
    assert row["treat_s"] == pytest.approx(300.0, abs=0.1)
    assert json.loads(row["prescription"])["target_ma"] == 5.0
    trace = log.trace_of(row["id"])
    assert 300 <= len(trace) <= 400  # one row a second
    codes = [e["code"] for e in log.events_of(row["id"])]
    assert "SESSION-START" in codes and "SESSION-END" in codes
    assert log.integrity_ok()
    assert log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.hazard("H-REC-1")
def test_the_session_is_committed_before_the_device_shows_done(tmp_path, board):
    prog, rig, _ = program(tmp_path, board)
    run_until(prog, lambda: prog.controller.state == "IDLE", 2)
    press(prog, rig)
    seen = []

    def at_done(ev):
        if ev.kind == "state" and ev.code == "DONE":
            # a second connection sees the committed row at the moment DONE is entered
            db = sqlite3.connect(tmp_path / "treatment.sqlite")
            seen.append(db.execute("SELECT outcome FROM sessions").fetchone()[0])
            db.close()

    prog.controller.events.listeners.append(at_done)
    assert run_until(prog, lambda: prog.controller.state == "DONE", 400)
    assert seen == ["completed"]
    prog.shutdown()


@pytest.mark.hazard("H-CAL-1")
def test_missing_or_corrupt_calibration_refuses_treatment_and_says_why(tmp_path, board):
    provision(tmp_path, board)
    path = calmod.path_in(tmp_path)
    text = path.read_text().replace('"a_gain": 1.0', '"a_gain": 1.02')
    path.write_text(text)  # changed without a new checksum
    prog, rig, truth = program(tmp_path, board, provisioned=False)
    assert run_until(prog, lambda: prog.controller.state == "FAULT", 2)
    assert prog.controller.fault.code == "ST-CAL"
    assert "checksum mismatch" in prog.controller.fault.message
    assert "recalibrate" in prog.controller.fault.message
    press(prog, rig)
    prog.step()
    assert prog.controller.state == "FAULT" and truth.peak_ma == 0.0
    prog.shutdown()


def test_missing_prescription_refuses_treatment(tmp_path, board):
    calmod.save(tmp_path, calmod.Calibration.nominal(board), board)
    prog, _, _ = program(tmp_path, board, provisioned=False)
    assert run_until(prog, lambda: prog.controller.state == "FAULT", 2)
    assert prog.controller.fault.code == "ST-SETTINGS"
    assert "prescription" in prog.controller.fault.message
    prog.shutdown()


def test_calibration_store_keeps_the_previous_good_copy(tmp_path, board):
    cal = calmod.Calibration.nominal(board, date="2026-01-01")
    calmod.save(tmp_path, cal, board)
    calmod.save(tmp_path, calmod.Calibration(**{**cal.__dict__, "a_gain": 1.01}), board)
    prev = tmp_path / "calibration.json.prev"
    assert json.loads(prev.read_text())["payload"]["a_gain"] == 1.0
    with pytest.raises(ValueError, match="outside"):
        calmod.save(tmp_path, calmod.Calibration(**{**cal.__dict__, "b_gain": 1.2}), board)
    assert calmod.load(tmp_path, board).a_gain == 1.01


def test_self_test_catches_an_absent_adc(tmp_path, board):
    prog, rig, _ = program(tmp_path, board)
    rig.inject("adc_absent")
    assert run_until(prog, lambda: prog.controller.state == "FAULT", 2)
    assert prog.controller.fault.code == "ST-ADC"
    prog.shutdown()


@pytest.mark.parametrize("state", sorted(PATTERNS))
def test_led_pattern_table(state):
    colour, hz = PATTERNS[state]
    assert led_for(state, 0.01) == colour
    if hz:
        assert led_for(state, 0.75 / hz) == "off"
    else:
        assert all(led_for(state, t / 7) == colour for t in range(20))


def test_every_state_has_a_light_pattern_and_only_the_fault_is_red():
    """A state without a pattern would fall to the fault's red blink: SERVICE (a calibration
    at work) must not tell the patient "stopped for safety"."""
    from controller.states import State
    assert set(PATTERNS) == set(State)
    assert [s for s, (colour, _) in PATTERNS.items() if colour == "red"] == [State.FAULT]


def test_panel_shows_the_documented_pattern_in_each_state(tmp_path, board):
    prog, rig, _ = program(tmp_path, board, rx=Prescription(target_ma=2.0, duration_min=5,
                                                             ramp_ma_s=1.0))
    seen = {}

    def watch(loop, inp, cmd):
        state = prog.controller.state
        expected = led_for(state, inp.now)
        seen.setdefault(state, []).append(prog.hw.panel.colour == expected)
        out_expected = cmd.hv or (inp.sample is not None and
                                  max(inp.sample.current_a_ma, inp.sample.current_b_ma) > 0.1)
        assert prog.hw.panel.output_led == out_expected

    prog.loop.observers.append(watch)
    run_until(prog, lambda: prog.controller.state == "IDLE", 2)
    press(prog, rig)
    run_until(prog, lambda: prog.controller.state == "TREAT", 20)
    rig.lift()
    run_until(prog, lambda: prog.controller.state == "PAUSED", 1)
    prog.step()
    rig.immerse()
    run_until(prog, lambda: prog.controller.state == "DONE", 400)
    prog.step()
    for state in ("IDLE", "SELF_TEST", "WAIT_CONTACT", "RAMP_UP", "TREAT", "PAUSED", "RAMP_DOWN",
                  "DONE"):
        assert state in seen and all(seen[state]), state
    assert prog.indicator.last_beep == "DONE"
    prog.shutdown()


def test_systemd_notification_from_the_loop(tmp_path, board):
    sock_path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(sock_path)
    srv.settimeout(1.0)
    provision(tmp_path, board)
    rig, hw = make_rig(board)
    notifier = Notifier(environ={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "200000"})
    prog = DeviceProgram(hw, rig.clock, board=board, data_dir=tmp_path, notifier=notifier)
    assert srv.recv(64) == b"READY=1"
    for _ in range(25):  # 250 ms of loop: pings every 100 ms
        prog.step()
    pings = []
    srv.settimeout(0.2)
    try:
        while True:
            pings.append(srv.recv(64))
    except TimeoutError:
        pass
    assert pings.count(b"WATCHDOG=1") >= 2
    prog.shutdown()
    srv.close()


def test_config_file_is_validated(tmp_path):
    cfg = load_config()
    assert cfg.console_baud == 115200
    bad = tmp_path / "c.toml"
    bad.write_text('[device]\ndata_dir = "/x"\nboard_file = ""\nspeed = 3\n'
                   '[console]\nport = "/dev/serial0"\nbaud = 115200\n')
    with pytest.raises(ConfigError, match=r"\[device\] speed: unknown key"):
        load_config(bad)
    bad.write_text('[device]\ndata_dir = "/x"\nboard_file = ""\n'
                   '[console]\nport = "/dev/serial0"\nbaud = 1234\n')
    with pytest.raises(ConfigError, match="allowed: 9600"):
        load_config(bad)


# --- the program as a process -----------------------------------------------------------------
def ionto(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "firmware.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_without_pi_hardware_it_says_what_is_missing():
    p = ionto("device")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert "Traceback" not in err
    assert "no GPIO chip" in err and "--sim" in err


def test_sigterm_drives_safe_state_closes_the_log_and_exits_0(tmp_path, board):
    provision(tmp_path, board)
    p = ionto("device", "--sim", "--speed", "20", "--start", "--quiet", "--data-dir",
              str(tmp_path))
    line = p.stdout.readline()
    assert line.startswith("console: /dev/pts/")
    time.sleep(2.0)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    log = TreatmentLog(tmp_path / "treatment.sqlite")
    rows = log.sessions()
    assert rows and rows[-1]["outcome"] == "interrupted"
    codes = [e["code"] for e in log.events_of(rows[-1]["id"])]
    assert "SESSION-INTERRUPTED" in codes
    assert log.integrity_ok()


@pytest.mark.hazard("H-REC-1")
def test_sigkill_at_random_moments_loses_nothing_committed(tmp_path, board):
    """Kill the program (SIGKILL, as a power cut) at 20 random moments of sessions; restart each
    time. The database stays intact, every open session is marked interrupted on the next
    start, and no completed session is ever lost or changed."""
    provision(tmp_path, board)
    rng = random.Random(20261125)
    completed: dict[int, tuple] = {}
    db_path = tmp_path / "treatment.sqlite"
    for _ in range(20):
        p = ionto("device", "--sim", "--speed", "max", "--start", "--quiet", "--data-dir",
                  str(tmp_path))
        assert p.stdout.readline().startswith("console:")
        time.sleep(rng.uniform(0.05, 4.0))
        p.kill()
        p.communicate(timeout=30)
        db = sqlite3.connect(db_path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT id, outcome, dose_ma_min, treat_s FROM sessions").fetchall()
        db.close()
        for sid, outcome, dose, treat in rows:
            if sid in completed:
                assert completed[sid] == (outcome, dose, treat)  # never lost, never changed
            elif outcome == "completed":
                assert dose is not None and treat is not None
                completed[sid] = (outcome, dose, treat)
    p = ionto("device", "--sim", "--speed", "max", "--quiet", "--exit-after", "0.2",
              "--data-dir", str(tmp_path))
    p.communicate(timeout=60)
    assert p.returncode == 0
    log = TreatmentLog(db_path)
    outcomes = [r["outcome"] for r in log.sessions()]
    assert outcomes and "running" not in outcomes
    assert set(outcomes) <= {"completed", "interrupted"}
    assert len(outcomes) >= 10  # most kills landed inside a session
    assert log.integrity_ok()
    if os.environ.get("IONTO_VERBOSE"):
        print(outcomes)


def test_a_failing_log_does_not_stop_the_control_loop():
    dev = device()
    dev.run_until_state("IDLE", 2.0)

    def broken(_event):
        raise OSError("disk full")

    dev.controller.events.listeners.append(broken)
    dev.loop.observers.append(lambda *_: (_ for _ in ()).throw(OSError("disk full")))
    assert dev.start_and_treat()
    assert dev.controller.events.listener_errors and dev.loop.observer_errors
