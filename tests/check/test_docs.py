"""docs/ci.md is the reference of ``[tool.flowsim]`` and shows the sample's report: every
key the configuration accepts is documented, every TOML example in it is accepted, and the
report it shows is what the command prints."""

from __future__ import annotations

import re
import tomllib

import pytest
from pydantic import BaseModel

from flowsim.check import parse_config
from flowsim.check.config import (
    DeadlockFreeConfig,
    DeploymentConfig,
    FlowsimConfig,
    GraphConfig,
    RetriesConvergeConfig,
    ScenarioConfig,
    WorkerConfig,
)
from tests.check.entry_point import COMMAND, EXAMPLE, ROOT, Checked

DOC = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
TOML_BLOCKS = [body for kind, body in BLOCK.findall(DOC) if kind == "toml"]
DURATION = re.compile(r"\(\d+\.\d+s\)")


def reference_section() -> str:
    return DOC.split("## `[tool.flowsim]` reference", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    ("model", "prefix"),
    [
        (FlowsimConfig, ""),
        (GraphConfig, ""),
        (DeploymentConfig, ""),
        (WorkerConfig, "workers[]."),
        (ScenarioConfig, ""),
        (DeadlockFreeConfig, ""),
        (RetriesConvergeConfig, ""),
    ],
)
def test_every_key_is_documented(model: type[BaseModel], prefix: str) -> None:
    section = reference_section()
    missing = [key for key in model.model_fields if f"`{prefix}{key}`" not in section]
    assert missing == []


@pytest.mark.parametrize("body", TOML_BLOCKS, ids=[f"block{i}" for i in range(len(TOML_BLOCKS))])
def test_every_toml_example_is_accepted(body: str) -> None:
    table = tomllib.loads(body)["tool"]["flowsim"]
    parse_config({"modules": ["shop"], **table})


def test_the_documented_sample_configuration_is_the_samples() -> None:
    documented = tomllib.loads(TOML_BLOCKS[0])["tool"]["flowsim"]
    sample = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["tool"]["flowsim"]
    assert documented == sample


def test_the_documented_report_is_what_the_command_prints(checked: Checked) -> None:
    assert f"$ flowsim {' '.join(COMMAND)}\n" in DOC
    documented = DOC.split("## The report", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    printed = checked.proc.stdout
    assert DURATION.sub("(…)", documented.strip()) == DURATION.sub("(…)", printed.strip())
