"""Pictures of a simulation: who held which slot when, and why a deadlock could not clear.

A slot deadlock is easiest to believe when you see it: a Gantt chart of every worker's
slots shows the parents sitting on them while their children queue, and the wait-for graph
shows the loop (parent holds slot, waits for child, child needs that slot). Both are drawn
from the records a simulation leaves behind, with matplotlib's Agg backend, so they work
on a CI runner with no display. Figures are built with the object-oriented API on an Agg
canvas, never through pyplot, so drawing one changes nothing in the caller's matplotlib
state (a notebook keeps its backend).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import networkx as nx
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from flowsim.engine.deadlock import BlockedRun, DeadlockReport, SlotHolder, _instant
from flowsim.sim.results import AttemptRecord, SimulationResult, WorkerRecord

__all__ = ["render_deadlock", "render_gantt"]

#: lanes drawn per worker and pool; a 1,000-slot pool would be a wall of thin lines
MAX_LANES = 64
#: bars narrower than this share of the time axis still show up as a sliver
MIN_BAR_SHARE = 0.0015
#: bar labels are text artists, one each: past this many the chart is unreadable anyway
MAX_BAR_LABELS = 300
#: waited-for runs with the same waiter, target and workflow are drawn as one node from here
COLLAPSE_AT = 4
#: past this many edges their labels overlap; the legend says what the edges mean
MAX_EDGE_LABELS = 16
POOLS = ("default", "durable")

FAILED_EDGE = "#d62728"
LOST_EDGE = "#222222"
DEADLOCK_COLOUR = "red"


# ----------------------------------------------------------------------------- lanes


def _assign_lanes(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """Interval partitioning: each interval (start, end) gets the lane that frees up
    earliest, or a new lane if none is free at its start. Touching intervals (one ends when
    the next starts) share a lane, as a slot released and claimed at one instant does. The
    number of lanes is the greatest number of intervals open at once, so a worker's lanes
    never outnumber the slots the engine let it use."""
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1], i))
    lanes = [0] * len(intervals)
    free: list[tuple[float, int]] = []
    opened = 0
    for index in order:
        start, end = intervals[index]
        if free and free[0][0] <= start:
            _, lane = heapq.heappop(free)
        else:
            lane = opened
            opened += 1
        lanes[index] = lane
        heapq.heappush(free, (max(start, end), lane))
    return lanes


# ----------------------------------------------------------------------------- Gantt chart


@dataclass
class _Bar:
    start: float
    end: float
    workflow: str
    task: str
    outcome: str


@dataclass
class _Group:
    """The lanes of one worker's pool: the rows of the chart it owns."""

    worker: str
    pool: str
    slots: int
    bars: list[tuple[int, _Bar]] = field(default_factory=list)
    used: int = 0
    drawn: int = 0
    first_row: float = 0.0

    @property
    def hidden(self) -> int:
        return sum(1 for lane, _ in self.bars if lane >= self.drawn)


def _attempt_end(
    attempt: AttemptRecord, incarnations: Sequence[WorkerRecord], end_time: float
) -> float:
    """Where an attempt's bar stops. A LOST attempt lost its slot when its worker died; the
    engine only noticed when the lease ran out, but by then the slot was gone (a restarted
    worker has fresh ones), so the bar stops at the crash."""
    end = attempt.finished_at if attempt.finished_at is not None else end_time
    if attempt.outcome == "LOST":
        alive = [w for w in incarnations if w.started_at <= attempt.started_at]
        stopped = alive[-1].stopped_at if alive else None
        if stopped is not None and stopped >= attempt.started_at:
            end = min(end, stopped)
    return end


