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


STATE_COLOURS = {"SELF_TEST": "0.85", "WAIT_CONTACT": "#cfe2ff", "RAMP_UP": "#d9f2e6",
                 "TREAT": "#b7e4c7", "REVERSING": "#f3d9fa", "RAMP_DOWN": "#d9f2e6",
                 "PAUSED": "#fff3bf", "DONE": "#e9ecef", "FAULT": "#ffc9c9", "IDLE": "white",
                 "SERVICE": "0.9"}


def plot_scenario(rows, summary: dict, out: Path) -> None:
    """True and measured current against the setpoint, the load and the contact, with the
    device states as shaded bands and the events marked; readable without the CSV."""
    if not rows:
        return
    t = [r[0] for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1.3]})
    # State bands.
    start, state = t[0], rows[0][1]
    bands = []
    for r in rows[1:]:
        if r[1] != state:
            bands.append((start, r[0], state))
            start, state = r[0], r[1]
    bands.append((start, t[-1], state))
    seen = set()
    for a, b, st in bands:
        for ax in (ax1, ax2):
            ax.axvspan(a, b, color=STATE_COLOURS.get(st, "white"), lw=0,
                       label=st if (ax is ax1 and st not in seen) else None)
        seen.add(st)
    duty_sp = [r[2] for r in rows]
    ax1.plot(t, duty_sp, color="0.4", ls="--", lw=1, label="sink command (mA)")
    ax1.plot(t, [abs(r[5]) for r in rows], color="C3", lw=1.4, label="true current (mA)")
    ax1.plot(t, [r[3] if r[3] != "" else float("nan") for r in rows], color="C0", lw=0.8,
             alpha=0.8, label="measured A (mA)")
    for ev in summary.get("events", []):
        if ev["kind"] in ("fault", "pause", "resume", "warning") or \
                ev["detail"].startswith(("REVERSAL", "STOP-BY-PATIENT")):
            colour = {"fault": "red", "pause": "orange"}.get(ev["kind"], "purple")
            ax1.axvline(ev["t_s"], color=colour, lw=0.8, ls=":")
            ax1.annotate(ev["detail"].split(":")[0], (ev["t_s"], ax1.get_ylim()[1]),
                         rotation=90, fontsize=7, va="top", ha="right", color=colour)
    ax1.set_ylabel("current (mA)")
    ax1.legend(loc="upper left", fontsize=7, ncol=3, framealpha=0.9)
    fault = summary.get("fault")
    title = (f"{summary['scenario']}: {summary['outcome']}"
             + (f" ({fault['code']})" if fault else "")
             + f"; {summary['treatment_s'] / 60:.1f} min at target, "
             f"{summary['dose_ma_min']:.1f} mA*min; peak {summary['peak_ma']:.2f} mA, "
             f"max step {summary['max_step_ma']:.2f} mA")
    ax1.set_title(title, fontsize=10)
    load = [min(r[8], 50_000) / 1000 for r in rows]
    ax2.plot(t, load, color="C2", label="load (kOhm, true)")
    ax2.set_ylabel("load (kOhm)")
    ax3 = ax2.twinx()
    ax3.plot(t, [r[9] for r in rows], color="C1", lw=1, label="contact (0..1)")
    ax3.set_ylim(-0.05, 1.1)
    ax3.set_ylabel("contact")
    ax2.set_xlabel("simulated time (s)")
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
