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
from urllib.parse import urlsplit

from flowsim.clock import Clock
from flowsim.engine.engine import Engine
from flowsim.errors import ConfigurationError

ENV_VAR = "FLOWSIM_BACKEND"
DEFAULT_URL = "memory://"
SCHEMES = {"memory": "in-process, the default: memory:// or memory://NAME for a separate one"}

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


def validate_url(url: str) -> str:
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme not in SCHEMES:
        available = "; ".join(f"{name}:// ({text})" for name, text in SCHEMES.items())
        source = f" (from ${ENV_VAR})" if os.environ.get(ENV_VAR) == url else ""
        raise ConfigurationError(
            f"unknown flowsim backend URL {url!r}{source}: the scheme must be one of: {available}"
        )
    return url


def engine_for(url: str, clock: Clock | None = None) -> Engine:
    """The shared engine for ``url``, created on first use (with ``clock`` if given)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None or engine.closed:
            engine = Engine(url, clock)
            _engines[url] = engine
        elif clock is not None and engine.clock is not clock:
            raise ConfigurationError(
                f"backend {url!r} is already running with another clock; pass the clock to the "
                "first Hatchet() on this URL, or use a separate URL (memory://NAME)"
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