def _groups(result: SimulationResult) -> list[_Group]:
    incarnations: dict[str, list[WorkerRecord]] = defaultdict(list)
    for worker in sorted(result.workers, key=lambda w: w.started_at):
        incarnations[worker.name].append(worker)
    by_key: dict[tuple[str, str], list[_Bar]] = defaultdict(list)
    for attempt in result.attempts:
        end = _attempt_end(attempt, incarnations.get(attempt.worker, []), result.end_time)
        by_key[attempt.worker, attempt.pool].append(
            _Bar(attempt.started_at, end, attempt.workflow, attempt.task, attempt.outcome)
        )
    names = list(dict.fromkeys([w.name for w in result.workers] + [k[0] for k in by_key]))
    groups: list[_Group] = []
    for name in names:
        spec = incarnations[name][0] if incarnations.get(name) else None
        own: list[_Group] = []
        for pool in POOLS:
            bars = by_key.get((name, pool), [])
            slots = 0 if spec is None else (spec.slots if pool == "default" else spec.durable_slots)
            group = _Group(name, pool, slots)
            lanes = _assign_lanes([(bar.start, bar.end) for bar in bars])
            group.bars = list(zip(lanes, bars, strict=True))
            group.used = max(lanes, default=-1) + 1
            if not bars and pool == "durable":
                continue  # every worker has 1,000 durable slots; show them only when used
            # a pool that fits shows every slot, idle ones included; a bigger one its busy lanes
            wanted = max(slots, group.used) if slots <= MAX_LANES else group.used
            group.drawn = min(wanted, MAX_LANES)
            if group.drawn:
                own.append(group)
        if not own:  # an idle worker still gets a row, so it is visibly there
            own.append(_Group(name, "default", spec.slots if spec else 0, drawn=1))
        groups.extend(own)
    return groups


def _colours(workflows: Iterable[str]) -> dict[str, Any]:
    names = list(dict.fromkeys(workflows))
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(index % cmap.N) for index, name in enumerate(names)}


def render_gantt(result: SimulationResult, path: Path) -> Path:
    """Every worker's slots over virtual time, one lane per slot: bars are attempts
    coloured by workflow (a parent waiting for children is just a long bar, because it
    holds its slot all along), failed attempts hatched with a red edge, attempts lost to a
    crashed worker cross-hatched; red lines mark slot deadlocks, dashed ones worker stops."""
    path = Path(path)
    groups = _groups(result)
    horizon = max(
        [result.end_time, 1e-9]
        + [bar.end for g in groups for _, bar in g.bars]
        + [report.at for report in result.deadlocks]
        + [w.stopped_at for w in result.workers if w.stopped_at is not None]
    )
    rows = sum(g.drawn for g in groups) + 0.6 * (len(groups) - 1)
    fig = Figure(figsize=(12, min(30.0, max(2.8, 1.4 + 0.24 * rows))), dpi=100)
    ax = fig.add_subplot()
    colours = _colours(bar.workflow for g in groups for _, bar in g.bars)

    ticks: list[float] = []
    tick_labels: list[str] = []
    row = 0.0
    for index, group in enumerate(groups):
        if index:
            row += 0.6
            ax.axhline(row - 0.8, color="#bbbbbb", linewidth=0.6)
        group.first_row = row
        word = "slot" if group.pool == "default" else "durable slot"
        for lane in range(group.drawn):
            ticks.append(row + lane)
            tick_labels.append(f"{group.worker} {word} {lane + 1}")
        row += group.drawn
    _draw_bars(ax, groups, colours, horizon)
    _label_bars(fig, ax, groups, horizon)
    handles: list[Any] = [Patch(facecolor=colour, label=name) for name, colour in colours.items()]
    handles += _draw_outcome_keys(groups, horizon)
    handles += _draw_worker_stops(ax, result, groups, horizon)
    handles += _draw_deadlocks(ax, result)

    ax.set_xlim(0, horizon * 1.02)
    ax.set_ylim(row - 0.4, -0.6)
    size = 8 if len(ticks) <= 40 else 6 if len(ticks) <= 80 else 4
    ax.set_yticks(ticks, tick_labels, fontsize=size)
    ax.set_xlabel("virtual time (s)")
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(f"{result.scenario.title}: worker slots over virtual time (seed {result.seed})")
    notes = [
        f"{g.worker} {g.pool}: {g.used} lanes busy, {g.drawn} drawn "
        f"({g.hidden} attempts in lanes {g.drawn + 1}-{g.used} not shown)"
        for g in groups
        if g.used > g.drawn
    ]
    if notes:
        ax.annotate(
            "\n".join(notes),
            xy=(0, 0),
            xycoords="axes fraction",
            xytext=(0, -42),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color="#444444",
        )
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _save(fig, path)


