"""Which backend a client talks to, and the one engine per backend URL.

Hatchet clients all talk to one server, so every ``Hatchet()`` on the same backend URL
shares one engine here: a user's app may spread its workflows, worker and trigger code over
several modules, each with its own ``Hatchet()``. The pytest plugin resets this registry
per test, which gives module-level clients fresh, isolated state without redefining
anything.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from flowsim.clock import Clock
from flowsim.engine.engine import Engine
from flowsim.errors import ConfigurationError
from flowsim.store.plugin import ENTRY_POINT_GROUP, BackendPlugin

ENV_VAR = "FLOWSIM_BACKEND"
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


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``: how a DSN appears in errors, logs
    and reports."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


@cache
def plugins() -> dict[str, BackendPlugin]:
    """Backends installed through the ``flowsim.backends`` entry-point group, by scheme."""
    found: dict[str, BackendPlugin] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = entry.load()
        except Exception as exc:  # a broken third-party package must not hide the others
            raise ConfigurationError(
                f"the flowsim backend entry point {entry.name!r} ({entry.value}) failed to "
                f"load: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(plugin, BackendPlugin):
            raise ConfigurationError(
                f"the flowsim backend entry point {entry.name!r} ({entry.value}) is not a "
                "flowsim.store.plugin.BackendPlugin"
            )
        for scheme in plugin.schemes:
            found.setdefault(scheme, plugin)
    return found


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
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme not in available():
        listed = _listing()
        source = f" (from ${ENV_VAR})" if os.environ.get(ENV_VAR) == url else ""
        raise ConfigurationError(
            f"unknown flowsim backend URL {mask_url(url)!r}{source}: the scheme must be one "
            f"of: {listed}"
        )
    return url


def _open(url: str, clock: Clock | None) -> Engine:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return Engine(url, clock)
    from flowsim.engine.durable import DurableEngine

    store = plugins()[scheme].open_store(url)  # migrated: the plugin's promise
    lease = os.environ.get("FLOWSIM_LEASE_SECONDS")
    engine = DurableEngine(url, store, clock)
    if lease:
        engine.lease_seconds = float(lease)
    return engine


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
