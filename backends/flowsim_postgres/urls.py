"""Postgres URLs: what flowsim reads from them, and how they are shown.

Kept free of psycopg so the URL can be masked and checked (and the missing driver named)
before anything is imported. flowsim's own query parameters are taken out here, because
libpq refuses a URL with parameters it does not know; every other parameter (``sslmode``,
``application_name``, ...) is passed through to libpq untouched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote_plus, urlsplit

from flowsim.dsn import mask_url, with_query
from flowsim.errors import ConfigurationError

N = TypeVar("N", int, float)
SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "flowsim"
DEFAULT_POOL_MIN = 1
DEFAULT_POOL_MAX = 10
#: seconds libpq may spend connecting: an unreachable database fails fast, not after minutes
DEFAULT_CONNECT_TIMEOUT = 5
#: seconds an operation keeps retrying once the database went away mid-run (a server
#: restart or failover takes a few); after that the outage is reported, not waited out
DEFAULT_RECONNECT_SECONDS = 30.0
#: lower-case letters, digits and underscores, not starting with a digit, at most 63 bytes
#: (Postgres truncates longer names): one spelling whether quoted or not
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_OURS = ("schema", "pool_min", "pool_max", "reconnect_seconds")


def _query_items(query: str) -> list[tuple[str, str, str]]:
    """(decoded key, decoded value, the raw ``key=value`` text) for each parameter: the raw
    text is passed on as given, so libpq sees the user's own encoding."""
    items = []
    for raw in query.split("&"):
        if raw:
            key, _, value = raw.partition("=")
            items.append((unquote_plus(key), unquote_plus(value), raw))
    return items


@dataclass(frozen=True, slots=True)
class PostgresURL:
    """A parsed ``postgresql://`` URL: the libpq connection string and flowsim's options."""

    #: what libpq gets: the URL without flowsim's own query parameters
    conninfo: str
    #: the URL as shown everywhere (password masked)
    display: str
    schema: str
    pool_min: int
    pool_max: int
    #: how long a lost connection is retried (capped exponential backoff) before an
    #: operation fails with ``DatabaseLostError``; 0 fails at the first loss
    reconnect_seconds: float
    #: the libpq parameters the URL sets itself (flowsim adds defaults for the others)
    libpq_keys: frozenset[str]

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of this schema (at most 63 bytes, as Postgres needs)."""
        return f"flowsim_{self.schema}"[:63]


def parse_url(url: str) -> PostgresURL:
    """Split a ``postgresql://user:pass@host:port/db?schema=NAME&pool_min=1&pool_max=10``
    (and ``&reconnect_seconds=30``) URL; ``ConfigurationError`` (with the masked URL) says
    what is wrong with it."""
    display = mask_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018
    except ValueError as exc:
        raise ConfigurationError(f"malformed postgresql:// URL {display!r}: {exc}") from None
    if parts.netloc.count("@") > 1:
        raise ConfigurationError(
            f"{display!r}: the user name or password holds an '@'; percent-encode it as %40 "
            "(e.g. postgresql://user:p%40ss@host/db), as libpq reads the first '@' as the end "
            "of the password"
        )
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"{display!r} is not a Postgres URL: the scheme must be postgresql:// or postgres://"
        )
    options: dict[str, str] = {}
    passed: list[tuple[str, str]] = []
    for key, value, raw in _query_items(parts.query):
        if key in _OURS:
            if key in options:
                raise ConfigurationError(f"{display!r} gives {key}= twice; give it once")
            options[key] = value
        else:
            passed.append((key, raw))
    schema = options.get("schema", DEFAULT_SCHEMA)
    if not SCHEMA_NAME.fullmatch(schema):
        raise ConfigurationError(
            f"{display!r}: schema={schema!r} is not a usable schema name; use lower-case "
            "letters, digits and underscores (not starting with a digit, at most 63 "
            "characters), e.g. ?schema=flowsim_test"
        )
    pool_min = _count(display, options, "pool_min", DEFAULT_POOL_MIN, minimum=0)
    pool_max = _count(display, options, "pool_max", max(DEFAULT_POOL_MAX, pool_min), minimum=1)
    if pool_min > pool_max:
        raise ConfigurationError(
            f"{display!r}: pool_min={pool_min} is larger than pool_max={pool_max}"
        )
    reconnect_seconds = _seconds(display, options, "reconnect_seconds", DEFAULT_RECONNECT_SECONDS)
    conninfo = with_query(url, "&".join(raw for _, raw in passed))
    return PostgresURL(
        conninfo=conninfo,
        display=display,
        schema=schema,
        pool_min=pool_min,
        pool_max=pool_max,
        reconnect_seconds=reconnect_seconds,
        libpq_keys=frozenset(key for key, _ in passed),
    )


def _count(display: str, options: dict[str, str], key: str, default: int, minimum: int) -> int:
    requirement = f"a whole number of connections, at least {minimum}"
    return _number(display, options, key, default, int, lambda n: n >= minimum, requirement)


def _seconds(display: str, options: dict[str, str], key: str, default: float) -> float:
    requirement = f"a number of seconds, 0 or more (default {default:g})"
    return _number(display, options, key, default, float, lambda n: 0 <= n < math.inf, requirement)


def _number(
    display: str,
    options: dict[str, str],
    key: str,
    default: N,
    parse: Callable[[str], N],
    valid: Callable[[N], bool],
    requirement: str,
) -> N:
    """The option ``key`` as a number (``default`` when absent); refused, naming the URL
    and what it must be, when it does not parse or is out of range."""
    text = options.get(key)
    if text is None:
        return default
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise ConfigurationError(f"{display!r}: {key}={text!r} must be {requirement}")
    return value
