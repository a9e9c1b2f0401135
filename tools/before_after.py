"""The safety figures of scenario files on two versions of the code, side by side.

    python tools/before_after.py --against 141d549 scenarios/short-on-ramp-down.toml ...

Each file is played by ``ionto sim`` on this checkout and on the named commit (a temporary git
worktree, run with this checkout's virtual environment: the third-party packages are the
same), and the ground truth's figures of both summaries are printed: the worst rise of the
patient's current in 100 ms (``max_step_ma``), the peak, the highest current density and the
longest time above its bound, and, for an injected fault, the time from the injection to a safe
current (``safe_after_ms``). A file the older code cannot read (an event kind it did not know)
is shown as such. This is how the notes of a safety change give their "before and after"
figures; it asserts nothing and no test depends on it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("max_step_ma", "peak_ma", "max_density_ma_cm2", "density_over_s")


def _play(tree: Path, scenario: Path, out: Path) -> dict | str:
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run([sys.executable, "-m", "firmware.cli", "sim", str(scenario),
                           "--out", str(out), "--quiet"], cwd=tree, env=env,
                          capture_output=True, text=True)
    summary = out / "summary.json"
    if proc.returncode not in (0, 1) or not summary.exists():
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        return f"not playable: {last[-1] if last else proc.returncode}"[:90]
    return json.loads(summary.read_text())


def _figures(s: dict | str) -> str:
    if isinstance(s, str):
        return s
    parts = [f"{k.replace('_ma_cm2', '').replace('_ma', '')} {s.get(k)}" for k in FIELDS]
    fault = s.get("fault") or {}
    if fault:
        parts.append(f"{fault.get('code')} safe {fault.get('safe_after_ms')} ms")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", required=True, help="the older commit (any git revision)")
    ap.add_argument("scenarios", nargs="+", type=Path, help="scenario files to play on both")
    args = ap.parse_args(argv)
    files = [p.resolve() for p in args.scenarios]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        print(f"before_after: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        if subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                           str(old), args.against]).returncode != 0:
            print(f"before_after: cannot check out {args.against!r}", file=sys.stderr)
            return 2
        try:
            for p in files:
                before = _play(old, p, Path(tmp) / "b" / p.stem)
                after = _play(ROOT, p, Path(tmp) / "a" / p.stem)
                print(f"{p.stem}\n  before: {_figures(before)}\n  after:  {_figures(after)}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(old)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
