"""``[tool.flowsim]`` in a project's ``pyproject.toml``: what ``flowsim check`` runs.

The table is validated by pydantic with unknown keys refused, because a misspelt key that
is silently ignored is a check that silently never runs. Every problem is reported with
its full key path (``tool.flowsim.properties[1].max_slots``) and what was expected, since
the person reading the error is editing that file. The reference is docs/ci.md.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from flowsim import rules
from flowsim.errors import ConfigurationError

#: where the table lives, as written in error messages
TABLE = "tool.flowsim"
#: the property kinds, as error messages list them
KINDS = "'deadlock_free', 'retries_converge'"
#: a check's reference to a Python object: ``package.module:attribute``
TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class CheckConfigError(ConfigurationError):
    """``[tool.flowsim]`` cannot be run: the message names the file, the key and what was
    expected. ``flowsim check`` exits with 2 on it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkerConfig(_Strict):
    """One worker process of a deployment, as ``hatchet.worker(...)`` would create it."""

    name: str = Field(min_length=1)
    slots: int = Field(default=rules.DEFAULT_SLOTS, ge=1)
    durable_slots: int = Field(default=rules.DEFAULT_DURABLE_SLOTS, ge=1)
    #: names of the workflows it registers; every workflow of ``modules`` when omitted
    workflows: tuple[str, ...] | None = None


class DeploymentConfig(_Strict):
    """The workers the code runs on: written out here (``workers``), or built by the
    project's own code (``workers_from = "module:attribute"``, a ``Worker``, a list of
    them, or a function returning either)."""

    name: str = Field(min_length=1)
    workers: tuple[WorkerConfig, ...] | None = Field(default=None, min_length=1)
    workers_from: str | None = None

    @field_validator("workers_from")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and not TARGET.match(value):
            raise ValueError(
                "expected 'package.module:attribute' (e.g. 'shop.worker:production'); "
                f"got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DeploymentConfig:
        if (self.workers is None) == (self.workers_from is None):
            raise ValueError("give exactly one of workers = [...] and workers_from = 'module:attr'")
        if self.workers is not None:
            names = [w.name for w in self.workers]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"worker names must be unique; repeated: {', '.join(repeated)}")
        return self


class GraphConfig(_Strict):
    """How the graph checks analyse ``modules`` (the options of ``flowsim graph``)."""

    #: run the code in exploring simulations (spawn edges, demonstrated thresholds)
    simulate: bool = True
    #: concurrent parent runs for which each deadlock threshold is demonstrated
    max_parents: int = Field(default=4, ge=1, le=64)


class ScenarioConfig(_Strict):
    """A scenario file, simulated. ``expect = "deadlock"`` turns it into a check that the
    known-bad configuration it describes still deadlocks."""

    path: Path
    name: str | None = None
    expect: Literal["pass", "deadlock"] = "pass"
    #: the random seed to simulate with, instead of the file's own
    seed: int | None = None


class _PropertyBase(_Strict):
    name: str | None = None
    #: dotted module or package holding the workflow; the only entry of ``modules`` if omitted
    module: str | None = None
    workflow: str = Field(min_length=1)
    #: take the worker's slot counts from this deployment (it must have exactly one worker)
    deployment: str | None = None
    max_examples: int = Field(default=50, ge=1)
    #: the same search on every run, so that a red build can be reproduced
    derandomize: bool = True


class DeadlockFreeConfig(_PropertyBase):
    """``assert_deadlock_free``: no slot count, parent count or input in range deadlocks."""

    kind: Literal["deadlock_free"]
    min_slots: int = Field(default=1, ge=1)
    max_slots: int = Field(default=8, ge=1)
    max_parents: int = Field(default=1, ge=1)
    max_children: int = Field(default=8, ge=0)
    durable_slots: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> DeadlockFreeConfig:
        if self.min_slots > self.max_slots:
            raise ValueError(
                f"min_slots ({self.min_slots}) must be <= max_slots ({self.max_slots})"
            )
        _deployment_or_slots(self, ("min_slots", "max_slots", "durable_slots"))
        return self


