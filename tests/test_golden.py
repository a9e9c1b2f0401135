"""The simulator's outputs are the recorded ones (``tests/golden/outputs.json``,
``tools/golden.py``): the fixed campaign runs here, every scenario in test_scenarios.py (which
plays each scenario once anyway). A change meant only to be faster must leave every byte of
summary.json (less wall_s and speed) and trace.csv as recorded; a change that moves results on
purpose records them again, in a commit of its own that says why."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def golden_tool():
    spec = importlib.util.spec_from_file_location("golden", ROOT / "tools" / "golden.py")
    mod = importlib.util.module_from_spec(spec)
    # registered by its name, so that its worker processes can unpickle the jobs it sends them
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_record_covers_every_scenario_and_the_campaign_runs():
    g = golden_tool()
    rec = g.load_record()
    assert set(rec["runs"]) == {name for name, _, _ in g.all_runs()}
    assert rec["campaign"] == {"seed": g.CAMPAIGN_SEED, "runs": g.CAMPAIGN_RUNS}
    assert len(g.campaign_runs()) == g.CAMPAIGN_RUNS == 40
    for entry in rec["runs"].values():
        assert not set(entry["figures"]) & set(g.MACHINE_FIELDS)
        assert len(entry["summary_sha256"]) == len(entry["trace_sha256"]) == 64


def test_the_campaign_runs_give_the_recorded_outputs():
    """40 random scenarios (30 of the short profile, 10 whole sessions) of a fixed seed, in two
    processes: each run's summary and trace as recorded."""
    g = golden_tool()
    rec = g.load_record()["runs"]
    names = [name for name, *_ in g.campaign_runs()]
    now = g.play_all(jobs=2, only=names)
    assert sorted(now) == sorted(names)
    bad = [line for name in names for line in g.differences(name, rec.get(name), now[name])]
    assert bad == []
    # and each run keeps the campaign's safety properties, judged on its true figures (the
    # 10 whole sessions are the random whole sessions the suite judges)
    from simtools.campaign import check_properties, random_scenario
    broken = {name: v for name, seed, index, profile in g.campaign_runs()
              if (v := check_properties(random_scenario(seed, index, profile),
                                        now[name]["figures"]))}
    assert broken == {}


def test_a_difference_names_the_run_the_file_and_the_first_field(tmp_path):
    g = golden_tool()
    (tmp_path / "summary.json").write_text(json.dumps(
        {"scenario": "x", "wall_s": 1.0, "speed": 9.0, "peak_ma": 15.1, "fault": {"code": "A"},
         "events": [{"t_s": 1.0}]}))
    (tmp_path / "trace.csv").write_text("t_s\n0.01\n")
    rec = g.outputs_entry(tmp_path)
    # the machine's fields do not count
    (tmp_path / "summary.json").write_text(json.dumps(
        {"scenario": "x", "wall_s": 2.0, "speed": 4.5, "peak_ma": 15.1, "fault": {"code": "A"},
         "events": [{"t_s": 1.0}]}))
    assert g.differences("x", rec, g.outputs_entry(tmp_path)) == []
    (tmp_path / "summary.json").write_text(json.dumps(
        {"scenario": "x", "wall_s": 2.0, "speed": 4.5, "peak_ma": 15.1, "fault": {"code": "B"},
         "events": [{"t_s": 1.0}]}))
    (tmp_path / "trace.csv").write_text("t_s\n0.02\n")
    bad = g.differences("x", rec, g.outputs_entry(tmp_path))
    assert len(bad) == 2
    assert bad[0].startswith("x/summary.json differs: first differing field fault.code: 'A'")
    assert bad[1].startswith("x/trace.csv differs")
    (tmp_path / "summary.json").write_text(json.dumps(
        {"scenario": "x", "wall_s": 2.0, "speed": 4.5, "peak_ma": 15.1, "fault": {"code": "A"},
         "events": [{"t_s": 1.5}]}))
    assert g.differences("x", rec, g.outputs_entry(tmp_path))[0] == \
        "x/summary.json differs: the event list differs"
    assert "not in the record" in g.differences("y", None, rec)[0]


def test_record_again_keeps_the_other_runs_and_refuses_an_unknown_name(tmp_path, monkeypatch,
                                                                         capsys):
    g = golden_tool()
    record = tmp_path / "outputs.json"
    record.write_text(json.dumps({"recorded_on": "x", "why": "first", "campaign": {},
                                  "runs": {"other": {"kept": True}}}))
    monkeypatch.setattr(g, "RECORD", record)
    name = g.all_runs()[0][0]
    monkeypatch.setattr(g, "ROOT", tmp_path)
    played = {}

    def play_all(jobs, only=None):
        played["only"] = only
        return {name: {"new": True} for name in only}
    monkeypatch.setattr(g, "play_all", play_all)
    assert g.main(["record", "--only", name, "--why", "a change on purpose"]) == 0
    doc = json.loads(record.read_text())
    assert doc["runs"] == {"other": {"kept": True}, name: {"new": True}}
    assert played["only"] == [name] and "a change on purpose" in doc["why"]
    for argv in (["record", "--only", "no-such-run", "--why", "w"], ["record"]):
        try:
            g.main(argv)
        except SystemExit as e:
            assert e.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
    assert "no such run: no-such-run" in capsys.readouterr().err