def _draw_bars(ax: Axes, groups: Sequence[_Group], colours: dict[str, Any], horizon: float) -> None:
    """One ``broken_barh`` per lane, workflow and outcome, so a 1,000-child fan-out is a
    few dozen collections, not a thousand patches."""
    minimum = horizon * MIN_BAR_SHARE
    spans: dict[tuple[float, str, str], list[tuple[float, float]]] = defaultdict(list)
    instant_failures: list[tuple[float, float]] = []
    for group in groups:
        for lane, bar in group.bars:
            if lane < group.drawn:
                style = bar.outcome if bar.outcome in ("FAILED", "LOST") else "ok"
                width = max(bar.end - bar.start, minimum)
                spans[group.first_row + lane, bar.workflow, style].append((bar.start, width))
                if style != "ok" and bar.end - bar.start < 3 * minimum:
                    instant_failures.append((bar.start, group.first_row + lane))
    if instant_failures:  # a parent failed by a deadlock at once is a bar too thin to hatch
        xs, ys = zip(*instant_failures, strict=True)
        ax.scatter(xs, ys, marker="x", color=FAILED_EDGE, s=30, linewidths=1.5, zorder=7)
    for (y, workflow, style), xranges in spans.items():
        edge, hatch, width = {
            "ok": ("white", None, 0.4),
            "FAILED": (FAILED_EDGE, "////", 1.2),
            "LOST": (LOST_EDGE, "xxx", 1.0),
        }[style]
        ax.broken_barh(
            xranges,
            (y - 0.4, 0.8),
            facecolors=colours[workflow],
            edgecolors=edge,
            linewidth=width,
            hatch=hatch,
        )


def _label_bars(fig: Figure, ax: Axes, groups: Sequence[_Group], horizon: float) -> None:
    """Task names on bars wide enough to hold them (estimated from the axes' width)."""
    axes_inches = fig.get_figwidth() * 0.62
    per_second = axes_inches * 72 / (horizon * 1.02)  # points per virtual second
    placed = 0
    for group in groups:
        for lane, bar in group.bars:
            if lane >= group.drawn or placed >= MAX_BAR_LABELS:
                continue
            if (bar.end - bar.start) * per_second < len(bar.task) * 7 * 0.62 + 6:
                continue
            ax.text(
                (bar.start + bar.end) / 2,
                group.first_row + lane,
                bar.task,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if bar.outcome != "LOST" else "black",
                clip_on=True,
            )
            placed += 1


def _draw_outcome_keys(groups: Sequence[_Group], horizon: float) -> list[Any]:
    outcomes = {bar.outcome for g in groups for _, bar in g.bars}
    keys: list[Any] = []
    if "FAILED" in outcomes:
        keys.append(
            Patch(facecolor="#dddddd", edgecolor=FAILED_EDGE, hatch="////", label="failed attempt")
        )
    if any(
        bar.outcome in ("FAILED", "LOST") and bar.end - bar.start < 3 * horizon * MIN_BAR_SHARE
        for g in groups
        for _, bar in g.bars
    ):
        keys.append(
            Line2D(
                [], [], color=FAILED_EDGE, marker="x", linestyle="", label="ended almost at once"
            )
        )
    if "LOST" in outcomes:
        keys.append(
            Patch(
                facecolor="#dddddd",
                edgecolor=LOST_EDGE,
                hatch="xxx",
                label="lost: its worker stopped\n(run re-queued after the lease)",
            )
        )
    return keys


def _draw_worker_stops(
    ax: Axes, result: SimulationResult, groups: Sequence[_Group], horizon: float
) -> list[Any]:
    """A dashed line where a worker died, and grey where it was down (until its restart)."""
    rows: dict[str, tuple[float, float]] = {}
    for group in groups:
        top, bottom = rows.get(group.worker, (group.first_row, group.first_row))
        rows[group.worker] = (min(top, group.first_row), max(bottom, group.first_row + group.drawn))
    incarnations: dict[str, list[WorkerRecord]] = defaultdict(list)
    for worker in sorted(result.workers, key=lambda w: w.started_at):
        incarnations[worker.name].append(worker)
    stopped = False
    for name, lives in incarnations.items():
        top, bottom = rows.get(name, (0.0, 0.0))
        for index, life in enumerate(lives):
            if life.stopped_at is None:
                continue
            stopped = True
            later = [w.started_at for w in lives[index + 1 :] if w.started_at >= life.stopped_at]
            back = later[0] if later else horizon * 1.02
            ax.broken_barh(
                [(life.stopped_at, back - life.stopped_at)],
                (top - 0.5, bottom - top),
                facecolors="#999999",
                alpha=0.25,
                zorder=0,
            )
            ax.vlines(life.stopped_at, top - 0.5, bottom - 0.5, colors="black", linestyles="--")
            ax.text(
                life.stopped_at,
                top - 0.45,
                f" {name} stopped t={life.stopped_at:g}s",
                fontsize=7,
                va="top",
                ha="left",
            )
    if not stopped:
        return []
    return [
        Line2D([], [], color="black", linestyle="--", label="worker stopped (crash)"),
        Patch(facecolor="#999999", alpha=0.25, label="worker down"),
    ]


