"""Where a campaign's runs are played (``--jobs``, ``--workers``, ``--scheduler``), as the
command line has it: the default local pool needs no extra and never imports ``distributed``;
without the extra the cluster options are one line with the install hint and exit status 2;
the three options exclude each other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware import cli

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_the_default_pool_plays_without_importing_distributed(tmp_path):
    r = _python("import sys\nfrom firmware import cli\n"
                f"rc = cli.main(['sim', 'campaign', '--runs', '1', '--seed', '3', '--profile', "
                f"'short', '--jobs', '1', '--out', {str(tmp_path)!r}, '--quiet'])\n"
                "assert 'distributed' not in sys.modules and 'dask' not in sys.modules\n"
                "sys.exit(rc)")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "campaign.json").exists() and (tmp_path / "campaign.png").exists()


@pytest.mark.parametrize("option", [["--workers", "2"], ["--scheduler", "localhost:8786"]])
def test_without_the_cluster_extra_a_cluster_option_is_one_line_with_the_hint(option, tmp_path):
    # sys.modules[name] = None: the import of distributed fails as on an installation without it
    r = _python("import sys\nsys.modules['distributed'] = None\nfrom firmware import cli\n"
                f"sys.exit(cli.main(['sim', 'campaign', '--runs', '1', '--seed', '3', "
                f"'--out', {str(tmp_path)!r}, '--quiet', *{option!r}]))")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{option[0]} needs the 'distributed' package" in r.stderr
    assert "pip install -c constraints.txt -e '.[cluster]'" in r.stderr
    assert not (tmp_path / "runs.jsonl").exists()            # nothing was started


@pytest.mark.parametrize("a,b", [(["--workers", "2"], ["--scheduler", "h:8786"]),
                                 (["--jobs", "2"], ["--workers", "2"]),
                                 (["--jobs", "2"], ["--scheduler", "h:8786"])])
def test_the_places_to_play_exclude_each_other(a, b, capsys, tmp_path):
    rc = cli.main(["sim", "campaign", "--runs", "1", "--seed", "1", "--out", str(tmp_path),
                   *a, *b])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "not allowed with" in err, err


@pytest.mark.parametrize("text,ok", [("sched.example.org:8786", "tcp://sched.example.org:8786"),
                                     ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
                                     ("tls://[::1]:8786", "tls://[::1]:8786"),
                                     ("8786", None), ("host:0", None), ("host:99999", None),
                                     ("http://host:8786", None), ("ho st:1", None)])
def test_a_scheduler_address_is_checked_for_its_form(text, ok):
    import argparse
    if ok is None:
        with pytest.raises(argparse.ArgumentTypeError, match="allowed: a scheduler address"):
            cli.SCHEDULER(text)
    else:
        assert cli.SCHEDULER(text) == ok


def test_a_scheduler_that_does_not_answer_is_one_line(capsys, tmp_path, monkeypatch):
    pytest.importorskip("distributed", reason="the 'distributed' package (the cluster extra) "
                        "is not installed")
    from simtools import cluster
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    rc = cli.main(["sim", "campaign", "--runs", "1", "--seed", "1", "--out", str(tmp_path),
                   "--quiet", "--scheduler", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert "no Dask scheduler answers at tcp://127.0.0.1:1" in err and "dask scheduler" in err


def test_a_pool_process_that_dies_is_one_line_and_the_finished_runs_are_kept(tmp_path):
    # run 1 ends the process that plays it (as a run that crashed the interpreter would); the
    # pool is forked, so the patch reaches its process
    r = _python("import os, sys\nfrom firmware import cli\nfrom simtools import simrun\n"
                "real = simrun.run_scenario\n"
                "def run(sc, *a, **k):\n"
                "    if sc.name.endswith('-1'):\n        os._exit(70)\n"
                "    return real(sc, *a, **k)\n"
                "simrun.run_scenario = run\n"
                f"sys.exit(cli.main(['sim', 'campaign', '--runs', '2', '--seed', '20277162', "
                f"'--profile', 'short', '--jobs', '1', '--out', {str(tmp_path)!r}, '--quiet']))")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and f"--resume {tmp_path}" in r.stderr
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert [json.loads(x).get("run") for x in lines[2:]] == [0]      # run 0 was kept
