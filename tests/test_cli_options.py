"""Every option of every ``ionto`` command, given bad values: never a traceback.

The commands are found by walking the argparse tree (``build_parser`` and the campaign's
parser), so an option added later is covered without a change here. Each value an option takes
is given zero, a negative number, NaN, a number beyond a float's range, an integer of 400
digits, a path that does not exist, a file where a folder is wanted and a folder where a file
is wanted. A value the parser refuses must be refused with exit status 2 and one line naming
the option and what is allowed; a value it accepts must run the command without a traceback.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import pytest

from firmware import cli

BAD = {"zero": "0", "negative": "-5", "nan": "nan", "huge": "1e400", "huge-int": "9" * 400,
       "missing": "{tmp}/missing/x", "file-for-folder": "{tmp}/afile",
       "folder-for-file": "{tmp}"}

SCENARIO = ('name = "tiny"\nseed = 1\nend_after_s = 2.0\n[protocol]\nsite = "hands"\n'
            'target_ma = 5.0\nduration_min = 5.0\nwaveform = "dc"\n[patient]\n'
            'load_ohm = 2000\n')


def _subparsers(p):
    return [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]


def leaves():
    """Every runnable command as a chain of (words, parser) from ``ionto`` down."""
    out = []

    def walk(chain):
        subs = _subparsers(chain[-1][1])
        if not subs:
            out.append(chain)
            return
        for name, sp in subs[0].choices.items():
            walk([*chain, ([name], sp)])
    walk([([], cli.build_parser())])
    out.append([(["sim", "campaign"], cli.build_campaign_parser())])
    return out


def takes_value(a) -> bool:
    return not isinstance(a, argparse._SubParsersAction) and a.nargs != 0 and \
        a.dest != "help"


def cases():
    for chain in leaves():
        words = " ".join(w for ws, _ in chain for w in ws)
        for level, (_, p) in enumerate(chain):
            for a in p._actions:
                if takes_value(a):
                    name = a.option_strings[0] if a.option_strings else a.dest
                    for bad in BAD:
                        yield pytest.param(chain, level, a, bad,
                                           id=f"{words}-{name}-{bad}".replace(" ", "-"))


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A scenario file, a data folder with a treatment log holding a session, an empty data
    folder, and the places the bad values name."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "afile").write_text("not a folder\n")
    (tmp / "tiny.toml").write_text(SCENARIO)
    logdir = tmp / "logdata"
    logdir.mkdir()
    rc = cli.main(["device", "--sim", "--start", "--speed", "max", "--quiet", "--exit-after",
                   "20", "--data-dir", str(logdir)])
    assert rc == 0 and (logdir / "treatment.sqlite").exists()
    (tmp / "techdata").mkdir()
    return tmp


def base_options(words: list[str], tmp) -> dict:
    """A fast, valid command line for each level of a command: what a bad value replaces."""
    base = {
        ("hw-demo",): {},
        ("device",): {"--sim": None, "--speed": "max", "--exit-after": "0.3", "--quiet": None,
                      "--data-dir": f"{tmp}/logdata"},
        ("log",): {"--data-dir": f"{tmp}/logdata"},
        ("log", "plot"): {"--out": f"{tmp}/plot.png"},
        ("tech",): {"--data-dir": f"{tmp}/techdata"},
        ("tech", "set-pin"): {"--pin-stdin": None},
        ("sim",): {"--out": f"{tmp}/simout", "--quiet": None},
        ("sim", "campaign"): {"--runs": "1", "--seed": "1", "--profile": "short",
                              "--out": f"{tmp}/campaign", "--quiet": None},
    }
    return dict(base.get(tuple(words), {}))


POSITIONAL = {"id": "1", "scenario": "{tmp}/tiny.toml"}


def command_line(chain, level, target, value, tmp) -> list[str]:
    argv, path = [], []
    for i, (words, p) in enumerate(chain):
        path += words
        argv += words
        opts = base_options(path, tmp)
        positional = []
        for a in p._actions:
            if not a.option_strings and takes_value(a):
                v = value if (i == level and a is target) else POSITIONAL.get(a.dest)
                assert v is not None, f"give {' '.join(path)} {a.dest} a valid value in " \
                    "POSITIONAL"
                positional.append(v.format(tmp=tmp))
        if i == level and target.option_strings:
            opts[target.option_strings[0]] = value.format(tmp=tmp)
        for a in p._actions:
            if a.option_strings and a.required and a.option_strings[0] not in opts:
                raise AssertionError(f"give {' '.join(path)} {a.option_strings[0]} a valid "
                                     "value in base_options")
        for k, v in opts.items():
            argv += [k] if v is None else [k, v]
        argv += positional
    return argv


def test_the_walk_finds_every_command():
    names = {" ".join(w for ws, _ in chain for w in ws) for chain in leaves()}
    assert {"hw-demo", "device", "log list", "log show", "log export", "log plot", "sim",
            "sim campaign", "tech set-pin"} <= names


@pytest.mark.parametrize("chain", leaves(), ids=lambda c: "-".join(w for ws, _ in c for w in ws))
def test_every_option_has_help_and_a_shared_check(chain):
    """Every option says what it does, and every value goes through firmware/cliargs.py (or
    is one of a list of choices)."""
    for _, p in chain:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction) or a.dest == "help":
                continue
            name = a.option_strings[0] if a.option_strings else a.dest
            assert a.help and a.help != argparse.SUPPRESS, f"{p.prog} {name}: no help text"
            if takes_value(a):
                assert a.choices or getattr(a.type, "kind", None), \
                    f"{p.prog} {name}: no check from firmware/cliargs.py"


@pytest.mark.parametrize("chain,level,action,bad", list(cases()))
def test_a_bad_value_is_one_line_never_a_traceback(chain, level, action, bad, places,
                                                   capsys, monkeypatch):
    value = BAD[bad]
    argv = command_line(chain, level, action, value, places)
    monkeypatch.setattr(sys, "stdin", io.StringIO("246810\n"))
    monkeypatch.chdir(places)
    name = action.option_strings[0] if action.option_strings else action.metavar or action.dest
    words = [w for ws, _ in chain[:level + 1] for w in ws]
    parser = (cli.build_campaign_parser() if words[:2] == ["sim", "campaign"]
              else cli.build_parser())
    refused = False
    try:
        parser.parse_args(argv[2:] if words[:2] == ["sim", "campaign"] else argv)
    except SystemExit as exc:
        refused = True
        assert exc.code == 2
    capsys.readouterr()
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert isinstance(rc, int)
    if refused:
        assert rc == 2
        assert err.count("\n") == 1, err        # one line
        assert f"{name}: " in err and "allowed: " in err, err
    else:
        assert rc in (0, 1, 2), (rc, err)
        if rc:
            assert err.strip() and err.strip().count("\n") == 0, err


@pytest.mark.parametrize("argv,shown", [
    (["device", "--sim", "--speed", "0"], "--speed: '0' is not allowed"),
    (["device", "--sim", "--load", "0"], "--load: '0' is not allowed"),
    (["device", "--sim", "--load", "-5"], "--load: '-5' is not allowed"),
    (["hw-demo", "--load", "-1"], "--load: '-1' is not allowed"),
    (["sim", "campaign", "--runs", "1", "--seed", "1", "--jobs", "0"], "--jobs: '0'"),
    (["sim", "campaign", "--runs", "-1", "--seed", "1"], "--runs: '-1' is not allowed"),
    (["sim", "{tmp}/tiny.toml", "--out", "{tmp}/afile"], "--out: '{tmp}/afile' is a file"),
    (["tech", "set-pin", "--data-dir", "/nonexistent/dir"], "'/nonexistent/dir' does not exist"),
])
def test_the_values_seen_to_crash_are_refused(argv, shown, places, capsys):
    argv = [a.format(tmp=places) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert shown.format(tmp=places) in err and "allowed: " in err
    assert not os.path.exists("/nonexistent/dir")    # never made


def test_set_pin_with_no_input_is_a_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    d = tmp_path
    assert cli.main(["tech", "set-pin", "--data-dir", str(d), "--pin-stdin"]) == 1
    err = capsys.readouterr().err
    assert "no PIN was given" in err and not (d / "pin.json").exists()


@pytest.mark.parametrize("extra", [[], ["--pin-stdin"]])
def test_set_pin_from_dev_null_is_one_line(extra, tmp_path):
    """``ionto tech set-pin </dev/null``, run as a user runs it: no traceback, no warning."""
    import subprocess
    r = subprocess.run([sys.executable, "-m", "firmware.cli", "tech", "set-pin", "--data-dir",
                        str(tmp_path), *extra], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr
    assert r.stderr.count("\n") == 1 and "nothing was changed" in r.stderr
    assert not (tmp_path / "pin.json").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_data_dir_goes_before_or_after_the_subcommand(where, places, capsys):
    d = str(places / "logdata")
    argv = ["log", "--data-dir", d, "list"] if where == "before" else \
        ["log", "list", "--data-dir", d]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[0] == "1"     # the session the fixture recorded


@pytest.mark.parametrize("where", ["before", "after"])
def test_set_pin_data_dir_goes_before_or_after(where, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("246810\n"))
    argv = ["tech", "--data-dir", str(tmp_path), "set-pin", "--pin-stdin"] \
        if where == "before" else ["tech", "set-pin", "--data-dir", str(tmp_path), "--pin-stdin"]
    assert cli.main(argv) == 0
    assert (tmp_path / "pin.json").exists()


def test_bare_ionto_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "hw-demo" in capsys.readouterr().out


def test_a_failed_expectation_exits_1_and_a_held_one_0(places, capsys):
    held = places / "held.toml"
    held.write_text(SCENARIO + '[expect]\noutcome = "not_started"\n')
    failed = places / "failed.toml"
    failed.write_text(SCENARIO + '[expect]\noutcome = "completed"\n')
    assert cli.main(["sim", str(held), "--out", str(places / "o1")]) == 0
    assert "expect: all hold" in capsys.readouterr().out
    assert cli.main(["sim", str(failed), "--out", str(places / "o2"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "expectation not met: outcome not_started (expected completed)" in err


def test_the_simulated_unit_has_its_pin(places, capsys):
    from firmware.console import check_pin
    from firmware.run_device import SIM_PIN
    d = places / "logdata"
    assert check_pin(d, SIM_PIN)
    assert cli.main(["device", "--sim", "--speed", "max", "--exit-after", "0.1", "--quiet",
                     "--data-dir", str(d)]) == 0
    assert f"technician PIN {SIM_PIN}" in capsys.readouterr().out


def test_log_show_rounds_each_figure_and_says_none_as_a_dash(places, capsys):
    """``ionto log show`` reads as the console's ``log show`` does: figures rounded to what
    they mean (no 1200.0099999989077), an absent value as ``-`` (no ``None``)."""
    import re
    assert cli.main(["log", "--data-dir", str(places / "logdata"), "show", "1"]) == 0
    record = capsys.readouterr().out.split("events:")[0]
    assert "None" not in record and "treat_s" in record
    assert not re.search(r"\d\.\d{5,}", record), record
