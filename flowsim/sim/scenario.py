"""Scenario files: what to simulate, as validated data.

A scenario names the module holding the users' workflows, the workers, the arrivals of
runs, task durations, injected faults and crashes, a seed, a horizon and the assertions
that decide the exit code. It is TOML checked by pydantic; a broken file is reported with
the file, the key path, the line where it can be found, and what was expected, because
the person reading the error is editing that file.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from flowsim.engine.crons import is_cron_expression, ticks_after
from flowsim.errors import ScenarioError
from flowsim.rate_limits import RateLimitDuration
from flowsim.sdk.labels import DesiredWorkerLabel, WorkerLabelComparator

#: Hatchet's default slot counts (hatchet_sdk 1.43 ``worker()``)
DEFAULT_SLOTS = 100
DEFAULT_DURABLE_SLOTS = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Constant(_Strict):
    dist: Literal["constant"] = "constant"
    value: float = Field(ge=0)


class Exponential(_Strict):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)


class LogNormal(_Strict):
    """``mu``/``sigma`` of the underlying normal, as ``random.lognormvariate`` takes them."""

    dist: Literal["lognormal"]
    mu: float
    sigma: float = Field(ge=0)


class Uniform(_Strict):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class Measured(_Strict):
    """Durations sampled from a CSV of measured ones: the rows whose ``match_column``
    equals this entry's key (``workflow`` or ``workflow.task``), the seconds in ``column``."""

    csv: Path
    column: str = "seconds"
    match_column: str = "task"


Distribution = Annotated[Constant | Exponential | LogNormal | Uniform, Field(discriminator="dist")]
DurationSpec = float | Distribution | Measured


class WorkerSpec(_Strict):
    name: str = Field(min_length=1)
    slots: int = Field(default=DEFAULT_SLOTS, ge=0)
    durable_slots: int = Field(default=DEFAULT_DURABLE_SLOTS, ge=0)
    #: workflow names this worker registers; all of the module's when omitted
    workflows: tuple[str, ...] | None = None
    #: identical worker processes of this shape (``flowsim sweep --workers`` varies it)
    replicas: int = Field(default=1, ge=1)
    #: ``hatchet.worker(..., labels=...)``: matched against tasks' desired_worker_labels
    labels: dict[str, StrictStr | StrictInt] = Field(default_factory=dict)


class DesiredLabelEntry(_Strict):
    """One desired worker label of an arrival (``DesiredWorkerLabel``'s fields)."""

    key: str = Field(min_length=1)
    value: StrictStr | StrictInt
    required: bool = False
    weight: int | None = None
    comparator: WorkerLabelComparator | None = None

    def label(self) -> DesiredWorkerLabel:
        return DesiredWorkerLabel(**self.model_dump())


