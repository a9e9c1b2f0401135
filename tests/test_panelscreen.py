"""The patient's display drawn from the control loop (firmware/panelscreen.py): what the glass of
the emulated SSD1306 shows, at most one page a period and never an overrun, display faults
caught and retried, START refused while the display does not show (H-DISPLAY-1), and the
treatment's true current the same with or without a display fault (sim/truth.py)."""

from __future__ import annotations

import adafruit_framebuf as fb
import pytest

from conftest import screened
from controller import Limits, Prescription
from firmware import calibration as calmod
from firmware import settings
from firmware.device import DeviceProgram
from firmware.indication import BEEPS
from firmware.panelscreen import ScreenUpdater
from firmware.screens import screen
from firmware.sdnotify import Notifier
from hal import build_hardware
from hal.display import BAR_OFFSET, BAR_ROWS, FONT_FILE, LEFT_MARGIN, line_top, render
from sim.patient import Patient
from sim.rig import SimRig
from sim.truth import TruthRecorder

RX = Prescription(target_ma=5.0, duration_min=5.0, ramp_ma_s=1.0)


def make(tmp_path, board, *, display=True):
    calmod.save(tmp_path, calmod.Calibration.nominal(board), board)
    settings.save(tmp_path, rx=RX.validated(), limits=Limits())
    rig = SimRig(board, patient=Patient(load_ohm=2000.0))
    if not display:
        rig.set_display_answering(False)
    hw = build_hardware(board, **rig.hardware_kwargs())
    prog = DeviceProgram(hw, rig.clock, board=board, data_dir=tmp_path,
                         notifier=Notifier(environ={}))
    screened(prog, rig)
    # the ground truth sampled first, right after the control work, before the display's
    # traffic on the bus (so that a run with and one without it sample at the same instants)
    truth = TruthRecorder(rig)
    per_period: list[float] = []

    def sample(*_):
        truth.sample()
        per_period.append(truth.last_ma)

    prog.loop.observers.insert(0, sample)
    return prog, rig, truth, per_period


def run_until(prog, pred, timeout):
    end = prog.clock.now() + timeout
    while prog.clock.now() < end and not pred():
        prog.step()
    return pred()


def run_for(prog, seconds):
    end = prog.clock.now() + seconds
    while prog.clock.now() < end:
        prog.step()


def glass_bits(rig) -> bytearray:
    """The emulated glass (rows of 0/1) packed as a frame in the driver's layout."""
    rows = rig.display.frame()
    out = bytearray(128 * 8)
    for y, row in enumerate(rows):
        for x, lit in enumerate(row):
            if lit:
                out[(y >> 3) * 128 + x] |= 1 << (y & 7)
    return out


def test_render_draws_what_the_drivers_text_and_rectangles_draw():
    lines = ["Treatment on", "7.5 of 15.0 mA 50%", "~!@#$%^&*()_+{}|:<>?", "xyz 0123456789 ABCDE"]
    bars = [(0, 0.0), (1, 0.5), (2, 1.0)]
    buf = bytearray(1024)
    f = fb.FrameBuffer(buf, 128, 64, fb.MVLSB)
    for i, line in enumerate(lines):
        f.text(line, LEFT_MARGIN, line_top(i), 1, font_name=str(FONT_FILE))
    for line, frac in bars:
        top = line_top(line) + BAR_OFFSET
        f.rect(LEFT_MARGIN, top, 126, BAR_ROWS, 1)
        f.fill_rect(LEFT_MARGIN, top, round(frac * 125) + 1, BAR_ROWS, 1)
    assert render(lines, bars) == buf
    with pytest.raises(ValueError, match="no room for a bar"):
        render([], [(3, 0.5)])


@pytest.mark.hazard("H-DISPLAY-1")
def test_the_glass_shows_each_screen_and_a_page_a_period_at_most(tmp_path, board):
    prog, rig, _, _ = make(tmp_path, board)
    emu, loop = rig.display, prog.loop
    worst, most = 0.0, 0
    periods = {"n": 0}

    def watch(lp, *_):
        nonlocal worst, most
        worst = max(worst, lp.clock.now() - lp.next_t)
        periods["n"] += 1

    loop.observers.append(watch)
    seen = set()
    before = emu.data_bytes
    for _ in range(4000):   # power-on, IDLE, a press, the contact check, the ramp, treatment
        prog.step()
        most = max(most, emu.data_bytes - before)
        before = emu.data_bytes
        u = prog.screen
        if prog.controller.state == "IDLE" and periods["n"] == 200:
            prog.controller.press(prog.clock.now())
        if u.showing and u._screen is not None and not any(
                u._shown[p * 128:(p + 1) * 128] != u._want[p * 128:(p + 1) * 128]
                for p in range(8)):
            assert glass_bits(rig) == render(u._screen.lines,
                                             [(b.line, b.fraction) for b in u._screen.bars])
            seen.add(prog.controller.state)
    assert {"IDLE", "WAIT_CONTACT", "RAMP_UP", "TREAT"} <= seen
    assert most <= 128                       # one page's data at most a period
    assert worst <= 0.95 * loop.period       # the period's work and the page within it
    assert not [e for e in prog.controller.events.events if e.code == "R-OVERRUN"]
    assert prog.screen.errors == 0 and not loop.observer_errors


