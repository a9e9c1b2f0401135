"""Plots of a session, headless (matplotlib's Agg backend)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import matplotlib

from controller.states import State

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from controller import course as rules  # noqa: E402

#: one colour a state, each told apart from its neighbours in a session (the ramps from the
#: treatment, the treatment from the contact check, a pause from a fault); drawn light, so the
#: curves stay readable on them
STATE_COLOURS = {State.IDLE: "#ffffff", State.SELF_TEST: "#bdbdbd", State.WAIT_CONTACT: "#9ecae1",
                 State.RAMP_UP: "#c7e9c0", State.TREAT: "#74c476", State.REVERSING: "#bcbddc",
                 State.RAMP_DOWN: "#fdae6b", State.PAUSED: "#fff176", State.DONE: "#e0e0e0",
                 State.FAULT: "#fb6a4a", State.SERVICE: "#f1b6da"}
BAND_ALPHA = 0.45


def _state_bands(t: list[float], states: list[str]) -> list[tuple[float, float, str]]:
    bands, start, state = [], t[0], states[0]
    for ti, st in zip(t[1:], states[1:], strict=True):
        if st != state:
            bands.append((start, ti, state))
            start, state = ti, st
    bands.append((start, t[-1], state))
    return bands


def _draw_bands(axes, t, states) -> None:
    """The device states as shaded bands on every axis, named once in the first one's
    legend."""
    seen = set()
    for a, b, st in _state_bands(t, states):
        for ax in axes:
            ax.axvspan(a, b, color=STATE_COLOURS.get(st, "white"), alpha=BAND_ALPHA, lw=0,
                       label=st if (ax is axes[0] and st not in seen) else None)
        seen.add(st)


def _legend_outside(ax, handles=None, labels=None) -> None:
    """The legend to the right of the axes, never over the data."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
              borderaxespad=0.0, frameon=False)


def _nan(v):
    """An unknown value (None, an empty reading) as NaN: a gap in the curve, never a 0."""
    return float("nan") if v is None or v == "" else v


def plot_logged_session(log, sid: int, out: Path) -> None:
    row = log.session(sid)
    rows = log.trace_of(sid)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    if rows:
        t = [r[0] - rows[0][0] for r in rows]
        _draw_bands((ax1, ax2), t, [r[1] for r in rows])
        ax1.plot(t, [_nan(r[2]) for r in rows], label="setpoint (mA)", color="0.3", ls="--")
        ax1.plot(t, [_nan(r[3]) for r in rows], label="measured A (mA)", color="C0")
        ax1.plot(t, [_nan(r[4]) for r in rows], label="measured B (mA)", color="C1", alpha=0.6)
        # the load is unknown while no current flows (a pause, the contact check): a gap
        ax2.plot(t, [_nan(r[7]) / 1000 if r[7] is not None else float("nan") for r in rows],
                 color="C2", label="load (kOhm)")
    ax1.set_ylim(bottom=0)
    ax1.set_ylabel("current (mA)")
    _legend_outside(ax1)
    ax1.set_title(f"session {sid}: {row['outcome'] or 'in progress'}, "
                  f"{(row['treat_s'] or 0) / 60:.1f} min at target, "
                  f"{row['dose_ma_min'] or 0:.1f} mA*min", fontsize=10)
    ax2.set_ylabel("load (kOhm)")
    ax2.set_xlabel("time from the session's start (s)")
    _legend_outside(ax2)
    fig.tight_layout()
    fig.savefig(out, dpi=100, format="png")
    plt.close(fig)


