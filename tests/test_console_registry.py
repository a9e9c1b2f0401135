"""The console's commands are declared once (firmware/console/registry.py): what ``help``
shows, the usage an ``ERR ARGS`` prints and the login and busy refusals all come from that one
declaration, for every command."""

from __future__ import annotations

import pytest

from conftest import make_rig, screened
from controller import Limits, Prescription
from firmware import calibration as calmod
from firmware import settings as settings_mod
from firmware.console import TechConsole, set_pin
from firmware.console.registry import BUSY, Registry
from firmware.device import DeviceProgram
from firmware.sdnotify import Notifier

PIN = "246810"


@pytest.fixture
def console(tmp_path, board):
    calmod.save(tmp_path, calmod.Calibration.nominal(board), board)
    settings_mod.save(tmp_path, rx=Prescription(target_ma=5.0, duration_min=5.0).validated(),
                      limits=Limits())
    set_pin(tmp_path, PIN)
    rig, hw = make_rig(board)
    prog = screened(DeviceProgram(hw, rig.clock, board=board, data_dir=tmp_path,
                                  notifier=Notifier(environ={})), rig)
    out: list[bytes] = []
    con = TechConsole(prog, out.append)

    def ask(line: str) -> list[str]:
        out.clear()
        con.feed(line.encode() + b"\n")
        text = b"".join(out).replace(b"ionto> ", b"").decode()
        return [x for x in text.split("\r\n") if x]

    con.ask = ask
    yield con
    prog.shutdown()
    hw.close()


def _specs(reg: Registry):
    return [s for name in reg.names() for s in reg._specs[name]]


def test_every_command_is_in_help_with_every_way_to_type_it(console):
    reg = console.registry
    listing = console.ask("help")
    assert listing[-1] == "OK"
    assert [line.split()[0] for line in listing[:-1] if not line.startswith(" ")] == reg.names()
    assert all(len(line) <= 79 for line in listing)  # an 80-column terminal cuts nothing
    for spec in _specs(reg):
        full = console.ask(f"help {spec.words[0]}")
        assert full[-1] == "OK"
        assert any(line.startswith(f"{spec.usage}:") for line in full), (spec.usage, full)


def test_a_wrong_count_of_arguments_prints_the_declared_usage(console):
    assert console.ask(f"login {PIN}")[-1] == "OK"
    for spec in _specs(console.registry):
        lo, hi = spec.nargs
        if hi is None:
            continue
        line = " ".join([*spec.words, *["1"] * (hi + 1)])
        assert console.ask(line)[-1] == f"ERR ARGS: usage: {spec.usage}", line
        if lo > 0:
            assert console.ask(" ".join(spec.words))[-1] == f"ERR ARGS: usage: {spec.usage}"


def test_logins_and_busy_refusals_follow_the_declaration(console):
    reg = console.registry
    for name in reg.names():
        reply = console.ask(name)[-1]
        if reg.needs_login(name):
            assert reply.startswith("ERR AUTH"), name
        else:
            assert not reply.startswith("ERR AUTH"), name
    assert console.ask(f"login {PIN}")[-1] == "OK"
    prog = console.program
    c = prog.controller
    while c.state != "IDLE" and prog.clock.now() < 5.0:
        prog.step()
    c.press(prog.clock.now())  # a session begins: the controller is busy
    for _ in range(10):
        prog.step()
    assert c.busy
    for spec in _specs(reg):
        if spec.idle_only:
            line = " ".join([*spec.words, *["target=5"] * spec.nargs[0]])
            assert console.ask(line)[-1] == BUSY, line


def test_a_command_cannot_be_declared_twice():
    reg = Registry()
    reg.register("x", lambda args: ([], "OK"), desc="x")
    with pytest.raises(ValueError, match="twice"):
        reg.register("x", lambda args: ([], "OK"), desc="x again")
    reg.register("y show", lambda args: ([], "OK"), desc="y", login=True)
    with pytest.raises(ValueError, match="login"):
        reg.register("y set", lambda args: ([], "OK"), desc="y", login=False)
