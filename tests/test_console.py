"""The technician console over a real pseudo-terminal, driven with pyserial, on the device
program running on the simulator."""

from __future__ import annotations

import time

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_rig, screened
from controller import Limits, Prescription
from firmware import calibration as calmod
from firmware import settings as settings_mod
from firmware.console import MAX_BYTES_PER_PERIOD, PtyConsole, TechConsole, set_pin
from firmware.console.core import MAX_LINE
from firmware.device import DeviceProgram
from firmware.sdnotify import Notifier

PIN = "246810"
RX = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0)


class Bench:
    """A device on the simulator with its console on a pty, and a pyserial port on the other
    end, as a technician's laptop would have."""

    def __init__(self, data_dir, board, *, pin=True, wall=None, executor=None, skip=None):
        if not calmod.path_in(data_dir).exists():
            calmod.save(data_dir, calmod.Calibration.nominal(board), board)
            settings_mod.save(data_dir, rx=RX.validated(), limits=Limits())
        if pin and not (data_dir / "pin.json").exists():
            set_pin(data_dir, PIN)
        self.rig, self.hw = make_rig(board)
        self.prog = screened(DeviceProgram(self.hw, self.rig.clock, board=board,
                                           data_dir=data_dir, notifier=Notifier(environ={})),
                             self.rig)
        # skip: [seconds] the console's clock runs ahead of the device's (the lockout and the
        # idle logout count it), so that a test can let minutes pass at once
        options = {} if skip is None else {
            "clock": lambda: self.prog.clock.now() + skip[0]}
        if wall is not None:
            options["wall"] = wall
        self.pty = PtyConsole(self.prog, executor=executor, **options)
        self.prog.loop.observers.append(lambda *_: self.pty.poll())
        self.port = serial.Serial(self.pty.path, 115200, timeout=0)
        end = self.prog.clock.now() + 2.0
        while self.prog.controller.state != "IDLE" and self.prog.clock.now() < end:
            self.prog.step()

    def run(self, seconds):
        end = self.prog.clock.now() + seconds
        while self.prog.clock.now() < end:
            self.prog.step()

    def ask(self, line: str | bytes, max_s: float = 5.0) -> list[str]:
        """Send a line; step the device until a reply ends with OK or ERR; return its lines
        (without the echo of what was typed)."""
        data = line if isinstance(line, bytes) else line.encode() + b"\r\n"
        echo = bytes(b for b in data.split(b"\r")[0] if b >= 0x20).decode(errors="replace")
        self.port.write(data)
        self.port.flush()
        buf = b""
        end = self.prog.clock.now() + max_s
        # A job on a worker thread finishes in wall time, whatever the virtual clock did
        # meanwhile: keep stepping while one is pending (bounded, not a speed assumption).
        guard = time.monotonic() + 60.0
        while self.prog.clock.now() < end or (self.pty.console.pending and
                                              time.monotonic() < guard):
            self.prog.step()
            buf += self.port.read(65536)
            lines = [x for x in buf.replace(b"ionto> ", b"").decode(errors="replace")
                     .split("\r\n") if x]
            if lines and lines[0] == echo[:MAX_LINE]:
                lines = lines[1:]
            if lines and (lines[-1] == "OK" or lines[-1].startswith("ERR ")):
                return lines
        raise AssertionError(f"no reply to {line!r}: {buf!r}")

    def close(self):
        self.port.close()
        self.prog.shutdown()
        self.pty.close()
        self.hw.close()


@pytest.fixture
def bench(tmp_path, board):
    b = Bench(tmp_path, board)
    yield b
    b.close()


def login(b):
    assert b.ask(f"login {PIN}")[-1] == "OK"


def test_public_commands_work_without_login(bench):
    assert bench.ask("version")[-1] == "OK"
    status = bench.ask("status")
    assert status[-1] == "OK" and "state: IDLE" in status
    helps = bench.ask("help")
    assert helps[-1] == "OK" and any(line.startswith("cal") for line in helps)
    assert "calibration" in " ".join(bench.ask("help cal"))
    assert bench.ask("rx show")[-1].startswith("ERR AUTH")
    assert bench.ask("status extra")[-1].startswith("ERR ARGS")