def plot_scenario(rows, summary: dict, out: Path) -> None:
    """True and measured current against the setpoint, the load and the contact, with the
    device states as shaded bands and the events marked; readable without the CSV.

    ``rows`` may be thinned, but must keep each stretch's extremes (simtools/thinning.py): the
    y axis is drawn to the highest current of the rows, and the title's peak is the summary's.
    Event names are written above the axes, legends beside them: nothing covers a curve."""
    if not rows:
        return
    t = [r[0] for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12.5, 7), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1.3]})
    _draw_bands((ax1, ax2), t, [r[1] for r in rows])
    ax1.plot(t, [r[2] for r in rows], color="0.3", ls="--", lw=1, label="sink command (mA)")
    if len(rows[0]) > 12:   # the period's true peak (simrun): what the title's peak is
        ax1.plot(t, [r[12] for r in rows], color="#e377c2", lw=0.8,
                 label="true current, peak in each 10 ms (mA)")
    ax1.plot(t, [abs(r[5]) for r in rows], color="C3", lw=1.4,
             label="true current, mean of each 10 ms (mA)")
    ax1.plot(t, [_nan(r[3]) for r in rows], color="C0", lw=0.8, alpha=0.8,
             label="measured A (mA)")
    top = max(max(r[2] for r in rows), max(abs(r[5]) for r in rows), summary["peak_ma"],
              max((r[12] for r in rows if len(r) > 12), default=0.0), 1.0)
    ax1.set_ylim(0, top * 1.05)
    ax1.set_xlim(t[0], t[-1])
    marks = []
    for ev in summary.get("events", []):
        if ev["kind"] in ("fault", "pause", "resume", "warning") or \
                ev["detail"].startswith(("REVERSAL", "STOP-BY-PATIENT")):
            colour = {"fault": "red", "pause": "darkorange"}.get(ev["kind"], "purple")
            ax1.axvline(ev["t_s"], color=colour, lw=0.8, ls=":")
            marks.append((ev["t_s"], ev["detail"].split(":")[0], colour))
    # names above the axes (x in data, y in axes units), one per 1.5 % of the width so that
    # they do not overprint one another
    span = (t[-1] - t[0]) or 1.0
    last = None
    for x, name, colour in marks:
        if last is not None and x - last < 0.015 * span:
            continue
        last = x
        ax1.text(x, 1.01, name, transform=ax1.get_xaxis_transform(), rotation=90,
                 fontsize=7, va="bottom", ha="center", color=colour, clip_on=False)
    ax1.set_ylabel("current (mA)")
    _legend_outside(ax1)
    fault = summary.get("fault")
    title = (f"{summary['scenario']}: {summary['outcome']}"
             + (f" ({fault['code']})" if fault else "")
             + f"; {summary['treatment_s'] / 60:.1f} min at target, "
             f"{summary['dose_ma_min']:.1f} mA*min; peak {summary['peak_ma']:.2f} mA, "
             f"max step {summary['max_step_ma']:.2f} mA")
    # the title above the event names
    ax1.set_title(title, fontsize=10, pad=62 if marks else 6)
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
    ax2.legend(h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(1.07, 1.0), fontsize=7,
               borderaxespad=0.0, frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


PHASE_COLOURS = {rules.INITIAL: "#c6dbef", rules.MAINTENANCE: "#c7e9c0",
                 rules.NOT_RESPONDING: "#fcbba1"}


def plot_course_report(rep: dict, path: Path) -> None:
    """Three panels over the course's dates: each session's dose (counted or not), the sessions
    a week against the plan's, the HDSS scores; the phases shaded."""
    if rep["as_of"] is None:
        raise ValueError(f"profile {rep['profile']} has nothing to plot yet")
    start = date.fromisoformat(rep["start"])
    weeks = rep["weeks"]
    end = max(date.fromisoformat(rep["as_of"]) + timedelta(days=1),
              date.fromisoformat(weeks[-1]["from"]) + timedelta(days=7))
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    bounds = [date.fromisoformat(p["from"]) for p in rep["phases"]] + [end]
    for ax in (ax1, ax2, ax3):
        for i, p in enumerate(rep["phases"]):
            ax.axvspan(bounds[i], bounds[i + 1], color=PHASE_COLOURS[p["phase"]], alpha=0.5,
                       lw=0, label=p["phase"] if ax is ax1 else None)
    for counted, colour, label in ((True, "#08519c", "counted"),
                                   (False, "#bdbdbd", "not counted (< half the time)")):
        ss = [s for s in rep["sessions"] if s["counted"] is counted]
        if ss:
            ax1.bar([datetime.fromisoformat(s["start"]) for s in ss],
                    [s["dose_ma_min"] for s in ss], width=0.6, color=colour, label=label)
    ax1.set_ylabel("dose (mA*min)")
    ax1.legend(loc="upper right", fontsize=8)
    ax2.bar([date.fromisoformat(w["from"]) + timedelta(days=3.5) for w in weeks],
            [w["counted"] for w in weeks], width=5, color="#08519c", label="counted sessions")
    ax2.step([date.fromisoformat(w["from"]) for w in weeks] + [end],
             [w["asked"] for w in weeks] + [weeks[-1]["asked"]], where="post", color="k",
             label="the plan's")
    ax2.set_ylabel("sessions a week")
    ax2.legend(loc="upper right", fontsize=8)
    if rep["hdss"]:
        ax3.plot([date.fromisoformat(h["date"]) for h in rep["hdss"]],
                 [h["score"] for h in rep["hdss"]], "o-", color="#a50f15")
    ax3.set_ylim(0.5, 4.5)
    ax3.set_yticks([1, 2, 3, 4])
    ax3.set_ylabel("HDSS (1 best)")
    ax3.set_xlim(start, end)
    adh = "-" if rep["adherence"] is None else f"{rep['adherence'] * 100:.0f} %"
    fig.suptitle(f"{rep['profile']}: course from {rep['start']} to {rep['as_of']}; "
                 f"adherence {adh}; next due {rep['next_due'] or '-'}")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_frames(frames, out: Path, *, title: str = "", columns: int = 5) -> None:
    """A strip of the display's glass, one image a state (``(t_s, state, rows)``, rows of
    128 pixels, 1 lit), each named by its time and state; lit pixels as the OLED's light on
    its dark glass."""
    n = max(1, len(frames))
    cols = min(columns, n)
    lines = (n + cols - 1) // cols
    fig, axes = plt.subplots(lines, cols, figsize=(2.6 * cols, 1.6 * lines + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (t, state, rows) in zip(axes.flat, frames, strict=False):
        ax.imshow(rows, cmap="Blues_r", vmin=0, vmax=1.4, interpolation="nearest")
        ax.set_title(f"{t:.1f} s {state}", fontsize=8)
    if not frames:
        axes.flat[0].text(0.5, 0.5, "no frames", ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
