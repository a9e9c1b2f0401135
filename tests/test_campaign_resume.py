"""``ionto sim campaign --resume DIR``: a campaign whose command was SIGKILLed continues from
its journal (``DIR/runs.jsonl``, one line per finished run) with no run played twice and none
lost, and ends with the campaign.json of a campaign that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware import cli
from simtools import campaign

ROOT = Path(__file__).resolve().parents[1]
SEED = 20277162          # runs 0 to 5 stop after 27 to 38 simulated s (about half a second)
RUNS = 6


def comparable(out: Path) -> dict:
    report = json.loads((out / "campaign.json").read_text())
    for key in campaign.MACHINE_FIELDS:
        report.pop(key)
    return report


def journal(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / campaign.JOURNAL).read_text().splitlines()]


def played(out: Path) -> list[int]:
    return [r["run"] for r in journal(out) if "run" in r]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    campaign.run_campaign(RUNS, SEED, out, jobs=2, profile="short")
    return out


def ionto(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from firmware.cli import main; "
            "sys.exit(main(sys.argv[1:]))", "sim", "campaign", *args, "--quiet"]


def start_and_kill(out: Path, after_runs: int) -> list[int]:
    """Start the campaign as a command and SIGKILL it (with its pool's processes) once its
    journal holds ``after_runs`` runs; the runs the journal then holds."""
    proc = subprocess.Popen(ionto("--profile", "short", "--runs", str(RUNS), "--seed",
                                  str(SEED), "--jobs", "2", "--out", str(out)),
                            cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            path = out / campaign.JOURNAL
            if path.exists() and path.read_bytes().count(b'"run":') >= after_runs \
                    and path.read_bytes().endswith(b"\n"):
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the campaign ended before it was killed"
    return played(out)


@pytest.mark.parametrize("after_runs", [0, 2])
def test_a_killed_campaign_resumes_with_no_run_twice_and_none_lost(reference, tmp_path,
                                                                   after_runs):
    out = tmp_path / "c"
    before = start_and_kill(out, after_runs)
    assert len(before) >= after_runs and len(before) < RUNS
    assert not (out / "campaign.json").exists()
    # a fresh start into the unfinished campaign's folder is refused: it would lose the runs
    r = subprocess.run(ionto("--runs", str(RUNS), "--seed", str(SEED), "--out", str(out)),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and f"--resume {out}" in r.stderr and r.stderr.count("\n") == 1
    r = subprocess.run(ionto("--resume", str(out), "--jobs", "2"), cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    runs = played(out)
    assert sorted(runs) == list(range(RUNS))               # none lost, none twice
    assert runs[:len(before)] == before                    # the first part's runs kept
    parts = {r["run"]: r["part"] for r in journal(out) if "run" in r}
    assert all(parts[i] == 0 for i in before) and \
        all(parts[i] == 1 for i in set(range(RUNS)) - set(before))
    assert comparable(out) == comparable(reference)
    eng = json.loads((out / "campaign.json").read_text())["engine"]
    assert eng["parts"] == 2 and eng["played_now"] == RUNS - len(before)


def test_a_line_cut_short_by_the_kill_is_dropped_and_its_run_played(reference, tmp_path):
    out = tmp_path / "c"
    header = campaign.campaign_header(RUNS, SEED, "short", 0)
    out.mkdir()
    j = campaign.Journal(out / campaign.JOURNAL, header, fresh=True)
    j.start_part("a test")
    j.add(0, campaign.run_one(SEED, 0, "short"), 1.0)
    j.close()
    with open(out / campaign.JOURNAL, "ab") as fh:
        fh.write(b'{"run": 1, "summary": {"outc')            # the kill, in the middle of a write
    report = campaign.run_campaign(RUNS, SEED, out, jobs=2, resume=True)
    assert sorted(played(out)) == list(range(RUNS))
    assert report["runs"] == RUNS and sum(report["outcomes"].values()) == RUNS
    assert comparable(out) == comparable(reference)


@pytest.mark.parametrize("edit,given,shown", [
    (None, ["--seed", "5"], "has --seed 20277162, not 5"),
    ({"code": "0" * 16}, [], "the program's code changed since it began"),
    ({"shunts": True}, [], "IONTO_CAMPAIGN_SHUNTS differs"),
])
def test_a_resume_that_would_mix_two_campaigns_is_refused(tmp_path, capsys, edit, given, shown):
    header = {**campaign.campaign_header(RUNS, SEED, "short", 0), **(edit or {})}
    campaign.Journal(tmp_path / campaign.JOURNAL, header, fresh=True).close()
    rc = cli.main(["sim", "campaign", "--resume", str(tmp_path), "--quiet", *given])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and shown in err, err
    assert played(tmp_path) == []