class Arrival(_Strict):
    """Runs of one workflow: ``count`` of them at ``start``, or at the given times
    (``at``), or every ``every`` seconds, or as a Poisson process of ``rate`` per second,
    or at the first ``count`` ticks of a ``cron`` expression after ``start`` (virtual
    seconds since the epoch, UTC: 0 is 1970-01-01 00:00). With ``event`` instead of
    ``workflow``, each arrival pushes that event (``input`` is its payload) and every
    workflow subscribed with ``on_events=`` gets a run (as its ``default_filters`` decide,
    for the push's ``scope``)."""

    workflow: str | None = None
    event: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    scope: str | None = None
    #: the runs' desired worker labels (``run(desired_worker_labels=...)``), in place of
    #: their tasks' own: entries of ``DesiredWorkerLabel``'s fields
    desired_worker_labels: list[DesiredLabelEntry] = Field(default_factory=list)
    count: int = Field(default=1, ge=0)
    start: float = Field(default=0.0, ge=0)
    at: tuple[float, ...] | None = None
    every: float | None = Field(default=None, gt=0)
    rate: float | None = Field(default=None, gt=0)
    cron: str | None = None

    @model_validator(mode="after")
    def _one_pattern(self) -> Arrival:
        if (self.workflow is None) == (self.event is None):
            raise ValueError("give one of workflow (a run) or event (a push), not both or neither")
        patterns = ("at", "every", "rate", "cron")
        given = [name for name in patterns if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of at / every / rate / cron, not {' and '.join(given)}")
        if self.cron is not None and not is_cron_expression(self.cron):
            raise ValueError(
                f"cron {self.cron!r} is not a cron expression; use five fields, e.g. "
                "'*/5 * * * *', or six with seconds first, e.g. '*/10 * * * * *'"
            )
        if self.at is not None and any(t < 0 for t in self.at):
            raise ValueError("arrival times must be >= 0")
        if self.desired_worker_labels and self.event is not None:
            raise ValueError("desired_worker_labels go with workflow (a run), not event")
        if self.scope is not None and self.event is None:
            raise ValueError("scope selects event filters: give it with event, not workflow")
        return self


class Fault(_Strict):
    """Attempts of a task that fail: each with ``probability``, or the listed attempt
    numbers (1 is the first). The failure comes at the end of the attempt's duration."""

    task: str
    probability: float = Field(default=0.0, ge=0, le=1)
    attempts: tuple[int, ...] = ()
    message: str = "injected fault"
    retryable: bool = True
    #: seconds the failed attempt asks to wait before its retry (a RetryAfterException, as
    #: a rate-limited upstream's Retry-After), in place of the task's backoff
    retry_after: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _retry_after_retries(self) -> Fault:
        if self.retry_after is not None and not self.retryable:
            raise ValueError("retry_after asks for a retry: it cannot go with retryable = false")
        return self


class Crash(_Strict):
    """Worker ``worker`` (every replica, or ``replica`` N from 1) dies at ``at``; it
    starts again ``restart_after`` seconds later if given."""

    worker: str
    at: float = Field(ge=0)
    replica: int | None = Field(default=None, ge=1)
    restart_after: float | None = Field(default=None, ge=0)


class RateLimitPut(_Strict):
    """A static rate limit key put before any run arrives, as a worker's startup calls
    ``hatchet.rate_limits.put(key, limit, duration)`` (the default duration is SECOND, as
    there). Dynamic keys need nothing here: their tasks' ``limit`` creates them."""

    key: str = Field(min_length=1)
    limit: int = Field(ge=0)
    duration: RateLimitDuration = RateLimitDuration.SECOND


class Assertions(_Strict):
    no_deadlock: bool = True
    all_succeed: bool = False
    makespan_below: float | None = Field(default=None, gt=0)
    #: p99 latency (created to finished, seconds) per workflow name
    p99_below: dict[str, float] = Field(default_factory=dict)


class Scenario(_Strict):
    name: str = ""
    description: str = ""
    #: a dotted module name, or a ``.py`` path relative to the scenario file
    module: str
    seed: int = 0
    #: virtual seconds after which the simulation stops, finished or not
    horizon: float = Field(default=86_400.0, gt=0)
    #: how long a dead worker's runs stay leased to it before they are queued again
    lease_seconds: float = Field(default=30.0, ge=0)
    workers: tuple[WorkerSpec, ...] = Field(min_length=1)
    arrivals: tuple[Arrival, ...] = Field(min_length=1)
    durations: dict[str, DurationSpec] = Field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    crashes: tuple[Crash, ...] = ()
    #: static rate limit keys, put at time 0
    rate_limits: tuple[RateLimitPut, ...] = ()
    assertions: Assertions = Assertions()
    #: where the file was read from (module and CSV paths are relative to it)
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _names_unique(self) -> Scenario:
        names = [w.name for w in self.workers]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"worker names must be unique; repeated: {', '.join(duplicated)}")
        unknown = sorted({c.worker for c in self.crashes} - set(names))
        if unknown:
            raise ValueError(f"crashes name unknown worker(s): {', '.join(unknown)}")
        return self

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source is not None else Path.cwd()

    @property
    def title(self) -> str:
        return self.name or (self.source.stem if self.source else "scenario")

    def with_workers(
        self, *, slots: int | None = None, replicas: int | None = None, worker: str | None = None
    ) -> Scenario:
        """The same scenario with other slot counts or replica counts (for sweeps), applied
        to every worker or to the one named."""
        changes: dict[str, int] = {}
        if slots is not None:
            changes["slots"] = slots
        if replicas is not None:
            changes["replicas"] = replicas
        workers = tuple(
            w.model_copy(update=changes) if worker in (None, w.name) else w for w in self.workers
        )
        return self.model_copy(update={"workers": workers})

    def with_load(self, factor: float) -> Scenario:
        """Every arrival's count and rate scaled by ``factor`` (explicit times kept)."""
        arrivals = tuple(
            a.model_copy(
                update={
                    "count": max(1, round(a.count * factor)) if a.count else 0,
                    "rate": a.rate * factor if a.rate is not None else None,
                }
            )
            for a in self.arrivals
        )
        return self.model_copy(update={"arrivals": arrivals})

    def with_seed(self, seed: int) -> Scenario:
        return self.model_copy(update={"seed": seed})


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; every problem becomes one ``ScenarioError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    return parse_scenario(data, source=path, text=text)


