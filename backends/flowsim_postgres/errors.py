"""Driver errors, translated in one place.

A psycopg exception never leaves this package as itself: a database that cannot be reached
or refuses us becomes ``ConfigurationError`` when the store opens, and a failure during an
operation becomes ``StoreError``; both name the masked URL and keep the driver's exception
as ``__cause__`` for whoever debugs it.
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors

from flowsim.errors import ConfigurationError, FlowsimError

#: SQLSTATEs after which the server has rolled the transaction back, so running it again
#: is safe: serialization failure, deadlock detected
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


class StoreError(FlowsimError, RuntimeError):
    """The Postgres run store failed an operation (connection lost, database error)."""


def reason(exc: BaseException) -> str:
    """The driver's message on one line, without libpq's context lines."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.removeprefix("connection failed: ").strip()


def unreachable(display_url: str, exc: BaseException) -> ConfigurationError:
    """Opening failed: say where, why, and what to check."""
    message = reason(exc)
    hint = (
        "check that the server runs and the host, port, user and database are right; "
        "at start flowsim does not wait for the database"
    )
    if isinstance(exc, psycopg.ProgrammingError):
        hint = "check the URL's query parameters (libpq refused one)"
    elif "password" in message.lower() or "authentication" in message.lower():
        hint = "check the user and password"
    elif "does not exist" in message:
        hint = "create the database first (createdb) or name an existing one"
    return ConfigurationError(
        f"cannot open the Postgres run store at {display_url}: {message} ({hint})"
    )


def failed(display_url: str, action: str, exc: BaseException) -> StoreError:
    """An operation failed after the store was open."""
    return StoreError(f"Postgres run store at {display_url}: {action} failed: {reason(exc)}")


def is_retryable(exc: BaseException) -> bool:
    """Whether the transaction certainly did not commit and may simply run again."""
    if isinstance(exc, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
        return True
    if isinstance(exc, psycopg.Error) and exc.sqlstate in RETRYABLE_SQLSTATES:
        return True
    return isinstance(exc, psycopg.OperationalError)
