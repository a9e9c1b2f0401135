"""Campaigns on a Dask distributed cluster (the ``cluster`` extra: ``pip install -c
constraints.txt -e '.[cluster]'``).

``ionto sim campaign --scheduler ADDRESS`` plays the runs on the workers of an existing
cluster (``dask scheduler`` and ``dask worker ADDRESS`` on the machines, or dask-jobqueue on a
batch system: ``firmware/README.md``); ``--workers N`` starts a local cluster of N worker
processes (one thread each: the simulator is pure Python and holds the GIL).

Each run is one Dask future (``client.submit``), collected with ``as_completed`` as it
finishes, so that what a cluster can do to a run is explicit:

- a worker that dies (killed, out of memory, its machine gone) while it holds a run: the
  scheduler gives the run to another worker, and it is played again from the start (a run
  depends only on (seed, index, profile)); its result arrives once, from the worker that
  finished it. The campaign counts the workers that died holding its runs, and those runs
  (``engine`` in ``campaign.json``).
- a run whose worker dies every time it is played (more than ``distributed.scheduler.
  allowed-failures`` times, 3 by default: a run that kills the process it runs in) is reported
  as a crash of that run, with its scenario file, like a run that raises inside the simulator.
- a worker with other code or other draws than the command (:func:`simtools.campaign.identity`)
  stops the campaign with one line: its results would not be those of this program.

``distributed`` is imported only here, and only when a cluster is asked for: the default
local pool needs no extra.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager

from .campaign import CampaignMismatch, play_checked, random_scenario

INSTALL_HINT = "pip install -c constraints.txt -e '.[cluster]'"
#: how long a client waits for the scheduler named by --scheduler
CONNECT_TIMEOUT_S = 20


class ClusterError(Exception):
    """A cluster that cannot be used (one line, for the command to print; exit status 2)."""


def _distributed(option: str):
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"{option} needs the 'distributed' package (the cluster extra), "
                           f"which is not installed: {INSTALL_HINT}") from None
    return distributed


@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: of the scheduler at ``scheduler``, or of a local cluster of ``workers``
    processes (closed on exit)."""
    distributed = _distributed("--scheduler" if scheduler else "--workers")
    if workers is not None:
        with distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"no Dask scheduler answers at {scheduler} ({exc}); start one with "
                           "'dask scheduler' and workers with 'dask worker ADDRESS'") from None
    with client:
        yield client


def describe(client) -> str:
    info = client.scheduler_info()
    n = len(info.get("workers", {}))
    threads = sum(w.get("nthreads", 0) for w in info.get("workers", {}).values())
    return f"Dask scheduler {info.get('address')} with {n} worker(s), {threads} thread(s)"


def play_on_dask(client, seed: int, indices: list[int], profile: str, expected: dict,
                 stats: dict):
    """(index, result) as each run finishes on the cluster; ``stats`` gets the workers lost
    during the campaign and the runs they held when they died."""
    distributed = _distributed("--scheduler")
    token = uuid.uuid4().hex[:8]
    keys = {}
    futures = []
    for i in indices:
        key = f"ionto-run-{token}-{i}"
        keys[key] = i
        futures.append(client.submit(play_checked, seed, i, profile, expected, key=key,
                                     pure=False))
    stats.update(workers_lost=0, runs_reassigned=0)
    try:
        ac = distributed.as_completed(futures, with_results=True, raise_errors=False)
        del futures                                  # as_completed holds them until they end
        for fut, result in ac:
            index = keys[fut.key]
            erred = fut.status == "error"            # the result: (type, exception, traceback)
            fut.release()                            # a result is kept here, not on a worker
            if erred:
                exc = result[1]
                if isinstance(exc, CampaignMismatch):
                    raise ClusterError(str(exc))
                result = crashed(seed, index, profile, exc)
            yield index, result
    finally:
        _count_losses(client, keys, stats)


def crashed(seed: int, index: int, profile: str, exc: BaseException) -> dict:
    """The result of a run the cluster could not play: a crash of that run (its scenario is
    saved), never a pass and never a lost run."""
    name = type(exc).__name__
    if name == "KilledWorker":
        why = (f"the run crashed: its worker died each time it was played ({exc}); the run "
               "may kill the process it runs in (replay its scenario file)")
    else:
        why = f"the run crashed on the cluster: {name}: {exc}"
    return {"doc": random_scenario(seed, index, profile), "summary": None, "wall_s": 0.0,
            "violations": [why], "worker": None}


def _count_losses(client, keys: dict, stats: dict) -> None:
    """The workers that died holding runs of this campaign (the keys are its own: a token
    drawn for each part), from the scheduler's log of removed workers; no clock compared."""
    try:
        events = client.get_events("all")
    except Exception:  # noqa: BLE001 - a figure of the report, not a result
        return
    for _, msg in events:
        if not isinstance(msg, dict) or msg.get("action") != "remove-worker" \
                or msg.get("expected"):
            continue
        held = [k for k in msg.get("processing-tasks", ()) if k in keys]
        if held:
            stats["workers_lost"] += 1
            stats["runs_reassigned"] += len(held)
