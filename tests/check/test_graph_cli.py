"""``flowsim graph`` through the installed console script: the printed graph, the files,
and an exit code that follows the findings."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from flowsim.analysis import analyse
from tests.check.entry_point import (
    PNG_SIGNATURE,
    ROOT,
    SCENARIOS,
    assert_no_traceback,
    run_flowsim,
)


def mermaid_ids(mermaid: str) -> dict[str, str]:
    """``kind:label`` -> Mermaid node id, e.g. ``{"task:parent": "n4", ...}`` (a workflow
    and its task can share a label)."""
    ids = {}
    for ident, label, kind in re.findall(r'^\s+(n\d+)\W+"([^"]+)"\W+:::(\w+)$', mermaid, re.M):
        ids[f"{kind}:{label}"] = ident
    return ids


def test_the_seed_graph_is_printed_and_written(tmp_path: Path) -> None:
    expected = analyse(SCENARIOS / "seed.py")

    proc = run_flowsim("graph", "scenarios/seed.py", "--out", tmp_path, cwd=ROOT)

    assert proc.returncode == (1 if expected.errors else 0), proc.stdout + proc.stderr
    for line in ("Workflows (2):", "Workers (1):", f"Findings ({len(expected.findings)}):"):
        assert line in proc.stdout
    for finding in expected.findings:
        assert str(finding).splitlines()[0] in proc.stdout
    dot, mermaid, png = (tmp_path / f"seed.{suffix}" for suffix in ("dot", "mmd", "png"))
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert '"task:parent/parent" -> "workflow:first-task" [label="spawns:' in dot.read_text()
    text = mermaid.read_text()
    ids = mermaid_ids(text)
    edge = '==>|"spawns: aio_run [code + simulation]"|'
    assert f"{ids['task:parent']} {edge} {ids['workflow:first-task']}" in text
    assert f"wrote {tmp_path / 'seed.dot'}" in proc.stdout


def test_unmodified_hatchet_code_with_a_one_slot_worker_exits_1(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """\
            import asyncio
            from hatchet_sdk import Context, EmptyModel, Hatchet

            hatchet = Hatchet()
            child = hatchet.workflow(name="child")


            @child.task()
            def step(input: EmptyModel, ctx: Context) -> dict:
                return {}


            @hatchet.task(name="parent")
            async def parent(input: EmptyModel, ctx: Context) -> dict:
                return {"r": await asyncio.gather(child.aio_run(), child.aio_run())}


            worker = hatchet.worker("w", slots=1, workflows=[child, parent])
            """
        )
    )

    proc = run_flowsim("graph", "app.py", "--no-simulate", "--max-parents", "2", cwd=tmp_path)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'error: worker "w" (1 slot)' in proc.stdout
    assert 'one run of "parent" deadlocks it (predicted)' in proc.stdout
    assert "Not simulated: verification was switched off." in proc.stdout
    # the default --out is the working directory, the stem the file's
    written = sorted(p.name for p in tmp_path.glob("app.*"))
    assert written == ["app.dot", "app.mmd", "app.png", "app.py"]
    assert_no_traceback(proc)


def test_a_target_that_does_not_import_exits_2(tmp_path: Path) -> None:
    proc = run_flowsim("graph", "no_such_package.flows", cwd=tmp_path)

    assert proc.returncode == 2
    assert proc.stderr.startswith("error: 'no_such_package.flows': no such module")
    assert proc.stdout == ""
    assert_no_traceback(proc)
    assert list(tmp_path.iterdir()) == []
