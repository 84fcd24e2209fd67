"""Running the real ``flowsim`` entry point in a child process, as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SEED_DEADLOCK = SCENARIOS / "seed-deadlock.toml"
SEED_FIXED = SCENARIOS / "seed-fixed.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_flowsim(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m flowsim.cli.app ARGS`` with a fixed, colourless 80-column terminal, so
    the output does not depend on the environment the suite runs in."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(COLUMNS="80", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "flowsim.cli.app", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd or ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout
    assert 'File "' not in proc.stderr