class RetriesConvergeConfig(_PropertyBase):
    """``assert_retries_converge``: failures within the retry budget never fail a run."""

    kind: Literal["retries_converge"]
    #: failing attempts per task; each task's own ``retries`` when omitted
    max_failures: int | None = Field(default=None, ge=0)
    #: ``workflow.task`` keys; every task the workflow can reach when omitted
    tasks: tuple[str, ...] | None = None
    slots: int = Field(default=100, ge=1)
    durable_slots: int = Field(default=1000, ge=0)
    parents: int = Field(default=1, ge=1)
    #: seconds per ``workflow.task`` (or ``workflow``); tasks take no time when omitted
    durations: dict[str, Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RetriesConvergeConfig:
        _deployment_or_slots(self, ("slots", "durable_slots"))
        return self


def _deployment_or_slots(config: _PropertyBase, keys: Sequence[str]) -> None:
    given = [key for key in keys if key in config.model_fields_set]
    if config.deployment is not None and given:
        raise ValueError(
            f"give deployment or {' / '.join(keys)}, not both: the deployment's worker "
            f"sets them (got {', '.join(given)})"
        )


PropertyConfig = Annotated[DeadlockFreeConfig | RetriesConvergeConfig, Field(discriminator="kind")]


class FlowsimConfig(_Strict):
    """The whole ``[tool.flowsim]`` table."""

    #: the project's workflow code, analysed as ``flowsim graph`` does
    modules: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    graph: GraphConfig = GraphConfig()
    deployments: tuple[DeploymentConfig, ...] = ()
    scenarios: tuple[ScenarioConfig, ...] = ()
    properties: tuple[PropertyConfig, ...] = ()
    #: the pyproject.toml read (absolute); paths in the table are relative to its directory
    _source: Path = PrivateAttr(default_factory=lambda: Path("pyproject.toml").resolve())

    @model_validator(mode="after")
    def _sound(self) -> FlowsimConfig:
        if not (self.modules or self.scenarios or self.properties):
            raise ValueError(
                "nothing to check: give modules = [...], [[tool.flowsim.scenarios]] or "
                "[[tool.flowsim.properties]]"
            )
        names = [d.name for d in self.deployments]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"deployment names must be unique; repeated: {', '.join(repeated)}")
        if self.deployments and not self.modules:
            raise ValueError("deployments are checked against modules = [...]; give modules")
        return self

    @property
    def source(self) -> Path:
        return self._source

    @property
    def root(self) -> Path:
        return self._source.parent


def load_config(path: str | Path) -> FlowsimConfig:
    """Read ``[tool.flowsim]`` from a pyproject.toml; every problem is one
    ``CheckConfigError`` listing each bad key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckConfigError(f"{path}: cannot read it ({exc.strerror})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CheckConfigError(f"{path}: not valid TOML: {exc}") from exc
    table = data.get("tool", {}).get("flowsim")
    if not isinstance(table, dict):
        raise CheckConfigError(
            f"{path}: no [{TABLE}] table; add one (see docs/ci.md for every key)"
        )
    return parse_config(table, source=path)


def parse_config(table: dict[str, Any], source: Path = Path("pyproject.toml")) -> FlowsimConfig:
    try:
        config = FlowsimConfig.model_validate(table)
    except ValidationError as exc:
        problems = [_describe(error) for error in _innermost(exc.errors())]
        raise CheckConfigError(
            f"{source}: [{TABLE}] has {len(problems)} problem(s):\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        ) from None
    config._source = source.resolve()
    return config


def _innermost(errors: Sequence[Any]) -> list[Any]:
    """Drop an error about a list as a whole when an item inside it has its own."""
    locations = [tuple(error["loc"]) for error in errors]
    return [
        error
        for error, loc in zip(errors, locations, strict=True)
        if not any(other != loc and other[: len(loc)] == loc for other in locations)
    ]


def _describe(error: Any) -> str:
    # pydantic puts the union member's tag into the path (properties.0.deadlock_free.x)
    loc = [part for part in error["loc"] if part not in ("deadlock_free", "retries_converge")]
    key = key_path(*loc)
    kind = error["type"]
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "extra_forbidden":
        return f"{key}: unknown key (check the spelling; docs/ci.md lists every key)"
    if kind == "union_tag_invalid":
        return f"{key}.kind: expected one of {KINDS}; got {error['input'].get('kind')!r}"
    if kind == "union_tag_not_found":
        return f"{key}.kind: required key is missing (one of {KINDS})"
    # TOML has arrays, not tuples
    message = str(error["msg"]).removeprefix("Value error, ").replace("valid tuple", "list")
    if (
        kind.endswith("_type")
        or kind.endswith("_parsing")
        or kind.startswith(("greater", "less", "string_", "too_", "literal", "int_", "bool_"))
    ):
        message = f"{message}; got {error['input']!r}"
    return f"{key}: {message}"


def key_path(*parts: str | int) -> str:
    """``key_path("properties", 1, "max_slots")`` -> ``tool.flowsim.properties[1].max_slots``."""
    out = TABLE
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'."{part}"'
    return out
