"""The benchmark's picture: each measure side by side at the smallest size, and how loading scales.

Why a picture: ratios of 10x and more do not read well in a table of seconds; bars on a log scale show
at a glance which tool waits for what.  matplotlib is a benchmark-only dependency (the ``bench`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compare import Results

COLOURS = {"tidegate": "#1f77b4", "dbt-core": "#ff7f0e", "SQLMesh": "#2ca02c"}


def plot(results: Results, path: Path) -> bool:
    """Write the PNG; False (and no file) when there is nothing to draw or matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return False
    from compare import MEASURES

    if not results.sizes:
        return False
    smallest = results.sizes[0]
    measures = [m for m in MEASURES if any(results.best(smallest, p, m.key) for p in results.peers)]
    figure, (bars, scaling) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(results.peers)
    for index, peer in enumerate(results.peers):
        positions, heights = [], []
        for position, measure in enumerate(measures):
            best = results.best(smallest, peer, measure.key)
            if best is not None:
                positions.append(position + (index - (len(results.peers) - 1) / 2) * width)
                heights.append(best.seconds)
        drawn = bars.bar(positions, heights, width, label=peer, color=COLOURS.get(peer))
        bars.bar_label(drawn, labels=[f"{h:.2g}" for h in heights], fontsize=7, padding=1)
    bars.set_yscale("log")
    bars.yaxis.set_major_formatter(ticker.FuncFormatter(_seconds))
    bars.yaxis.set_minor_formatter(ticker.NullFormatter())
    bars.set_xticks(range(len(measures)), [m.short for m in measures], fontsize=8)
    bars.set_ylabel("seconds (log scale, lower is better)")
    bars.set_title(f"{smallest:,} models, best of the runs")
    bars.legend()
    for peer in results.peers:
        for key, style in (("load_cold", "-"), ("load_warm", ":")):
            points = [(n, results.best(n, peer, key)) for n in results.sizes]
            shown = [(n, s.seconds) for n, s in points if s is not None]
            if shown:
                xs, ys = zip(*shown, strict=True)
                label = f"{peer}, {'cold' if key == 'load_cold' else 'warm'}"
                scaling.plot(xs, ys, style, marker="o", color=COLOURS.get(peer), label=label)
    scaling.set_xscale("log")
    scaling.set_yscale("log")
    scaling.yaxis.set_major_formatter(ticker.FuncFormatter(_seconds))
    scaling.yaxis.set_minor_formatter(ticker.NullFormatter())
    scaling.xaxis.set_minor_formatter(ticker.NullFormatter())
    scaling.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
    scaling.set_xlabel("models")
    scaling.set_ylabel("seconds to load the project")
    scaling.set_title("Loading as projects grow")
    scaling.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _seconds(value: float, _position: object) -> str:
    return f"{value:g} s"
