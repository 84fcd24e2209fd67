"""Running the installed ``flowsim`` console script in a child process, as CI runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowsim.check import FlowsimConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "user-repo"
SCENARIOS = ROOT / "scenarios"
#: the console script pip installed next to this interpreter (not ``python -m``)
FLOWSIM = Path(sys.executable).with_name("flowsim")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_flowsim(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real entry point with a fixed, colourless, wide terminal, so output does not
    depend on the environment the suite runs in."""
    assert FLOWSIM.is_file(), f"no flowsim console script at {FLOWSIM}; pip install -e ."
    return subprocess.run(
        [str(FLOWSIM), *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=_environment(),
        timeout=120,
        check=False,
    )


def run_pytest(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=_environment(),
        timeout=120,
        check=False,
    )


def _environment() -> dict[str, str]:
    drop = ("FORCE_COLOR", "TTY_COMPATIBLE", "FLOWSIM_BACKEND", "FLOWSIM_HATCHET_COMPAT")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST")}
    env.update(COLUMNS="200", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    return env


def copy_example(destination: Path) -> Path:
    """A fresh copy of the sample repository, so runs leave nothing in the checkout."""
    target = destination / "user-repo"
    shutil.copytree(
        EXAMPLE,
        target,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".hypothesis"),
    )
    return target


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr
    assert 'File "' not in proc.stderr


#: the command docs/ci.md shows, run as shown
COMMAND = ("check", "--junit", "reports/flowsim-junit.xml", "--json", "reports/flowsim.json")


@dataclass
class Checked:
    repo: Path
    proc: subprocess.CompletedProcess[str]
    config: FlowsimConfig

    @property
    def junit(self) -> ET.Element:
        return ET.parse(self.repo / "reports" / "flowsim-junit.xml").getroot()

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.repo / "reports" / "flowsim.json").read_text())
        return data