def _draw_deadlocks(ax: Axes, result: SimulationResult) -> list[Any]:
    instants = sorted({report.at for report in result.deadlocks})
    for index, at in enumerate(instants):
        ax.axvline(at, color=DEADLOCK_COLOUR, linewidth=1.6, zorder=5)
        if index < 8:
            ax.annotate(
                f"slot deadlock\nt={at:g}s",
                xy=(at, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, -4 - 24 * index),
                textcoords="offset points",
                va="top",
                fontsize=8,
                color=DEADLOCK_COLOUR,
                fontweight="bold",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
                zorder=6,
            )
    if not instants:
        return []
    return [Line2D([], [], color=DEADLOCK_COLOUR, linewidth=1.6, label="slot deadlock")]


# ----------------------------------------------------------------------------- wait-for graph


@dataclass
class _Node:
    kind: str  # holder, run, pool
    label: str
    members: tuple[str, ...]


def _task_name(workflow: str, task: str) -> str:
    """A standalone task's workflow has the task's name: say it once."""
    return task if task == workflow else f"{workflow}/{task}"


def _short(run_id: str) -> str:
    return f"…{run_id[-6:]}"


def _wait_for_graph(report: DeadlockReport) -> tuple[nx.DiGraph[str], dict[str, str]]:
    """``report.graph()`` made readable: an awaited run that is itself running is drawn as
    the task holding its slot, runs that share waiter, target and workflow are drawn as one
    node once there are ``COLLAPSE_AT`` of them, and blocked runs no worker registers (which
    have no edges, so the report's graph leaves them out) are drawn too. Returns the graph
    and, for every node of the report's graph and every blocked run, the node standing for
    it."""
    source = report.graph()
    blocked = {f"run:{b.workflow_run_id}": b for b in report.blocked}
    nodes = list(source.nodes) + [node for node in blocked if node not in source]
    alias: dict[str, str] = {node: node for node in nodes}
    holders_of: dict[str, list[str]] = defaultdict(list)
    for holder in report.holders:
        holders_of[f"run:{holder.workflow_run_id}"].append(f"task:{holder.task_run_id}")
    for node in source.nodes:
        if node.startswith("run:") and node in holders_of and source.out_degree(node) == 0:
            alias[node] = holders_of[node][0]
    # group runs by what they are and what they connect, to collapse long fan-outs
    groups: dict[tuple[str, frozenset[str], frozenset[str]], list[str]] = defaultdict(list)
    for node in nodes:
        if node.startswith("run:") and alias[node] == node:
            workflow = blocked[node].workflow if node in blocked else report.names.get(node, "")
            linked = node in source
            preds = frozenset(alias[p] for p in source.predecessors(node)) if linked else None
            succs = frozenset(alias[s] for s in source.successors(node)) if linked else None
            groups[workflow, preds or frozenset(), succs or frozenset()].append(node)
    for members in groups.values():
        if len(members) >= COLLAPSE_AT:
            for member in members:
                alias[member] = f"runs:{members[0]}"
    graph: nx.DiGraph[str] = nx.DiGraph()
    for node in nodes:
        graph.add_node(alias[node])
    for u, v, data in source.edges(data=True):
        a, b = alias[u], alias[v]
        if a != b and not graph.has_edge(a, b):
            graph.add_edge(a, b, label=data.get("label", ""))
    return graph, alias


