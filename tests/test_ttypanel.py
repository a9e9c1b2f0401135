"""The terminal panel of ``ionto device --sim``: what its status line says."""

from __future__ import annotations

import io
import os
from types import SimpleNamespace

import pytest

from controller.faults import Fault
from simtools import ttypanel
from simtools.ttypanel import fault_advice, status_line


def fake(state="IDLE", colour="green", a=0.0, b=0.0, contact=1.0, fault=None, session=None,
         output=False):
    panel = SimpleNamespace(colour=colour, output_led=output, buzzer=False)
    sample = SimpleNamespace(current_a_ma=a, current_b_ma=b)
    controller = SimpleNamespace(state=state, fault=fault, session=session,
                                 rx=SimpleNamespace(target_ma=12.0, duration_min=20.0))
    program = SimpleNamespace(controller=controller, hw=SimpleNamespace(panel=panel),
                              loop=SimpleNamespace(last_sample=sample))
    return program, SimpleNamespace(patient=SimpleNamespace(contact=contact))


def test_a_blinking_led_is_drawn_with_its_colour_and_pattern_in_its_dark_half():
    program, rig = fake(state="PAUSED", colour="off")
    line = status_line(program, rig, 3.0, colour=False)
    assert "yellow blink 1 Hz" in line and " off " not in line
    program, rig = fake(state="TREAT", colour="cyan")
    assert "cyan steady" in status_line(program, rig, 3.0, colour=False)


def test_noise_around_zero_is_never_minus_zero():
    program, rig = fake(a=-0.0013, b=-0.002)
    line = status_line(program, rig, 1.0, colour=False)
    assert "-0.00" not in line and " 0.00/12.0 mA" in line


@pytest.mark.parametrize("contact,said", [(1.0, "hands in water"), (0.0, "hands OUT of water"),
                                          (0.5, "hands 50% in water")])
def test_the_line_says_where_the_hands_are(contact, said):
    program, rig = fake(contact=contact)
    assert said in status_line(program, rig, 1.0, colour=False)


def test_a_fault_shows_its_code_and_what_to_do():
    fault = Fault("R-OC-ABS", "current 31.0 mA above 20.4 mA", 40.0)
    program, rig = fake(state="FAULT", colour="red", fault=fault)
    assert "FAULT R-OC-ABS" in status_line(program, rig, 41.0, colour=False)
    advice = fault_advice(fault)
    assert "R-OC-ABS" in advice and "31.0 mA" in advice and "what to do:" in advice
    assert "hold START" in fault_advice(Fault("SHORT-AT-START", "short", 1.0,
                                              patient_clearable=True))
    assert "call service" in fault_advice(Fault("ST-TRIP", "no trip", 1.0))


def test_a_shorter_line_leaves_nothing_of_a_longer_one(monkeypatch):
    """After a session the line is shorter (no time left): the panel is drawn again from its
    first line, each line cleared to its end and the screen below the panel too."""
    out = io.StringIO()
    monkeypatch.setattr(ttypanel.sys, "stdout", out)
    # a terminal wide enough for the whole line (the test's own may be 80 columns or none)
    monkeypatch.setattr(ttypanel.shutil, "get_terminal_size",
                        lambda fallback=None: os.terminal_size((200, 24)))
    panel = object.__new__(ttypanel.TerminalPanel)
    program, rig = fake(state="TREAT", session=SimpleNamespace(treat_s=1156.0))
    panel.program, panel.rig = program, rig
    panel._drawn = 0
    panel.draw(10.0)
    first = out.getvalue()
    assert "00:44 left" in first
    program.controller.state, program.controller.session = "IDLE", None
    out.truncate(0)
    out.seek(0)
    panel.draw(11.0)
    text = out.getvalue()
    drawn = first.count("\n")
    assert text.startswith(f"\r\x1b[{drawn}A") and text.endswith(ttypanel.CLEAR_BELOW)
    assert "left" not in text
    body = text[len(f"\r\x1b[{drawn}A"):-len(ttypanel.CLEAR_BELOW)]
    assert all(line.endswith(ttypanel.CLEAR_EOL) for line in body.split("\n")[:-1])


def test_the_glass_in_half_blocks_and_in_braille_keeps_every_pixel():
    rows = [[0] * 128 for _ in range(64)]
    rows[0][0] = rows[1][1] = rows[63][127] = 1
    rows[5][3] = 1
    half = ttypanel.glass_half_blocks(rows)
    assert len(half) == 32 and {len(x) for x in half} == {128}
    assert half[0][:2] == "\u2580\u2584" and half[31][127] == "\u2584"
    assert half[2][3] == "\u2584"
    braille = ttypanel.glass_braille(rows)
    assert len(braille) == 16 and {len(x) for x in braille} == {64}
    assert braille[0][0] == chr(0x2800 | 0x01 | 0x10)     # (0,0) and (1,1)
    assert braille[1][1] == chr(0x2800 | 0x10)     # (5, 3): dot row 1, dot column 1
    assert braille[15][63] == chr(0x2800 | 0x80)
    lit = sum(map(sum, rows))
    assert sum(bin(ord(c) - 0x2800).count("1") for line in braille for c in line) == lit
    # an 80 x 24 terminal gets braille (with its frame, 66 x 18), a large one half blocks
    assert len(ttypanel.glass_lines(rows, 80, 24)) == 18
    assert len(ttypanel.glass_lines(rows, 140, 40)) == 34


def test_the_panel_of_a_real_program_in_a_fault(tmp_path):
    """fault-sink-short on the complete program: the line and the advice name R-OC-ABS."""
    from sim.scenario import load_scenario
    from simtools.simrun import ScenarioRun
    run = ScenarioRun(load_scenario("scenarios/fault-sink-short.toml"), None, trace=False)
    try:
        while run.program.controller.state != "FAULT" and run.clock.now() < 60:
            run.step()
        line = status_line(run.program, run.rig, run.clock.now(), colour=False)
        assert "FAULT R-OC-ABS" in line and "red blink 4 Hz" in line and "hands in water" in line
        assert "what to do:" in fault_advice(run.program.controller.fault)
        lines = ttypanel.panel_lines(run.program, run.rig, run.clock.now(), columns=140,
                                     lines=40, colour=False)
        glass = "\n".join(lines[1:33])
        assert "\u2588" in glass                  # the glass shows the fault's screen
        assert any("FAULT R-OC-ABS" in x and "what to do:" in x for x in lines)
    finally:
        run.close()
