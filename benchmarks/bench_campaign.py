"""Campaign throughput on each engine, interleaved in one run (figures, not tests).

    python benchmarks/bench_campaign.py [--runs 8] [--rounds 2] [--seed 1]

Plays the same short-profile runs (the CI gate's profile) on a local pool of 1 and of 2
processes (``--jobs``) and on a Dask ``LocalCluster`` of 1 and of 2 worker processes
(``--workers``; the ``cluster`` extra), round after round in turn, so that a change in the
load of a shared machine falls on every engine alike. Each round plays runs ``r * runs`` ..
``(r + 1) * runs - 1`` on every engine. Prints runs per minute per engine (the median of the
rounds, with every round's figure), the ratios to one local process, what Dask adds per run
(from the throughputs of one process and of one worker, and from the round trip of a task
that does nothing), the start-up time of each engine, and the machine's load average before
and after. Every engine is started once, before the rounds, and warmed with one run (each
process has imported the simulator): the rounds measure the steady state of a long campaign,
and the start-up of each engine (a pool's processes, a cluster's scheduler and workers, and
the imports of the first run) is printed apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simtools.campaign import run_campaign  # noqa: E402


def rate(runs: int, seed: int, first: int, **engine) -> float:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        rep = run_campaign(runs, seed, Path(d), profile="short", first=first, **engine)
        wall = time.perf_counter() - t0
    if rep["violations"]:
        print(f"note: {len(rep['violations'])} run(s) broke a property", file=sys.stderr)
    return runs / wall * 60


def noop() -> None:
    return None


def task_round_trip_ms(client, n: int = 100) -> float:
    """ms for a task that does nothing: submitted, run on a worker, its result back."""
    client.submit(noop, pure=False).result()
    t0 = time.perf_counter()
    for _ in range(n):
        client.submit(noop, pure=False).result()
    return (time.perf_counter() - t0) / n * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=8, help="runs per engine and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        import distributed
    except ImportError:
        print("bench_campaign: the Dask engines need the cluster extra: pip install -c "
              "constraints.txt -e '.[cluster]'", file=sys.stderr)
        return 2
    load0 = os.getloadavg()
    started = {}
    clusters = {}
    pools = {}
    engines = {}
    warm = 10 ** 9                          # runs far from the measured ones
    for n in (1, 2):
        t0 = time.perf_counter()
        pools[n] = ProcessPoolExecutor(max_workers=n)
        name = f"local pool, {n} process{'es' if n > 1 else ''}"
        engines[name] = {"executor": pools[n]}
        rate(n, args.seed, warm, **engines[name])
        started[name] = time.perf_counter() - t0
    for n in (1, 2):
        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=n, processes=True, threads_per_worker=1,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        clusters[n] = (cluster, client)
        name = f"LocalCluster, {n} worker{'s' if n > 1 else ''}"
        engines[name] = {"client": client}
        rate(n, args.seed, warm, **engines[name])
        started[name] = time.perf_counter() - t0
    figures: dict[str, list[float]] = {name: [] for name in engines}
    try:
        for r in range(args.rounds):
            for name, engine in engines.items():
                figures[name].append(rate(args.runs, args.seed, r * args.runs, **engine))
                print(f"round {r + 1}: {name}: {figures[name][-1]:.1f} runs/min",
                      file=sys.stderr, flush=True)
        trip = task_round_trip_ms(clusters[1][1])
    finally:
        for pool in pools.values():
            pool.shutdown()
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    load1 = os.getloadavg()
    base = statistics.median(figures["local pool, 1 process"])
    print(f"{args.rounds} rounds of {args.runs} short runs (seed {args.seed}) per engine, "
          f"{os.cpu_count()} cores; load average {load0[0]:.2f} before, {load1[0]:.2f} after")
    print("| engine | runs/min (median) | every round | ratio to 1 process |")
    print("|---|---|---|---|")
    for name, rates in figures.items():
        med = statistics.median(rates)
        print(f"| {name} | {med:.1f} | {', '.join(f'{x:.1f}' for x in rates)} | "
              f"{med / base:.2f}x |")
    one_worker = statistics.median(figures["LocalCluster, 1 worker"])
    per_run = 60 / one_worker - 60 / base
    print(f"Dask's cost per run: {per_run * 1000:+.0f} ms from the throughputs (1 worker "
          f"against 1 process; noise of the shared machine included); {trip:.1f} ms for the "
          "round trip of a task that does nothing")
    for name, s in started.items():
        print(f"start-up: {name}: {s:.1f} s (with its first run; before the rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
