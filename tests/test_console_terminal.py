"""The technician console as a terminal user meets it, through a real pseudo-terminal and
pyserial: long replies arrive whole at the line's pace, line ends of every terminal, echo and
backspace, a hang-up ending the login, the audit trail, readable figures, and the PIN's
provisioning. The pace of a slow reader is set by the test in simulated periods (so many bytes
read a period), never by the wall clock."""

from __future__ import annotations

import io
import re
import sqlite3

import pytest
import serial
from test_console import PIN, Bench, login

from firmware.cli import main as ionto
from firmware.console import core

#: what 115200 baud 8N1 carries in one 10 ms control period
BYTES_PER_PERIOD_115200 = 115200 // 10 // 100


@pytest.fixture
def bench(tmp_path, board):
    b = Bench(tmp_path, board)
    yield b
    b.close()


def fill_session(prog, rows: int) -> int:
    """A logged session with ``rows`` seconds of trace, written as the device writes them."""
    log = prog.log
    sid = log.start_session(0.0, prog.controller.rx)
    data = [(sid, float(t), "TREAT", 15.0 + t % 7 / 3, 14.9876 + t % 5 / 7, 15.0123,
             30.4567, 60.1, 2012.5 + t % 11) for t in range(rows)]
    log.db.executemany("INSERT INTO trace VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", data)
    log.end_session(type("R", (), dict(end_t=rows, outcome="done", fault_code=None,
                                       treat_s=rows + 0.0099999989077, dose_ma_min=rows / 4.0,
                                       peak_ma=15.123456, mean_load_ohm=2012.345, pauses=0,
                                       reversals=1, lowest_target_ma=None))())
    return sid


