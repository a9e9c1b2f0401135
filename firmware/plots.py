"""Plots of a session, headless (matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_logged_session(log, sid: int, out: Path) -> None:
    row = log.session(sid)
    rows = log.trace_of(sid)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    if rows:
        t = [r[0] - rows[0][0] for r in rows]
        ax1.plot(t, [r[2] for r in rows], label="setpoint (mA)", color="0.5", ls="--")
        ax1.plot(t, [r[3] for r in rows], label="measured A (mA)", color="C0")
        ax1.plot(t, [r[4] for r in rows], label="measured B (mA)", color="C1", alpha=0.6)
        ax2.plot(t, [(r[7] or 0) / 1000 for r in rows], color="C2")
    ax1.set_ylabel("current (mA)")
    ax1.legend(loc="upper right")
    ax1.set_title(f"session {sid}: {row['outcome']}, {(row['treat_s'] or 0) / 60:.1f} min, "
                  f"{row['dose_ma_min'] or 0:.1f} mA*min")
    ax2.set_ylabel("load (kOhm)")
    ax2.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
