"""Every example in docs/ runs as printed and prints what the docs say it prints.

Each doc writes files in blocks that start with a ``# name.py`` (or ``# name.ini``) line,
then shows ``python name.py`` or ``pytest -q [file]`` in a bash block followed by a text
block with the output.
Run ids and wall-clock instants differ from run to run, so both sides are normalised.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
FILE_HEADER = re.compile(r"^# ([\w.-]+\.(?:py|ini|toml))\n")
RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
DURATION = re.compile(r"\b\d+\.\d+s\b")
ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def normalise(text: str) -> str:
    text = RUN_ID.sub("<id>", text)
    text = INSTANT.sub("<time>", text)
    text = DURATION.sub("<secs>", text)
    text = ADDRESS.sub("", text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def examples(doc: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    blocks = BLOCK.findall(doc.read_text())
    files: dict[str, str] = {}
    runs: list[tuple[str, str]] = []
    for index, (kind, body) in enumerate(blocks):
        if (header := FILE_HEADER.match(body)) is not None:
            files[header.group(1)] = body
        command = body.strip()
        if kind == "bash" and re.fullmatch(r"python [\w.-]+\.py|pytest -q( [\w.-]+\.py)?", command):
            following = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
            if following[0] == "text":
                runs.append((command, following[1]))
    return files, runs


CASES = [(doc, script, expected) for doc in DOCS for script, expected in examples(doc)[1]]


@pytest.mark.parametrize(
    ("doc", "command", "expected"), CASES, ids=[f"{d.name}:{c}" for d, c, _ in CASES]
)
def test_documented_example_prints_what_the_docs_say(
    doc: Path, command: str, expected: str, tmp_path: Path
) -> None:
    files, _ = examples(doc)
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    program, *args = command.split()
    argv = (
        [sys.executable, *args]
        if program == "python"
        else [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    )
    # the reader's pytest options (e.g. --durations from the outer run) are not the docs'
    env = {name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=env)  # fmt: skip
    assert normalise(done.stdout + done.stderr) == normalise(expected)


def test_every_doc_with_examples_is_covered() -> None:
    covered = {doc.name for doc, _, _ in CASES}
    assert {"tutorial.md", "semantics.md", "errors.md", "pytest.md"} <= covered
