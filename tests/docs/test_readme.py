"""The README's example is part of the feature: run it exactly as printed."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_30_second_example_prints_the_result_then_reports_the_deadlock(tmp_path: Path) -> None:
    [example] = python_blocks((ROOT / "README.md").read_text())
    script = tmp_path / "example.py"
    script.write_text(example)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert "{'results': [{'shout': {'message': 'A'}}, {'shout': {'message': 'B'}}]}" in done.stdout
    assert done.returncode == 1
    assert "flowsim.errors.SlotDeadlockError: Slot deadlock on memory://" in done.stderr
    assert "give worker 'w' at least 2 default slots" in done.stderr