def parse_scenario(data: dict[str, Any], source: Path | None = None, text: str = "") -> Scenario:
    try:
        return Scenario.model_validate({**data, "source": source})
    except ValidationError as exc:
        where = str(source) if source is not None else "scenario"
        errors = exc.errors()
        locations = [tuple(error["loc"]) for error in errors]
        # a list reported as a whole ("should have at least 1 item") because an item in it
        # failed adds nothing to the item's own error
        specific = [
            error
            for error, loc in zip(errors, locations, strict=True)
            if not any(other != loc and other[: len(loc)] == loc for other in locations)
        ]
        problems = [_describe(error, text) for error in specific]
        raise ScenarioError(
            f"{where}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems)
        ) from None


def _describe(error: Any, text: str) -> str:
    loc: Sequence[str | int] = [
        part for part in error["loc"] if not (isinstance(part, str) and _is_variant(part))
    ]
    key = _key_path(loc) or "(top level)"
    line = _find_line(text, loc)
    at = f" (line {line})" if line else ""
    message = error["msg"]
    if error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see docs/simulation.md for the format)"
    elif "input" in error and error["type"] not in ("value_error",):
        message = f"{message}; got {error['input']!r}"
    return f"{key}{at}: {message}"


def _is_variant(part: str) -> bool:
    """pydantic inserts union variant names (``float``, ``constant``, ``Measured``) into
    locations; they mean nothing to the file's author."""
    return part in {"float", "constant", "exponential", "lognormal", "uniform", "Measured"} or (
        part.startswith("function-")
    )


def _key_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            quoted = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            out += f".{quoted}" if out else quoted
    return out


def _find_line(text: str, loc: Sequence[str | int]) -> int | None:
    """Best effort: the line of the innermost key named in ``loc``, searching after the
    table or array-of-tables entry the path goes through."""
    if not text:
        return None
    lines = text.splitlines()
    start = 0
    for index, part in enumerate(loc):
        if isinstance(part, int):
            continue
        nxt = loc[index + 1] if index + 1 < len(loc) else None
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(part)}\s*\]\]?\s*$")
        key = re.compile(rf'^\s*"?{re.escape(part)}"?\s*=')
        if isinstance(nxt, int):  # an array of tables: the nxt-th header
            seen = -1
            for number in range(start, len(lines)):
                if header.match(lines[number]):
                    seen += 1
                    if seen == nxt:
                        start = number
                        break
            continue
        for number in range(start, len(lines)):
            if header.match(lines[number]) or key.match(lines[number]):
                start = number
                break
        else:
            return start + 1 if start else None
    return start + 1


def arrival_times(arrival: Arrival, rng_uniform: Any) -> list[float]:
    """The instants of an arrival pattern. ``rng_uniform()`` draws from [0, 1)."""
    if arrival.at is not None:
        return sorted(arrival.at)
    if arrival.every is not None:
        return [arrival.start + i * arrival.every for i in range(arrival.count)]
    if arrival.cron is not None:
        return list(itertools.islice(ticks_after(arrival.cron, arrival.start), arrival.count))
    if arrival.rate is not None:
        times: list[float] = []
        now = arrival.start
        for _ in range(arrival.count):
            now += -math.log(1.0 - rng_uniform()) / arrival.rate
            times.append(now)
        return times
    return [arrival.start] * arrival.count
