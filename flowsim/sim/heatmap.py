"""A sweep as a picture: where in (workers x slots) the deployment is fast, slow or stuck.

Deadlocked cells are hatched, crossed and left out of the colour scale: their makespan
only says how soon the stuck parents failed, and colouring it would make a deadlock look
like the fastest configuration. The cheapest safe cell of each panel is outlined, because
that is the answer the sweep was run for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from flowsim.sim.sweep import SweepPoint, by_load, smallest_safe

#: cells beyond this many per panel get no makespan text (it would not fit)
_LABEL_LIMIT = 120


def render_heatmap(points: Sequence[SweepPoint], path: Path, title: str = "") -> Path:
    """Draw one panel per load (slots on x, workers on y, colour = makespan) into a PNG.

    Uses a bare ``Figure`` on the Agg canvas, never pyplot: no display is needed and no
    global backend state is touched in the caller's process.
    """
    if not points:
        raise ValueError("render_heatmap: no sweep points to draw")
    groups = by_load(points)
    norm = _shared_norm(points)
    figure = Figure(figsize=(1.5 + 4.5 * len(groups), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(groups), squeeze=False)[0]
    images = [
        _panel(ax, load, group, norm)
        for ax, (load, group) in zip(axes, groups.items(), strict=True)
    ]
    if any(not point.deadlock for point in points):
        figure.colorbar(images[0], ax=list(axes), label="makespan (virtual seconds)")
    legend = "X = deadlock, outlined = smallest safe configuration"
    figure.suptitle(f"{title}: {legend}" if title else legend, fontsize=10)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def _shared_norm(points: Sequence[SweepPoint]) -> Normalize:
    """One colour scale for every panel, so a colour means the same makespan at any load."""
    values = [p.makespan for p in points if not p.deadlock and math.isfinite(p.makespan)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    return Normalize(vmin=low, vmax=high if high > low else low + 1.0)


def _panel(ax: Axes, load: float, group: list[SweepPoint], norm: Normalize) -> AxesImage:
    slots = sorted({p.slots for p in group})
    workers = sorted({p.workers for p in group})
    grid = np.full((len(workers), len(slots)), np.nan)
    for point in group:
        if not point.deadlock:
            grid[workers.index(point.workers), slots.index(point.slots)] = point.makespan
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        origin="lower",
        aspect="auto",
        cmap=_cmap(),
        norm=norm,
        interpolation="nearest",
    )
    label = len(group) <= _LABEL_LIMIT
    for point in group:
        x, y = slots.index(point.slots), workers.index(point.workers)
        if point.deadlock:
            ax.add_patch(
                Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="///", lw=0, ec="0.35")
            )
            ax.text(x, y, "X", ha="center", va="center", fontsize=16, weight="bold")
        elif label:
            text = f"{point.makespan:.3g}s" + ("" if point.safe else "\nchecks fail")
            ax.text(x, y, text, ha="center", va="center", fontsize=8, color=_ink(norm, point))
    best = smallest_safe(group)
    if best is not None:
        x, y = slots.index(best.slots), workers.index(best.workers)
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, lw=2.5, ec="crimson"))
    ax.set_xticks(range(len(slots)), [str(s) for s in slots])
    ax.set_yticks(range(len(workers)), [str(w) for w in workers])
    ax.set_xlabel("slots per worker")
    ax.set_ylabel("workers")
    ax.set_title(f"load x{load:g}")
    return image


def _cmap() -> Colormap:
    return colormaps["viridis"].with_extremes(bad="0.88")


def _ink(norm: Normalize, point: SweepPoint) -> str:
    """Light text on the dark end of viridis, dark text on the light end."""
    return "white" if float(norm(point.makespan)) < 0.6 else "black"
