"""Which backend a client talks to, and the one engine per backend URL.

Hatchet clients all talk to one server, so every ``Hatchet()`` on the same backend URL
shares one engine here: a user's app may spread its workflows, worker and trigger code over
several modules, each with its own ``Hatchet()``. The pytest plugin resets this registry
per test, which gives module-level clients fresh, isolated state without redefining
anything.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from flowsim.clock import Clock
from flowsim.dsn import mask_url
from flowsim.engine.engine import Engine
from flowsim.errors import ConfigurationError
from flowsim.store.plugin import ENTRY_POINT_GROUP, BackendPlugin

ENV_VAR = "FLOWSIM_BACKEND"
#: the lease length every durable engine of the process uses (``flowsim worker
#: --lease-seconds`` sets it)
LEASE_VAR = "FLOWSIM_LEASE_SECONDS"
DEFAULT_URL = "memory://"
MEMORY = "in-process, the default: memory:// or memory://NAME for a separate one"

_engines: dict[str, Engine] = {}
#: Set by the pytest plugin (--flowsim-backend / ini key); wins over the environment.
configured_default: str | None = None
#: Set while a simulation runs: every client, whatever URL it names, uses this backend,
#: so the users' own module-level ``Hatchet()`` clients run in virtual time.
redirect_url: str | None = None
_lock = threading.Lock()


def resolve_url(explicit: str | None = None) -> str:
    """The backend URL: the argument, else the pytest plugin's choice, else
    ``$FLOWSIM_BACKEND``, else ``memory://``."""
    url = explicit or configured_default or os.environ.get(ENV_VAR) or DEFAULT_URL
    return validate_url(url)


@cache
def _discovered() -> tuple[dict[str, BackendPlugin], dict[str, str]]:
    """The backends installed through the ``flowsim.backends`` entry-point group, by
    scheme, and why each entry point that could not be used failed, by its name. A broken
    third-party package must not hide the others: it fails only the URLs of its scheme."""
    found: dict[str, BackendPlugin] = {}
    broken: dict[str, str] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        where = f"the flowsim backend entry point {entry.name!r} ({entry.value})"
        try:
            plugin = entry.load()
        except Exception as exc:
            broken[entry.name] = f"{where} failed to load: {type(exc).__name__}: {exc}"
            continue
        if not isinstance(plugin, BackendPlugin):
            broken[entry.name] = f"{where} is not a flowsim.store.plugin.BackendPlugin"
            continue
        for scheme in plugin.schemes:
            found.setdefault(scheme, plugin)
    return found, broken


def plugins() -> dict[str, BackendPlugin]:
    """Backends installed through the ``flowsim.backends`` entry-point group, by scheme."""
    return _discovered()[0]


def available() -> dict[str, str]:
    schemes = {"memory": MEMORY}
    schemes.update({scheme: plugin.description for scheme, plugin in plugins().items()})
    return schemes


def _listing() -> str:
    """Each backend once, with all its schemes: ``postgresql:// or postgres:// (...)``."""
    groups: dict[str, list[str]] = {MEMORY: ["memory"]}
    for scheme, plugin in plugins().items():
        groups.setdefault(plugin.description, []).append(scheme)
    return "; ".join(
        f"{' or '.join(f'{s}://' for s in schemes)} ({text})" for text, schemes in groups.items()
    )


def validate_url(url: str) -> str:
    """``url`` if its scheme names an installed backend, else a ``ConfigurationError``
    that lists them (and a malformed URL one that says so, without echoing it)."""
    source = f" (from ${ENV_VAR})" if os.environ.get(ENV_VAR) == url else ""
    try:
        scheme = urlsplit(url).scheme if "://" in url else ""
    except ValueError as exc:
        raise ConfigurationError(
            f"malformed flowsim backend URL{source}: {exc}; write it as scheme://... "
            f"(percent-encode special characters in a password), with a scheme of: "
            f"{_listing()}"
        ) from None
    if scheme == "memory":
        return url
    broken = _discovered()[1].get(scheme)
    if broken is not None and scheme not in plugins():
        raise ConfigurationError(
            f"cannot open {mask_url(url)!r}{source}: {broken}; reinstall or fix the package "
            "that provides it (its entry point is named after the scheme)"
        )
    if scheme not in available():
        raise ConfigurationError(
            f"unknown flowsim backend URL {mask_url(url)!r}{source}: the scheme must be one "
            f"of: {_listing()}"
        )
    return url


def _open(url: str, clock: Clock | None) -> Engine:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return Engine(url, clock)
    from flowsim.engine.durable import DurableEngine

    lease = os.environ.get(LEASE_VAR)
    seconds = checked_lease(lease, f"${LEASE_VAR}") if lease else None
    store = plugins()[scheme].open_store(url)  # migrated: the plugin's promise
    engine = DurableEngine(url, store, clock)
    if seconds is not None:
        engine.lease_seconds = seconds
    return engine


def checked_lease(value: object, source: str) -> float:
    """A lease length in seconds: a finite number above 0. A lease of 0 expires as it is
    taken, so every worker would reclaim every running task at once, forever."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ConfigurationError(
            f"{source} = {value!r} is not a lease length: give a number of seconds above 0 "
            "(default 30; a worker renews its leases every third of it)"
        )
    return seconds


def engine_for(url: str, clock: Clock | None = None) -> Engine:
    """The shared engine for ``url``, created on first use (with ``clock`` if given)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None or engine.closed:
            engine = _open(validate_url(url), clock)
            _engines[url] = engine
        elif clock is not None and engine.clock is not clock:
            raise ConfigurationError(
                f"backend {mask_url(url)!r} is already running with another clock; pass the "
                "clock to the first Hatchet() on this URL, or use a separate URL (memory://NAME)"
            )
        return engine


@contextmanager
def redirected(url: str) -> Iterator[None]:
    """Route every client to ``url`` for the duration (the simulator's virtual backend)."""
    global redirect_url
    previous, redirect_url = redirect_url, url
    try:
        yield
    finally:
        redirect_url = previous


def is_open(url: str) -> bool:
    with _lock:
        engine = _engines.get(url)
        return engine is not None and not engine.closed


def close_engine(url: str) -> None:
    """Close and forget one backend's engine (a finished simulation's)."""
    with _lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.close()


def reset() -> None:
    """Close every engine: the next use of any URL starts from empty state."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()