def read_some(b, n: int, per_period: int = 2000) -> bytes:
    """Step the device and read until ``n`` bytes arrived."""
    got = bytearray()
    for _ in range(10 * n // per_period + 100):
        b.prog.step()
        got += b.port.read(per_period)
        if len(got) >= n:
            return bytes(got)
    raise AssertionError(f"only {len(got)} bytes arrived")


def read_paced(b, per_period: int, until: bytes, max_periods: int) -> tuple[bytes, int]:
    """Step the device and read at most ``per_period`` bytes a period, as a terminal at that
    line speed would, until ``until`` ends what arrived. Returns it and the largest output
    queue the console held meanwhile."""
    got = bytearray()
    most = 0
    con = b.pty.console
    for _ in range(max_periods):
        b.prog.step()
        most = max(most, len(con._out))
        got += b.port.read(per_period)
        if got.endswith(until):
            return bytes(got), most
    raise AssertionError(f"{len(got)} bytes arrived, the end never came: {bytes(got[-200:])!r}")


@pytest.mark.hazard("H-HANG-1")
def test_a_two_megabyte_export_read_at_115200_baud_arrives_whole(bench):
    login(bench)
    sid = fill_session(bench.prog, 30_000)
    expected = bench.prog.log.export_csv(sid).encode()
    assert len(expected) > 2_000_000
    bench.port.write(f"log export {sid}\r".encode())
    # 2 MB at 115 bytes a period: some 18 000 periods; twice that is the bound
    got, most = read_paced(bench, BYTES_PER_PERIOD_115200, b"OK\r\nionto> ", 40_000)
    echo = f"log export {sid}\r\n".encode()
    assert got == echo + expected + b"OK\r\nionto> "  # byte for byte
    # a long reply is made as it is sent: the queue stays small, the loop never stalled
    assert most <= core.STREAM_LOW_WATER + core.MAX_STREAM_PER_PERIOD
    assert bench.prog.controller.fault is None


def test_a_reader_that_reads_nothing_cannot_grow_the_queue_without_bound(bench):
    con = bench.pty.console
    most = 0
    for _ in range(120):  # 120 help listings, some 180 kB of replies, none of them read
        bench.port.write(b"help\r")
        for _ in range(3):
            bench.prog.step()
            most = max(most, len(con._out))
    assert most <= core.MAX_QUEUED
    assert con.dropped > 0
    text, _ = read_paced(bench, 4096, b"ionto> ", 2000)
    while con.sending:
        bench.prog.step()
        text += bench.port.read(65536)
    text += bench.port.read(65536)
    assert re.search(rb"ERR OVERFLOW: \d+ bytes of replies were dropped", text)
    assert bench.ask("version")[-1] == "OK"  # and the console goes on


def test_ctrl_c_stops_a_long_export(bench):
    login(bench)
    sid = fill_session(bench.prog, 20_000)
    bench.port.write(f"log export {sid}\r".encode())
    got = read_some(bench, 20_000)
    bench.port.write(b"\x03")
    rest, _ = read_paced(bench, 65536, b"ionto> ", 500)
    assert b"ERR INTERRUPTED" in rest
    assert len(got + rest) < 1_000_000
    assert bench.ask("version")[-1] == "OK"


def test_what_is_typed_during_a_long_reply_runs_after_it(bench):
    login(bench)
    sid = fill_session(bench.prog, 3000)
    bench.port.write(f"log export {sid}\r".encode())
    got = read_some(bench, 5000)
    bench.port.write(b"version\r")
    end = b"OK\r\nionto> "
    for _ in range(5000):
        if got.count(end) == 2:
            break
        bench.prog.step()
        got += bench.port.read(4096)
    assert got.count(end) == 2, got[-300:]
    csv_end = got.index(end)
    assert b"ionto 0" not in got[:csv_end] and b"version" not in got[:csv_end]
    assert got[csv_end + len(end):].startswith(b"version\r\nionto ")  # echoed, run, after


@pytest.mark.parametrize("end", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_every_terminal_line_end_is_one_line_end(bench, end):
    bench.port.write(b"version" + end + b"status" + end)
    got = b""
    for _ in range(100):
        bench.prog.step()
        got += bench.port.read(65536)
    assert got.count(b"ionto> ") == 2  # two replies, no empty line between them
    assert b"version\r\nionto " in got and b"status\r\nstate: IDLE" in got


def test_backspace_edits_the_line_and_echo_can_be_turned_off(bench):
    assert bench.ask(b"verx\x7fsion\r")[-1] == "OK"
    status = bench.ask(b"stauts\x08\x08\x08tus\r")
    assert status[-1] == "OK" and "state: IDLE" in status
    bench.port.write(b"vq\x08ersion\r")
    got = b""
    for _ in range(50):
        bench.prog.step()
        got += bench.port.read(65536)
    assert got.startswith(b"vq\b \bersion\r\nionto ")  # the echo takes the q back on screen
    assert bench.ask("echo off")[-2:] == ["echo: off", "OK"]
    bench.port.write(b"version\r")
    got = b""
    for _ in range(50):
        bench.prog.step()
        got += bench.port.read(65536)
    assert got.startswith(b"ionto ") and b"version" not in got  # nothing echoed


def audit(b):
    return b.prog.log.audit_rows()


@pytest.mark.hazard("H-AUTH-1")
def test_a_hang_up_ends_the_login(bench):
    login(bench)
    assert bench.ask("rx show")[-1] == "OK"
    bench.port.close()  # the terminal program quits: the pty is closed on its side
    bench.run(0.05)
    assert not bench.pty.console.login.logged_in
    assert audit(bench)[-1]["action"] == "logout"
    assert "hung up" in audit(bench)[-1]["detail"]
    bench.port = serial.Serial(bench.pty.path, 115200, timeout=0)
    assert bench.ask("rx show")[-1].startswith("ERR AUTH")


@pytest.mark.hazard("H-AUTH-1")
def test_the_idle_logout_comes_after_ten_minutes_without_a_command(tmp_path, board):
    skip = [0.0]
    b = Bench(tmp_path, board, skip=skip)
    try:
        login(b)
        skip[0] = 599.0
        b.run(0.05)
        assert b.pty.console.login.logged_in
        skip[0] = 601.0
        b.run(0.05)  # no command typed: the login ends on its own, and the trail says when
        assert not b.pty.console.login.logged_in
        assert audit(b)[-1]["action"] == "logout" and "idle" in audit(b)[-1]["detail"]
    finally:
        b.close()


@pytest.mark.hazard("H-AUTH-1", "H-CAL-1")
def test_every_change_and_login_is_in_the_audit_trail_with_old_and_new(bench, tmp_path,
                                                                       capsys):
    assert bench.ask("login 999999")[-1] == "ERR AUTH: wrong PIN (4 tries left)"
    login(bench)
    assert bench.ask("rx set target=12 duration=25")[-1] == "OK"
    assert bench.ask("limits set hands=18")[-1] == "OK"
    assert bench.ask("cal zero", max_s=3)[-1] == "OK"
    assert bench.ask("cal ref 10.0", max_s=3)[-1] == "OK"
    assert bench.ask("cal save")[-1] == "OK"
    bench.rig.inject("trip_dead")
    assert bench.ask("selftest", max_s=3)[-1].startswith("ERR SELFTEST")
    bench.rig.repair("trip_dead")
    assert bench.ask("fault clear", max_s=3)[-1] == "OK"
    assert bench.ask("logout")[-1] == "OK"
    rows = audit(bench)
    # the simulated unit's profile screened as provisioned, before anything was typed
    assert (rows[0]["action"], rows[0]["console"]) == ("profile change", "provisioning")
    rows = rows[1:]
    by = {r["action"]: r for r in rows}
    assert [r["action"] for r in rows] == ["login refused", "login", "rx set", "profile change",
                                           "limits set", "cal save", "fault clear", "logout"]
    assert '"target_ma": 12.0' in by["profile change"]["new"]   # the active profile's too
    assert by["rx set"]["old"] == "target=5mA duration=5min"
    assert by["rx set"]["new"] == "target=12mA duration=25min"
    assert (by["limits set"]["old"], by["limits set"]["new"]) == ("hands=20mA", "hands=18mA")
    assert "a_gain=1 " in by["cal save"]["old"] and "a_gain=" in by["cal save"]["new"]
    assert by["fault clear"]["old"].startswith("ST-TRIP") and by["fault clear"]["new"] == "none"
    assert all(r["console"] == f"pty {bench.pty.path}" for r in rows)
    assert by["login refused"]["detail"] == "wrong PIN; 4 tries left"
    # on the console
    login(bench)
    shown = bench.ask("log audit 3")
    assert shown[-1] == "OK" and len(shown) == 4
    assert "rx set" not in " ".join(shown) and shown[-2].endswith(": login")
    # and with 'ionto log audit' on any computer, from the same file
    capsys.readouterr()
    assert ionto(["log", "--data-dir", str(tmp_path), "audit"]) == 0
    out = capsys.readouterr().out
    assert "rx set target=5mA duration=5min -> target=12mA duration=25min" in out
    assert "fault clear ST-TRIP" in out and "-> none" in out


def test_the_audit_trail_records_a_lockout(tmp_path, board):
    b = Bench(tmp_path, board)
    try:
        for _ in range(5):
            b.ask("login 000000")
        assert b.ask(f"login {PIN}")[-1].startswith("ERR LOCKED")
        actions = [r["action"] for r in b.prog.log.audit_rows()
                   if r["console"] != "provisioning"]
        assert actions == ["login refused"] * 4 + ["lockout", "login refused"]
    finally:
        b.close()
    # the trail is in the treatment log's file
    db = sqlite3.connect(tmp_path / "treatment.sqlite")
    assert db.execute("SELECT count(*) FROM audit WHERE action='lockout'").fetchone()[0] == 1


LONG_FLOAT = re.compile(r"\d\.\d{6,}")


def test_figures_are_rounded_to_what_they_mean(bench):
    sid = fill_session(bench.prog, 1200)
    login(bench)
    cal = bench.ask("cal show")
    assert cal[-1] == "OK" and not any(LONG_FLOAT.search(x) for x in cal), cal
    bench.prog.calibration = type(bench.prog.calibration)(
        setpoint_ma_per_duty=39.599999999999994, a_gain=1.0000000001, date="2026-01-01")
    assert "setpoint_ma_per_duty: 39.6" in bench.ask("cal show")
    shown = bench.ask(f"log show {sid}")
    assert "treat_s: 1200" in shown and "fault_code: -" in shown and "peak_ma: 15.12" in shown
    assert not any(LONG_FLOAT.search(x) or "None" in x for x in shown), shown
    assert any(x.startswith("prescription: site=hands target=5mA") for x in shown)


@pytest.mark.parametrize("pin", ["000000", "777777777", "123456", "654321", "890123",
                                 "121212", "123123"])
def test_set_pin_refuses_a_pin_a_guess_tries_first(tmp_path, monkeypatch, capsys, pin):
    monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
    assert ionto(["tech", "set-pin", "--data-dir", str(tmp_path), "--pin-stdin"]) == 1
    assert "a guess tries" in capsys.readouterr().err
    assert not (tmp_path / "pin.json").exists()


def test_set_pin_writes_the_pin_only_the_owner_can_read(tmp_path, monkeypatch):
    for pin in ("246810", "835172"):  # a second time: the previous copy is kept, 0600 too
        monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
        assert ionto(["tech", "set-pin", "--data-dir", str(tmp_path), "--pin-stdin"]) == 0
    for name in ("pin.json", "pin.json.prev"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name


@pytest.mark.hazard("H-HANG-1")
def test_the_uart_transport_sends_a_long_export_whole_at_the_lines_pace(tmp_path, board):
    """The UART transport (pyserial on the Pi) on one side of a pseudo-terminal, the
    technician's terminal on the other reading 115 bytes a period: what the driver does not
    take waits in the queue and nothing is lost. pyserial's own write is never called: with
    write_timeout=0 it retries a refused write until there is room, and the control loop
    would spin in it as soon as the terminal's buffer is full."""
    import os
    import pty

    from firmware.console import SerialConsole
    from firmware.console.tech import Inline

    b = Bench(tmp_path, board)  # the device; its pty console stays unused
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    uart = SerialConsole(b.prog, os.ttyname(slave), 115200, executor=Inline())
    os.close(slave)
    b.prog.loop.observers.append(lambda *_: uart.poll())
    uart.ser.write = lambda data: pytest.fail("pyserial's write called")
    try:
        sid = fill_session(b.prog, 4000)
        expected = b.prog.log.export_csv(sid).encode()
        os.write(master, f"login {PIN}\rlog export {sid}\r".encode())
        got = bytearray()
        end = b"OK\r\nionto> "
        for _ in range(20_000):
            b.prog.step()
            try:
                got += os.read(master, BYTES_PER_PERIOD_115200)
            except BlockingIOError:
                pass
            if got.count(end) == 2:
                break
        start = got.index(b"t_s,state")
        assert bytes(got[start:]) == expected + end  # byte for byte
        assert uart.console.login.logged_in
    finally:
        uart.close()
        os.close(master)
        b.close()


def test_the_paged_export_is_the_whole_export_whatever_the_page(tmp_path):
    """Pages read on the (session, time) index give every row once, in order, even rows
    with the same time across a page's edge, and none of another session."""
    from controller import Prescription
    from firmware.treatlog import TreatmentLog
    log = TreatmentLog(tmp_path / "t.sqlite")
    try:
        for _ in range(2):
            sid = log.start_session(0.0, Prescription())
            log.db.executemany("INSERT INTO trace VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               [(sid, float(t // 3), "TREAT", t, 0, 0, 0, 0, sid)
                                for t in range(301)])
        whole = log.export_csv(1)
        assert whole.count("\r\n") == 302 and ",2\r\n" not in whole
        for page in (1, 2, 3, 7, 50, 1000):
            assert "".join(log.export_lines(1, page=page)) == whole, page
    finally:
        log.close()