def _node_info(
    report: DeadlockReport, graph: nx.DiGraph[str], alias: dict[str, str]
) -> dict[str, _Node]:
    holders: dict[str, SlotHolder] = {f"task:{h.task_run_id}": h for h in report.holders}
    blocked: dict[str, BlockedRun] = {f"run:{b.workflow_run_id}": b for b in report.blocked}
    pools = {f"pool:{p.worker}/{p.pool}": p for p in report.pools}
    members: dict[str, list[str]] = defaultdict(list)
    for original, drawn in alias.items():
        members[drawn].append(original)
    info: dict[str, _Node] = {}
    for node in graph.nodes:
        if node in holders:
            h = holders[node]
            label = (
                f"{_task_name(h.workflow, h.task)}\nrun {_short(h.workflow_run_id)}\n"
                f"holds {h.worker} {h.pool} slot {h.slot}"
            )
            info[node] = _Node("holder", label, (node,))
        elif node.startswith("pool:"):
            worker, pool = node[len("pool:") :].rsplit("/", 1)
            state = pools.get(node)
            detail = (
                f"\n{state.capacity} {pool} slots, {state.held_by_waiting} held by waiting runs"
                if state is not None
                else f"\n{pool} slots"
            )
            info[node] = _Node("pool", f"worker {worker}{detail}", (node,))
        else:
            runs = sorted(m for m in members[node] if m.startswith("run:"))
            first = blocked.get(runs[0]) if runs else None
            workflow = first.workflow if first else report.names.get(node, node).split(" run ")[0]
            status = "QUEUED" if first is not None else "waiting"
            if first is not None and not first.candidates:
                status = "QUEUED, no worker registers it"
            if len(runs) > 1:
                label = f"{workflow}\n{len(runs)} runs, {status}"
            else:
                label = f"{workflow}\nrun {_short(runs[0] if runs else node)}\n{status}"
            info[node] = _Node("run", label, tuple(runs))
    return info


def _columns(graph: nx.DiGraph[str], info: dict[str, _Node]) -> dict[str, int]:
    """Layers, left to right: holders nobody waits for, holders their parents wait for (and
    so on), the runs that cannot start, the worker pools they need."""
    depth: dict[str, int] = {n: 0 for n, d in info.items() if d.kind == "holder"}
    for _ in range(len(depth)):  # longest path; bounded, should a report ever hold a loop
        deeper = {
            node: max((depth[p] + 1 for p in graph.predecessors(node) if p in depth), default=0)
            for node in depth
        }
        if deeper == depth:
            break
        depth = deeper
    runs_at = max(depth.values(), default=-1) + 1
    return {
        node: depth[node] if data.kind == "holder" else runs_at + (data.kind == "pool")
        for node, data in info.items()
    }


def _layout(graph: nx.DiGraph[str], info: dict[str, _Node]) -> dict[str, tuple[float, float]]:
    """Deterministic, column by column from the left: the first sorted by label, each next
    one by where its nodes' predecessors sit (so edges cross less), spread evenly around the
    middle."""
    columns = _columns(graph, info)
    by_column: dict[int, list[str]] = defaultdict(list)
    for node, column in columns.items():
        by_column[column].append(node)
    pos: dict[str, tuple[float, float]] = {}
    for column in sorted(by_column):
        nodes = by_column[column]

        def rank(node: str) -> tuple[float, str, str]:
            placed = [-pos[p][1] for p in graph.predecessors(node) if p in pos]
            return (sum(placed) / len(placed) if placed else 0.0, info[node].label, node)

        nodes.sort(key=rank)
        for index, node in enumerate(nodes):
            pos[node] = (float(column), (len(nodes) - 1) / 2 - index)
    return pos


NODE_STYLE = {
    "holder": {"boxstyle": "square,pad=0.45", "facecolor": "#c6dbef", "edgecolor": "#2c5f8a"},
    "run": {"boxstyle": "ellipse,pad=0.35", "facecolor": "#fff3bf", "edgecolor": "#9c7c00"},
    "pool": {"boxstyle": "round,pad=0.45", "facecolor": "#fdd0a2", "edgecolor": "#b35806"},
}
NODE_KEYS = {
    "holder": "task holding a slot while it waits",
    "run": "waited-for run that cannot start",
    "pool": "worker slot pool",
}


