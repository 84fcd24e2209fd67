"""DOT, Mermaid, text and PNG renderings of the graph."""

import re
import struct
from pathlib import Path

from matplotlib.image import imread

from flowsim.analysis import analyse, build_graph, discover, render_png, to_dot, to_mermaid

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def seed_graph():
    return analyse(SCENARIOS / "seed.py").graph


def test_dot_has_every_edge_with_its_kind() -> None:
    graph = seed_graph()
    dot = to_dot(graph)
    assert dot.startswith('digraph "flowsim" {') and dot.rstrip().endswith("}")
    spawn = re.search(r'"task:parent/parent" -> "workflow:first-task" \[label="([^"]*)"', dot)
    assert spawn is not None and spawn.group(1) == "spawns: aio_run [code + simulation]"
    assert '"worker:worker" -> "workflow:parent" [label="registers"' in dot
    assert '"workflow:first-task" -> "task:first-task/step1"' in dot
    edges = re.findall(r'^  "[^"]+" -> "[^"]+"', dot, re.MULTILINE)
    assert len(edges) == graph.number_of_edges()


def test_dot_has_dag_edges() -> None:
    dot = to_dot(build_graph(discover(SCENARIOS / "pipelines.py")))
    for parent, child in [("extract", "clean"), ("extract", "profile"), ("clean", "load")]:
        assert f'"task:etl/{parent}" -> "task:etl/{child}"' in dot


def test_mermaid_names_nodes_and_edges() -> None:
    graph = seed_graph()
    mermaid = to_mermaid(graph)
    assert mermaid.startswith("flowchart LR\n")
    ids = {label: ident for ident, label in re.findall(r'^  (n\d+)\W+"([^"]+)"', mermaid, re.M)}
    assert {"parent", "first-task", "step1"} <= set(ids)
    assert f'  {ids["parent"]} ==>|"spawns: aio_run [code + simulation]"| {ids["first-task"]}' in (
        mermaid
    )
    # the standalone workflow "parent" and its task "parent" are two nodes
    assert len(re.findall(r'"parent"', mermaid)) == 2


def test_png_is_a_valid_image(tmp_path: Path) -> None:
    path = render_png(seed_graph(), tmp_path / "graph.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width) and width > 100 and height > 100


def test_analysis_writes_dot_mermaid_and_png(tmp_path: Path) -> None:
    analysis = analyse(SCENARIOS / "fanout.py")
    written = analysis.write(tmp_path, stem="fanout")
    assert [p.name for p in written] == ["fanout.dot", "fanout.mmd", "fanout.png"]
    assert (tmp_path / "fanout.dot").read_text() == to_dot(analysis.graph)
    assert (tmp_path / "fanout.mmd").read_text() == to_mermaid(analysis.graph)
    assert (tmp_path / "fanout.png").read_bytes()[:4] == b"\x89PNG"
