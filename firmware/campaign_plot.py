"""``campaign.png``: the distribution of each safety margin over a campaign's runs, with the
runs closest to their bound named (headless, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .campaign import CLOSEST, margins, random_scenario  # noqa: E402

#: the panels: the margin, its title, the unit of the figure drawn, and whether the figure is
#: drawn as the value less its bound (in the property's unit) or as a fraction of its bound
PANELS = (
    ("peak_ma", "peak true current less its bound", "mA", "diff"),
    ("max_step_ma", "worst rise of the current in 100 ms (bound 0.5 mA)", "mA", "value"),
    ("density_over_s", "longest time above the density bound (bound 0.2 s)", "s", "value"),
    ("fault_deadline_ms", "fault: time to a safe current, share of its deadline", "", "ratio"),
)


def _figure(kind: str, value: float, bound: float) -> float:
    return {"diff": value - bound, "value": value, "ratio": value / bound}[kind]


def plot_campaign(header: dict, done: dict[int, dict], path: Path) -> Path:
    seed, profile = header["seed"], header["profile"]
    rows: dict[str, list[tuple[float, int, float, float]]] = {p[0]: [] for p in PANELS}
    reaction = []
    crashed = 0
    for index in sorted(done):
        s = done[index]["summary"]
        if s is None:
            crashed += 1
            continue
        for name, (value, bound) in margins(random_scenario(seed, index, profile), s).items():
            if name in rows:
                rows[name].append((value / bound, index, value, bound))
            elif name == "fault_reaction_ms":
                reaction.append(value / bound)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    for ax, (name, title, unit, kind) in zip(axes.flat, PANELS, strict=True):
        data = rows[name]
        ax.set_title(title, fontsize=10)
        limit = {"diff": 0.0, "value": None, "ratio": 1.0}[kind]
        if kind == "value":
            limit = 0.5 if name == "max_step_ma" else 0.2
        figures = [_figure(kind, v, b) for _, _, v, b in data]
        if figures:
            lo, hi = min(figures + [limit]), max(figures + [limit])
            pad = (hi - lo) * 0.05 or 0.05
            bins = [lo - pad + i * (hi - lo + 2 * pad) / 40 for i in range(41)]
            ax.hist(figures, bins=bins, color="#4575b4", label=f"{len(figures)} runs")
            if name == "fault_deadline_ms" and reaction:
                ax.hist(reaction, bins=bins, color="#fdae61", alpha=0.7,
                        label=f"after detection, share of 20 ms ({len(reaction)})")
        ax.axvline(limit, color="#d73027", lw=1.5, label="bound: above it, a violation")
        ax.set_yscale("log")
        ax.set_ylabel("runs")
        ax.set_xlabel(unit or "share of the deadline")
        worst = sorted(data, key=lambda r: (-r[0], r[1]))[:CLOSEST]
        if worst:
            text = "closest to the bound:\n" + "\n".join(
                f"run {i}: {v:.3g}{' ' + unit if unit else ''} (bound {b:.3g})"
                for _, i, v, b in worst)
            ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", fontsize=8,
                    family="monospace", bbox={"facecolor": "white", "alpha": 0.85, "lw": 0})
        else:
            ax.text(0.5, 0.5, "no run it applies to", transform=ax.transAxes, ha="center")
        ax.legend(loc="upper right", fontsize=8)
    what = f"{len(done)} {profile} runs of seed {seed}" + (f", {crashed} crashed" if crashed
                                                           else "")
    fig.suptitle(f"Campaign: {what}; each property's figure per run against its bound")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