def test_on_the_device_the_pin_check_runs_off_the_control_loop(tmp_path, board):
    """scrypt takes tens of milliseconds: on the device it runs on a worker thread and the
    reply comes in a later period, so no control period waits for it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    loop_thread = threading.get_ident()
    ran_on = []
    pool = ThreadPoolExecutor(1)
    b = Bench(tmp_path, board, executor=pool)
    try:
        from firmware.console import auth
        orig = auth.check_pin

        def spy(*a):
            ran_on.append(threading.get_ident())
            return orig(*a)

        auth.check_pin = spy
        try:
            assert b.ask(f"login {PIN}")[-1] == "OK"
        finally:
            auth.check_pin = orig
        assert ran_on and ran_on[0] != loop_thread
        assert b.ask("rx set target=12")[-1] == "OK"  # its fsync'd save too
    finally:
        b.close()
        pool.shutdown()


def test_without_a_pin_technician_commands_say_how_to_set_one(tmp_path, board):
    b = Bench(tmp_path, board, pin=False)
    try:
        reply = b.ask("login 123456")[-1]
        assert reply.startswith("ERR NO-PIN") and "ionto tech set-pin" in reply
        assert b.ask("cal show")[-1].startswith("ERR NO-PIN")
    finally:
        b.close()


@pytest.mark.hazard("H-AUTH-1")
def test_five_wrong_pins_lock_the_console_across_restarts(tmp_path, board):
    clock = [1_000_000.0]
    b = Bench(tmp_path, board, wall=lambda: clock[0])
    try:
        for left in ("4 tries", "3 tries", "2 tries", "1 try"):
            assert b.ask("login 000000")[-1] == f"ERR AUTH: wrong PIN ({left} left)"
        assert b.ask("login 000000")[-1].startswith("ERR LOCKED")
        assert b.ask(f"login {PIN}")[-1].startswith("ERR LOCKED")  # even the right PIN
    finally:
        b.close()
    assert (tmp_path / "console-lock.json").stat().st_mode & 0o777 == 0o600
    skip = [0.0]
    b = Bench(tmp_path, board, wall=lambda: clock[0] + 10, skip=skip)  # the device restarts
    try:
        assert b.ask(f"login {PIN}")[-1].startswith("ERR LOCKED")
        skip[0] = 280.0  # the rest of the lock, 290 s, counts on the console's clock
        assert b.ask(f"login {PIN}")[-1].startswith("ERR LOCKED")
        skip[0] = 291.0
        assert b.ask(f"login {PIN}")[-1] == "OK"
    finally:
        b.close()


def test_idle_for_ten_minutes_logs_out(bench):
    login(bench)
    assert bench.ask("rx show")[-1] == "OK"
    bench.run(601.0)
    assert bench.ask("rx show")[-1].startswith("ERR AUTH")


def test_rx_set_and_its_validation(bench, tmp_path):
    login(bench)
    reply = bench.ask("rx set site=feet target=22 duration=20 waveform=dc reverse=yes")
    assert reply[-1] == "OK" and "target: 22 mA" in reply
    # the keys shown are the keys set takes
    assert [x.split(":")[0] for x in reply[:-1]] == [
        "site", "target", "duration", "waveform", "pulse_hz", "pulse_duty", "reverse", "child",
        "ramp", "area"]
    assert settings_mod.load(tmp_path)[0].target_ma == 22.0  # persisted
    bad = bench.ask("rx set target=30")
    assert bad[-1].startswith("ERR VALUE: target = 30:") and "to 25 mA" in bad[-1]
    assert bench.prog.controller.rx.target_ma == 22.0  # nothing changed
    assert bench.ask("rx set duration=8")[-1].startswith("ERR VALUE")  # reversal needs 10 min
    assert bench.ask("rx set speed=3")[-1].startswith("ERR VALUE: unknown key")


def test_limits_set_and_its_bounds(bench):
    login(bench)
    reply = bench.ask("limits set density=0.15 hands=18")
    assert reply[-1] == "OK" and "density: 0.15 mA/cm2" in reply and "hands: 18 mA" in reply
    assert bench.ask("limits set hands=31")[-1].startswith("ERR VALUE")
    assert bench.ask("limits set ramp=fast")[-1].startswith("ERR VALUE")
    assert bench.prog.controller.limits.site_max_ma["hands"] == 18.0


@pytest.mark.hazard("H-AUTH-1")
def test_changes_are_refused_while_a_treatment_runs(bench):
    login(bench)
    bench.prog.controller.press(bench.prog.clock.now())
    bench.run(4.0)
    assert bench.prog.controller.state in ("RAMP_UP", "TREAT")
    for line in ("rx set target=4", "limits set density=0.1", "cal zero", "cal save"):
        assert bench.ask(line)[-1].startswith("ERR BUSY"), line
    assert bench.ask("status")[-1] == "OK"


@pytest.mark.hazard("H-CAL-1")
def test_calibration_end_to_end_against_the_true_current(bench, board):
    login(bench)
    bench.rig.inject("sense_a_gain", factor=1.05)
    assert bench.ask("cal zero", max_s=3)[-1] == "OK"
    # The technician's reference meter reads the true current of the test step.
    readings = []
    bench.prog.loop.observers.append(
        lambda *_: readings.append(bench.rig.truth()["sink_ma"])
        if bench.prog.loop.last_cmd.setpoint_ma > 5 else None)
    reply = bench.ask("cal ref 10.0", max_s=3)
    assert reply[-1] == "OK"
    true_ma = sum(readings[-10:]) / 10
    bench.pty.console.cal_new = None
    assert bench.ask("cal zero", max_s=3)[-1] == "OK"
    assert bench.ask(f"cal ref {true_ma:.4f}", max_s=3)[-1] == "OK"
    before = bench.hw.afe.cal_a
    assert bench.ask("cal discard")[-1] == "OK"
    assert bench.hw.afe.cal_a == before  # discard: nothing changed
    assert bench.ask("cal save")[-1].startswith("ERR STATE")
    assert bench.ask("cal zero", max_s=3)[-1] == "OK"
    assert bench.ask(f"cal ref {true_ma:.4f}", max_s=3)[-1] == "OK"
    assert bench.ask("cal save")[-1] == "OK"
    assert calmod.load(bench.prog.data_dir, board).a_gain == pytest.approx(1 / 1.05, rel=2e-3)
    # Readings now match the truth within 0.5 % on both channels.
    hw = bench.hw
    hw.output.set_test_load(True)
    hw.guard.kick()
    hw.output.gate_dc()
    hw.output.hv_on()
    hw.output.set_setpoint_ma(8.0)
    for _ in range(30):
        hw.guard.kick()
        bench.rig.clock.sleep(0.01)
    s = hw.afe.sample()
    truth = bench.rig.truth()["sink_ma"]
    assert s.current_a_ma == pytest.approx(truth, rel=0.005)
    assert s.current_b_ma == pytest.approx(truth, rel=0.005)
    assert "calibration saved" not in bench.ask("cal show")


@pytest.mark.hazard("H-CAL-1")
def test_calibration_outside_ten_percent_is_rejected(bench):
    login(bench)
    assert bench.ask("cal zero", max_s=3)[-1] == "OK"
    reply = bench.ask("cal ref 11.5", max_s=3)[-1]
    assert reply.startswith("ERR REJECTED") and "10 %" in reply
    assert bench.ask("cal ref 40", max_s=3)[-1].startswith("ERR VALUE")


def test_selftest_fault_show_and_clear(bench):
    login(bench)
    result = bench.ask("selftest", max_s=3)
    assert result[-1] == "OK" and any(line.startswith("trip_latency_ms") for line in result)
    assert bench.ask("fault show")[-2:] == ["fault: none", "OK"]
    bench.rig.inject("trip_dead")
    assert bench.ask("selftest", max_s=3)[-1].startswith("ERR SELFTEST")
    # a failing self-test refuses treatment whoever ran it: its fault is latched
    assert bench.prog.controller.state == "FAULT"
    assert "fault: ST-TRIP" in bench.ask("fault show")
    assert bench.ask("fault clear", max_s=3)[-1].startswith("ERR SELFTEST")
    assert bench.prog.controller.state == "FAULT"
    bench.rig.repair("trip_dead")
    assert bench.ask("fault clear", max_s=3)[-1] == "OK"
    assert bench.prog.controller.state == "IDLE"


def test_log_commands(bench):
    login(bench)
    bench.prog.controller.press(bench.prog.clock.now())
    bench.run(5.0)
    bench.prog.controller.press(bench.prog.clock.now())
    bench.run(10.0)
    listing = bench.ask("log list")
    assert listing[-1] == "OK" and "stopped" in listing[0]
    assert "outcome: stopped" in bench.ask("log show 1")
    export = bench.ask("log export 1")
    assert export[0].startswith("t_s,state") and export[-1] == "OK"
    assert bench.ask("log show 99")[-1].startswith("ERR NOT-FOUND")
    assert bench.ask("log show x")[-1].startswith("ERR VALUE")


@pytest.mark.parametrize("line,expected", [
    (b"x" * 300 + b"\r\n", "ERR TOO-LONG"),
    (b"st\xffatus\r\n", "ERR ENCODING"),
    (b"sta\x07tus\r\n", "ERR CONTROL"),
    (b"stauts\r\n", "ERR UNKNOWN: unknown command 'stauts'; did you mean 'status'?"),
    (b"login\r\n", "ERR ARGS"),
    (b"log show 1 2\r\n", "ERR AUTH"),
])
def test_bad_input_gets_an_err_reply(bench, line, expected):
    assert bench.ask(line)[-1].startswith(expected)
    assert bench.ask("version")[-1] == "OK"  # and the console still works


def test_empty_line_gives_a_prompt_and_no_reply(bench):
    bench.port.write(b"\r\n")
    got = b""
    for _ in range(50):  # the pty hands written bytes over a moment later: read a few periods
        bench.prog.step()
        got += bench.port.read(100)
    assert got == b"\r\nionto> "  # the echo of the line end, the prompt, and nothing else


def test_a_flood_does_not_stall_the_control_loop(bench):
    """During a session, 200 kB of garbage: the console reads at most 1 kB a period, so its
    work per period is bounded; the session goes on without an overrun or a fault."""
    bench.prog.controller.press(bench.prog.clock.now())
    bench.run(4.0)
    reads = []
    orig = bench.pty.console.feed
    bench.pty.console.feed = lambda data: (reads.append(len(data)), orig(data))[1]
    junk = (b"\x00\xff garbage that is not a command at all " * 4096)[:200_000]
    bench.port.write_timeout = 10
    sent = 0
    while sent < len(junk):
        sent += bench.port.write(junk[sent:sent + 4096])
        bench.run(0.05)
    bench.run(3.0)
    assert max(reads) <= MAX_BYTES_PER_PERIOD
    assert bench.prog.controller.state in ("RAMP_UP", "TREAT")
    assert bench.prog.controller.fault is None
    bench.port.write(b"\r\n")
    bench.run(5.0)  # the backlog drains at 1 kB a period
    bench.port.reset_input_buffer()
    assert bench.ask("version")[-1] == "OK"


# --- fuzz ---------------------------------------------------------------------------------------
WORDS = ["help", "status", "version", "login", "logout", "rx", "limits", "cal", "selftest",
         "fault", "log", "show", "set", "zero", "ref", "save", "discard", "clear", "list",
         "export", "site=hands", "target=15", "target=-1", "duration=99", "waveform=ac",
         "reverse=maybe", "density=0.2", "hands=20", "ramp=nan", "1", "x", PIN, "=", "==",
         "clock", "2027-03-01", "19:30", "2099-12-31", "25:61"]
LINES = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=6).map(lambda w: " ".join(w).encode()),
    st.binary(max_size=300),
    st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


@pytest.fixture(scope="module")
def fuzz_console(tmp_path_factory, board):
    data = tmp_path_factory.mktemp("fuzz")
    calmod.save(data, calmod.Calibration.nominal(board), board)
    settings_mod.save(data, rx=RX.validated(), limits=Limits())
    set_pin(data, PIN)
    rig, hw = make_rig(board)
    prog = screened(DeviceProgram(hw, rig.clock, board=board, data_dir=data,
                                  notifier=Notifier(environ={})), rig)
    out = []
    console = TechConsole(prog, out.append)
    console.feed(f"login {PIN}\n".encode())
    yield prog, console, out
    prog.shutdown()
    hw.close()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines=st.lists(LINES, min_size=50, max_size=50))
def test_fuzz_10000_lines_every_reply_ends_in_ok_or_err(fuzz_console, lines):
    prog, console, out = fuzz_console
    for line in lines:
        out.clear()
        console.feed(line.replace(b"\n", b" ") + b"\n")
        if console.pending:  # a procedure was started: let the loop finish it
            for _ in range(400):
                prog.step()
                if not console.pending:
                    break
        text = b"".join(out).replace(b"ionto> ", b"").decode()
        replies = [x for x in text.split("\r\n") if x]
        if replies:  # an empty line gets only a prompt
            assert replies[-1] == "OK" or replies[-1].startswith("ERR "), replies
        if prog.controller.state == "FAULT":
            prog.controller.clear_fault(prog.clock.now())
