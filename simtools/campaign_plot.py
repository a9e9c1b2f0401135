"""``campaign.png``: the distribution of each safety margin over a campaign's runs, with the
runs closest to their bound named (headless, matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .campaign import CLOSEST, REACT_MS, closeness, margins, random_scenario  # noqa: E402

#: the panels: the margin, its title, the unit of the figure drawn, and whether the figure is
#: drawn as the value less its bound (in the property's unit) or as a fraction of its bound
PANELS = (
    ("peak_ma", "peak true current less its bound (limit + 0.3 mA; 31 mA under a fault)", "mA",
     "diff"),
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
                rows[name].append((closeness(name, value, bound), index, value, bound))
            elif name == "fault_reaction_ms":
                reaction.append((value / bound, index, value, bound))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    for ax, (name, title, unit, kind) in zip(axes.flat, PANELS, strict=True):
        data = rows[name]
        ax.set_title(title, fontsize=10)
        limit = {"diff": 0.0, "value": None, "ratio": 1.0}[kind]
        if kind == "value":
            limit = 0.5 if name == "max_step_ma" else 0.2
        figures = [_figure(kind, v, b) for _, _, v, b in data]
        extra = [r[0] for r in reaction] if name == "fault_deadline_ms" else []
        tallest = 0
        if figures or extra:
            lo, hi = min(figures + extra + [limit]), max(figures + extra + [limit])
            pad = (hi - lo) * 0.05 or 0.05
            bins = [lo - pad + i * (hi - lo + 2 * pad) / 40 for i in range(41)]
            if figures:
                counts, _, _ = ax.hist(figures, bins=bins, color="#4575b4",
                                       label=f"{len(figures)} runs" if not extra else
                                       f"from the fault's action, share of its deadline "
                                       f"({len(figures)} runs)")
                tallest = max(counts)
            if extra:
                counts, _, _ = ax.hist(extra, bins=bins, color="#fdae61", alpha=0.7,
                                       label=f"from its detection, share of {REACT_MS} ms "
                                       f"({len(extra)} runs)")
                tallest = max(tallest, max(counts))
        if tallest > 30:                 # a few runs far out stay visible beside thousands
            ax.set_yscale("log")
        else:
            ax.yaxis.get_major_locator().set_params(integer=True)
        ax.axvline(limit, color="#d73027", lw=1.5, label="bound: above it, a violation")
        ax.set_ylabel("runs")
        ax.set_xlabel(unit or "share of the deadline")
        rows_named = [(*r, "") for r in data]
        if name == "fault_deadline_ms":
            rows_named += [(*r, ", from detection") for r in reaction]
        worst = sorted(rows_named, key=lambda r: (-r[0], r[1]))[:CLOSEST]
        if worst:
            shown = unit or "ms"
            text = "closest to the bound:\n" + "\n".join(
                f"run {i}: {v:.3g} {shown} (bound {b:.3g}){tag}" for _, i, v, b, tag in worst)
            ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", fontsize=8,
                    family="monospace", bbox={"facecolor": "white", "alpha": 0.85, "lw": 0})
        else:
            ax.text(0.5, 0.5, "no run it applies to", transform=ax.transAxes, ha="center")
        ax.legend(loc="lower right" if name == "fault_deadline_ms" else "upper right",
                  fontsize=8)
    what = f"{len(done)} {profile} runs of seed {seed}" + (f", {crashed} crashed" if crashed
                                                           else "")
    fig.suptitle(f"Campaign: {what}; each property's figure per run against its bound")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