def _cycle_edges(report: DeadlockReport, alias: dict[str, str]) -> set[tuple[str, str]]:
    """The loop the report prints: found the same way, on the same graph."""
    try:
        edges = nx.find_cycle(report.graph())
    except nx.NetworkXNoCycle:
        return set()
    return {(alias[edge[0]], alias[edge[1]]) for edge in edges}


def render_deadlock(report: DeadlockReport, path: Path) -> Path:
    """The wait-for graph of a deadlock: tasks holding slots (boxes) wait for runs
    (ellipses) that need a slot in a worker pool (orange) whose slots those same tasks
    hold. The cycle the report prints is drawn in red."""
    path = Path(path)
    graph, alias = _wait_for_graph(report)
    info = _node_info(report, graph, alias)
    pos = _layout(graph, info)
    columns = 1 + max((int(x) for x, _ in pos.values()), default=0)
    tallest = max((sum(1 for p in pos.values() if p[0] == c) for c in range(columns)), default=1)
    fig = Figure(
        figsize=(max(7.0, 3.6 * columns + 1), min(24.0, max(3.6, 0.95 * tallest + 1.6))), dpi=100
    )
    ax = fig.add_subplot()
    ax.set_axis_off()
    texts: dict[str, Text] = {}
    for kind, style in NODE_STYLE.items():
        nodes = [n for n in graph.nodes if info[n].kind == kind]
        if nodes:
            drawn = nx.draw_networkx_labels(
                graph,
                pos,
                labels={n: info[n].label for n in nodes},
                font_size=8,
                bbox=dict(style),
                ax=ax,
            )
            texts.update(drawn)
    for text in texts.values():
        text.set_zorder(3)
    cycle = _cycle_edges(report, alias)
    back: dict[tuple[str, str], str] = {}
    forward: dict[tuple[str, str], str] = {}
    for u, v, data in graph.edges(data=True):
        (back if pos[v][0] <= pos[u][0] else forward)[u, v] = str(data.get("label", ""))
    for edges, connection in ((forward, "arc3,rad=0.0"), (back, "arc3,rad=0.4")):
        for u, v in edges:
            red = (u, v) in cycle
            ax.annotate(
                "",
                xy=pos[v],
                xytext=pos[u],
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": DEADLOCK_COLOUR
                    if red
                    else "#777777"
                    if edges is forward
                    else "#aaaaaa",
                    "linewidth": 2.2 if red else 0.9 if edges is forward else 0.7,
                    "connectionstyle": connection,
                    "patchA": texts[u].get_bbox_patch(),
                    "patchB": texts[v].get_bbox_patch(),
                    "shrinkA": 2,
                    "shrinkB": 2,
                },
                zorder=5 if red else 4,  # above the boxes, which clip it at their border
            )
        if 0 < len(graph.edges) <= MAX_EDGE_LABELS:
            edge_texts = nx.draw_networkx_edge_labels(
                graph,
                pos,
                edge_labels=edges,
                font_size=7,
                connectionstyle=connection,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5},
                ax=ax,
            )
            for text in edge_texts.values():
                text.set_zorder(6)
    xs = [x for x, _ in pos.values()] or [0.0]
    ys = [y for _, y in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.9, max(ys) + 0.9)
    if not graph.nodes:
        ax.text(0, 0, "nothing to draw: see the report's text", ha="center")
    kinds = {data.kind for data in info.values()}
    handles: list[Any] = [
        Patch(facecolor=NODE_STYLE[k]["facecolor"], edgecolor=NODE_STYLE[k]["edgecolor"], label=v)
        for k, v in NODE_KEYS.items()
        if k in kinds
    ]
    if graph.edges:
        handles.append(
            Line2D(
                [],
                [],
                color="#777777",
                linewidth=0.9,
                label="waits for / needs a slot on / held by",
            )
        )
    if cycle:
        handles.append(Line2D([], [], color=DEADLOCK_COLOUR, linewidth=2.2, label="wait-for cycle"))
    if handles:
        ax.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8
        )
    title = (
        f"Slot deadlock at {_instant(report.at)}: {len(report.holders)} task(s) hold slots "
        f"waiting for {len(report.blocked)} run(s) that cannot start"
        if report.holders
        else f"At {_instant(report.at)}, {len(report.blocked)} run(s) can never start: "
        "no running worker registers them"
    )
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path
