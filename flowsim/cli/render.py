"""Rich tables for people reading a simulation or a sweep in a terminal.

Numbers are shown as a person compares them (seconds with a unit, shares as percent);
the exact values are in ``--json`` and ``--csv``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from flowsim.sim.metrics import Stats
from flowsim.sim.results import SimulationResult
from flowsim.sim.sweep import SweepPoint


def seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4g}s"


def percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def header(result: SimulationResult) -> RenderableType:
    scenario = result.scenario
    lines = [Text(scenario.title, style="bold")]
    if scenario.description:
        lines.append(Text(scenario.description, style="dim"))
    where = f"  ({scenario.source})" if scenario.source else ""
    lines.append(Text(f"seed {result.seed}, virtual end time {seconds(result.end_time)}{where}"))
    if result.horizon_reached:
        lines.append(Text(f"horizon of {seconds(scenario.horizon)} reached", style="yellow"))
    if result.stalled:
        lines.append(Text(f"stalled: {result.stalled}", style="red"))
    if result.deduplicated:
        lines.append(Text(f"{result.deduplicated} arrivals started no run: their "
                          "idempotency key was held"))  # fmt: skip
    return Group(*lines)


def metrics_tables(result: SimulationResult) -> RenderableType:
    metrics = result.metrics
    summary = Table(title="metrics", show_header=False, title_justify="left")
    summary.add_column("metric", style="bold")
    summary.add_column("value")
    summary.add_row("makespan", seconds(metrics.makespan))
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(metrics.runs_by_status.items()))
    summary.add_row("runs", statuses or "none")
    summary.add_row(
        "attempts",
        f"{metrics.attempts} ({metrics.failed_attempts} failed, {metrics.retries} retries, "
        f"{metrics.lost_attempts} lost)",
    )
    latency = Table(title="latency per workflow (created to finished)", title_justify="left")
    for column in ("workflow", "finished", "p50", "p95", "p99", "queue wait p99"):
        latency.add_column(column, justify="left" if column == "workflow" else "right")
    for name in sorted(set(metrics.latency) | set(metrics.queue_wait)):
        stats = metrics.latency.get(name)
        wait = metrics.queue_wait.get(name)
        latency.add_row(
            name,
            str(stats.count if stats else 0),
            *_percentiles(stats),
            seconds(wait.p99) if wait else "-",
        )
    use = Table(title="utilisation per worker", title_justify="left")
    for column in ("worker", "slots", "durable slots"):
        use.add_column(column, justify="left" if column == "worker" else "right")
    for name, pools in sorted(metrics.utilisation.items()):
        use.add_row(name, percent(pools.get("default", 0.0)), percent(pools.get("durable", 0.0)))
    return Group(summary, latency, use)


def _percentiles(stats: Stats | None) -> tuple[str, str, str]:
    if stats is None:
        return ("-", "-", "-")
    return (seconds(stats.p50), seconds(stats.p95), seconds(stats.p99))


def checks(result: SimulationResult) -> RenderableType:
    if not result.checks:
        return Text("checks: none asserted", style="dim")
    lines = [Text("checks", style="bold")]
    for check in result.checks:
        mark, style = ("✓", "green") if check.passed else ("✗", "red")
        line = Text(f"  {mark} ", style=style)
        line.append(f"{check.name}: ", style="bold")
        line.append(check.detail)
        lines.append(line)
    return Group(*lines)


def sweep_table(points: Sequence[SweepPoint], best: Sequence[SweepPoint]) -> RenderableType:
    """One row per grid point; the smallest safe point of each load in bold. Narrow enough
    for 80 columns: failed check names are in the simulate output, not here."""
    table = Table(
        title="sweep",
        title_justify="left",
        caption="p99: worst p99 latency of the arriving workflows; util: mean slot utilisation",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    columns = ("load", "workers", "slots", "deadlock", "checks", "makespan", "p99", "failed")
    for column in (*columns, "util"):
        table.add_column(column, justify="right")
    for point in points:
        table.add_row(
            f"{point.load:g}",
            str(point.workers),
            str(point.slots),
            Text("yes", style="red") if point.deadlock else Text("no"),
            Text("✓", style="green") if point.all_checks_pass else Text("✗", style="red"),
            seconds(point.makespan),
            seconds(point.p99_latency),
            str(point.failed_runs),
            percent(point.utilisation_mean),
            style="bold" if any(point is chosen for chosen in best) else None,
        )
    return table
