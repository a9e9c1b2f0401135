"""Campaigns on a real Dask cluster (``distributed.LocalCluster`` of worker processes, one
thread each): the same seed gives the same campaign.json (less the machine's figures) and the
same violation files as the local process pool, whatever the number of workers; a worker
killed in the middle of a run loses nothing; a run that raises inside the simulator, or that
kills its worker each time it is played, is a crash with its scenario file.

One cluster of two workers serves the whole module (starting one takes a few seconds). The
``distributed`` package is in the ``test`` extra, so CI runs these tests; they are skipped
only on an installation without it, and say so."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time

import dask
import pytest

distributed = pytest.importorskip(
    "distributed", reason="the 'distributed' package (the cluster extra) is not installed: "
    "pip install -c constraints.txt -e '.[test]'")

from sim.scenario import load_scenario, parse_scenario  # noqa: E402
from simtools import campaign  # noqa: E402

SEED = 20277162          # runs 0 to 4 stop after 27 to 38 simulated s (about half a second)
RUNS = 5
#: the runs this module's forced judge calls violations (on every engine alike)
FLAGGED = {1, 3}


def forced_judge(doc, summary):
    """A deterministic judge: the real one, plus a forced violation on the runs of FLAGGED,
    so that the violation files can be compared (the short runs of SEED break nothing)."""
    index = int(doc["name"].rsplit("-", 1)[1])
    return (["forced"] if index in FLAGGED else []) + _real_judge(doc, summary)


_real_judge = campaign.check_properties


def _set_judge(judge):
    campaign.check_properties = judge


def _crash_on(name):
    """Make the simulator raise on the scenario ``name`` (in this process)."""
    from simtools import simrun
    real = getattr(simrun, "_real_run_scenario", simrun.run_scenario)
    simrun._real_run_scenario = real

    def run_scenario(sc, *a, **k):
        if sc.name == name:
            raise RuntimeError("the simulator fell over")
        return real(sc, *a, **k)
    simrun.run_scenario = run_scenario if name else real


class Patched(distributed.WorkerPlugin):
    """``setter(value)`` on every worker, also on those started again after a death;
    ``setter(default)`` when the plugin is removed."""

    def __init__(self, setter, value, default):
        self.setter, self.value, self.default = setter, value, default

    def setup(self, worker):
        self.setter(self.value)

    def teardown(self, worker):
        self.setter(self.default)


@contextlib.contextmanager
def patched(client, setter, value, default):
    client.register_plugin(Patched(setter, value, default), name="patched")
    try:
        yield
    finally:
        client.unregister_worker_plugin("patched")


class ExitOn(distributed.WorkerPlugin):
    """On every worker, also those started again after a death: the run ``name`` ends its
    worker process at once (as a run that crashed the interpreter would)."""

    def __init__(self, name):
        self.name = name

    def setup(self, worker):
        from simtools import simrun
        real = simrun.run_scenario
        target = self.name

        def run_scenario(sc, *a, **k):
            if sc.name == target:
                os._exit(70)
            return real(sc, *a, **k)
        self._real = real
        simrun.run_scenario = run_scenario

    def teardown(self, worker):
        from simtools import simrun
        simrun.run_scenario = self._real


@pytest.fixture(scope="module")
def client():
    # a run whose worker dies twice is a crash of that run (3 deaths by default: a shorter
    # test); a worker killed once is the case of test_a_worker_killed_in_the_middle_...
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def comparable(out):
    report = json.loads((out / "campaign.json").read_text())
    for key in campaign.MACHINE_FIELDS:
        report.pop(key)
    return report


def violation_files(out):
    return {p.name: p.read_text() for p in sorted((out / "violations").iterdir())}


@pytest.fixture(scope="module")
def on_pool(tmp_path_factory):
    """The reference: the campaign on the local process pool (forked: the forced judge
    reaches its processes)."""
    out = tmp_path_factory.mktemp("pool")
    _set_judge(forced_judge)
    try:
        campaign.run_campaign(RUNS, SEED, out, jobs=2, profile="short")
    finally:
        _set_judge(_real_judge)
    return out


def test_the_same_seed_gives_the_same_report_and_files_on_the_pool_and_on_dask(
        client, on_pool, tmp_path):
    with patched(client, _set_judge, forced_judge, _real_judge):
        campaign.run_campaign(RUNS, SEED, tmp_path / "dask2", client=client, profile="short")
        # one worker of the two: another order of completion, the same report
        one = [next(iter(client.scheduler_info()["workers"]))]
        with distributed.Client(client.scheduler.address) as c1:
            real_submit = c1.submit
            c1.submit = lambda *a, **k: real_submit(*a, workers=one, **k)
            campaign.run_campaign(RUNS, SEED, tmp_path / "dask1", client=c1, profile="short")
    ref = comparable(on_pool)
    assert [v["scenario"] for v in ref["violations"]] == \
        [f"campaign-short-{SEED}-{i}" for i in sorted(FLAGGED)]        # by run index
    assert sum(ref["outcomes"].values()) == RUNS
    for out in (tmp_path / "dask2", tmp_path / "dask1"):
        assert comparable(out) == ref
        assert violation_files(out) == violation_files(on_pool)
    played = [json.loads(line) for line in (tmp_path / "dask2" / "runs.jsonl").open()]
    workers = {r["worker"] for r in played if "run" in r}
    assert len(workers) == 2                    # both workers played runs
    eng = json.loads((tmp_path / "dask2" / "campaign.json").read_text())["engine"]
    assert eng["workers_lost"] == 0 and eng["runs_reassigned"] == 0


def _executing(dask_worker):
    return [str(k) for k, ts in dask_worker.state.tasks.items() if ts.state == "executing"]


def test_a_worker_killed_in_the_middle_of_a_run_loses_nothing(client, on_pool, tmp_path):
    with patched(client, _set_judge, forced_judge, _real_judge):
        killed, box = _kill_a_worker_during(client, tmp_path)
    assert killed is not None, "no run was seen executing"
    assert "error" not in box, box.get("error")
    index, pid = killed
    played = [json.loads(line) for line in (tmp_path / "runs.jsonl").open()]
    runs = [r["run"] for r in played if "run" in r]
    assert sorted(runs) == list(range(RUNS))          # every run, each once
    by_run = {r["run"]: r for r in played if "run" in r}
    assert not by_run[index]["worker"].endswith(f":{pid}")   # played again elsewhere
    eng = box["report"]["engine"]
    assert eng["workers_lost"] == 1 and eng["runs_reassigned"] >= 1
    assert comparable(tmp_path) == comparable(on_pool)
    assert violation_files(tmp_path) == violation_files(on_pool)


def _kill_a_worker_during(client, tmp_path):
    """Play the campaign in a thread; SIGKILL the process of a worker in the middle of a
    run. Returns (the run's index, the killed pid) and what the campaign gave."""
    box = {}

    def play():
        try:
            box["report"] = campaign.run_campaign(RUNS, SEED, tmp_path, client=client,
                                                  profile="short")
        except BaseException as exc:  # noqa: BLE001 - shown by the assertion below
            box["error"] = exc

    thread = threading.Thread(target=play)
    thread.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        busy = client.run(_executing)
        pids = client.run(os.getpid)
        for addr, keys in busy.items():
            if keys and keys[0].startswith("ionto-run-"):
                time.sleep(0.15)                      # well inside the run (about 0.5 s)
                if client.run(_executing, workers=[addr]).get(addr) == keys:
                    os.kill(pids[addr], signal.SIGKILL)
                    killed = (int(keys[0].rsplit("-", 1)[1]), pids[addr])
                break
        time.sleep(0.05)
    thread.join(120)
    client.wait_for_workers(2, timeout=60)
    return killed, box


def test_a_run_that_raises_in_the_simulator_is_a_crash_with_its_scenario(client, tmp_path):
    name = f"campaign-short-{SEED}-2"
    client.run(_crash_on, name)
    try:
        report = campaign.run_campaign(3, SEED, tmp_path, client=client, profile="short")
    finally:
        client.run(_crash_on, None)
    assert report["outcomes"]["crashed"] == 1 and sum(report["outcomes"].values()) == 3
    assert report["violations"] == [{"scenario": name, "violations": [
        "the run crashed: RuntimeError: the simulator fell over"]}]
    saved = tmp_path / "violations" / f"{name}.toml"
    assert load_scenario(saved).events == parse_scenario(
        campaign.random_scenario(SEED, 2, "short"), "x.toml").events


def test_a_run_that_kills_its_worker_each_time_is_a_crash_not_a_lost_run(client, tmp_path):
    name = f"campaign-short-{SEED}-0"
    client.register_plugin(ExitOn(name), name="exit-on")
    try:
        report = campaign.run_campaign(2, SEED, tmp_path, client=client, profile="short")
    finally:
        # The worker the run killed last may still be starting again (its nanny restarts it by
        # itself): both are back first, then the plugin's teardown undoes its patch on each.
        # (This once ended in client.restart(), which in CI raced that start and timed out
        # waiting 120 s for the worker to return.)
        client.wait_for_workers(2, timeout=120)
        client.unregister_worker_plugin("exit-on")
    assert report["outcomes"]["crashed"] == 1 and sum(report["outcomes"].values()) == 2
    (v,) = report["violations"]
    assert v["scenario"] == name and "its worker died each time" in v["violations"][0]
    assert (tmp_path / "violations" / f"{name}.toml").exists()
    assert report["engine"]["workers_lost"] == 2, report["engine"]
    # the patch is undone on every worker: the same run plays again, and nothing dies
    again = campaign.run_campaign(1, SEED, tmp_path / "again", client=client, profile="short")
    assert again["outcomes"].get("crashed", 0) == 0 and sum(again["outcomes"].values()) == 1
    assert again["engine"]["workers_lost"] == 0, again["engine"]


def _set_identity(code):
    real = getattr(campaign, "_real_identity", campaign.identity)
    campaign._real_identity = real
    campaign.identity = (lambda: {**real(), "code": code}) if code else real


def test_a_worker_with_other_code_stops_the_campaign_in_one_line(client, tmp_path):
    from simtools.cluster import ClusterError
    client.run(_set_identity, "0123456789abcdef")
    try:
        with pytest.raises(ClusterError, match=r"has other code '0123456789abcdef' \(the "
                           r"campaign's '[0-9a-f]{16}'\): install the same ionto"):
            campaign.run_campaign(2, SEED, tmp_path, client=client, profile="short")
    finally:
        client.run(_set_identity, None)
    assert not (tmp_path / "campaign.json").exists()