@pytest.mark.hazard("H-DISPLAY-1")
def test_a_display_fault_mid_session_leaves_the_true_current_as_it_was(tmp_path, board):
    runs = []
    for fault in (False, True):
        prog, rig, truth, per_period = make(tmp_path / str(fault), board)
        assert run_until(prog, lambda p=prog: p.controller.state == "IDLE" and p.screen.showing,
                         5)
        prog.controller.press(prog.clock.now())
        assert run_until(prog, lambda p=prog: p.controller.state == "TREAT", 60)
        if fault:
            rig.set_display_answering(False)
        run_for(prog, 20.0)
        if fault:
            assert not prog.screen.showing and prog.screen.errors >= 1
            rig.set_display_answering(True)
        run_for(prog, 5.0)
        prog.controller.press(prog.clock.now())     # the patient stops: the ramp down
        assert run_until(prog, lambda p=prog: p.controller.sessions_done, 60)
        run_for(prog, 2.0)
        events = [(round(e.t, 6), e.kind, e.code) for e in prog.controller.events.events
                  if not e.code.startswith("DISPLAY")]
        runs.append((per_period, events, truth.dose_ma_min, prog))
    (a, ev_a, dose_a, _), (b, ev_b, dose_b, prog_b) = runs
    assert ev_a == ev_b                      # the same session, state for state
    assert len(a) == len(b) and max(a) > 4.5
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6
    assert dose_a == pytest.approx(dose_b, rel=1e-9)
    codes = [e.code for e in prog_b.controller.events.events]
    assert "DISPLAY-LOST" in codes and "DISPLAY-BACK" in codes
    assert prog_b.screen.showing         # back after the cable was plugged in again


@pytest.mark.hazard("H-DISPLAY-1")
def test_start_is_refused_while_the_display_does_not_show(tmp_path, board):
    prog, rig, truth, _ = make(tmp_path, board, display=False)
    assert run_until(prog, lambda: prog.controller.state == "IDLE", 5)
    run_for(prog, 1.0)
    assert not prog.screen.showing
    prog.controller.press(prog.clock.now())
    colours, buzz = set(), []
    for _ in range(300):
        prog.step()
        colours.add(prog.hw.panel.colour)
        buzz.append(prog.hw.panel.buzzer)
    c = prog.controller
    assert c.state == "IDLE" and c.session is None
    refusal = [e for e in c.events.events if e.kind == "warning" and e.code == "DISPLAY"]
    assert len(refusal) == 1 and "will not start a session it cannot show" in refusal[0].message
    assert prog.course.refusals[-1]["code"] == "DISPLAY"
    assert colours == {"red"}                             # the light says it, steady
    assert prog.indicator.last_beep == "DISPLAY"
    assert sum(buzz) == pytest.approx(sum(BEEPS["DISPLAY"][0::2]) / 0.01, abs=3)
    run_for(prog, 5.0)
    assert truth.peak_ma < 0.05                            # no current flowed: ground truth
    # the cable plugged in: the display comes back within the back-off, and START works
    rig.set_display_answering(True)
    assert run_until(prog, lambda: prog.screen.showing, 6.0)
    prog.controller.press(prog.clock.now())
    assert run_until(prog, lambda: prog.controller.state == "TREAT", 60)


@pytest.mark.hazard("H-DISPLAY-1")
def test_a_display_that_fails_is_retried_with_a_back_off_and_said_once(tmp_path, board):
    prog, rig, _, _ = make(tmp_path, board)
    assert run_until(prog, lambda: prog.screen.showing, 5)
    rig.set_display_answering(False)
    run_for(prog, 10.0)
    u = prog.screen
    lost = [e for e in prog.controller.events.events if e.code == "DISPLAY-LOST"]
    assert len(lost) == 1 and "I2C address 0x3c" in lost[0].message
    # the NOP check found it within its half second; then tries after 0.5, 1, 2, 5, 5 s
    assert 4 <= u.errors <= 6
    assert not prog.loop.observer_errors
    rig.set_display_answering(True)
    assert run_until(prog, lambda: u.showing, 6.0)
    bars = [(b.line, b.fraction) for b in u._screen.bars]
    assert glass_bits(rig) == render(u._screen.lines, bars)


def test_the_updater_alone_needs_no_calendar_or_course(board, tmp_path):
    """A program without a course (a bare view of the controller) still gets its screens."""
    prog, _, _, _ = make(tmp_path, board)

    class Bare:
        controller = prog.controller
        loop = prog.loop

    u = ScreenUpdater(Bare(), prog.hw.display)
    assert screen(u.view(0.0)).lines[0] in ("Checking the device", "Ready")
