"""Showing a backend URL without its password: one function for every place a URL is
printed (errors, logs, the pytest header, ``flowsim worker``'s banner), so that no place
masks less than another. Kept free of any driver import, so a URL can be masked before
anything else is known about it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_PASSWORD_PARAMETER = re.compile(r"(?i)(\bpassword\s*=\s*)('[^']*'|[^&\s]*)")


def mask_url(url: str) -> str:
    """The URL with any password (in the user part or a ``password=`` parameter) replaced
    by ``***``. A URL too malformed to parse is not echoed at all, since where its password
    is cannot be told."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a non-numeric port
    except ValueError:
        return "<malformed URL>"
    masked = url  # otherwise exactly as given: memory:// stays memory://
    if parts.password is not None:
        userinfo, host = parts.netloc.rsplit("@", 1)
        start = url.index("//") + 2  # the netloc is the text right after it
        masked = f"{url[:start]}{userinfo.split(':', 1)[0]}:***@{host}"
        masked += url[start + len(parts.netloc) :]
    # a password=... parameter, in the query or in a libpq "key=value" string
    return _PASSWORD_PARAMETER.sub(r"\1***", masked)


def with_query(url: str, query: str) -> str:
    """``url`` with its query replaced by ``query`` (none if empty), all else kept as
    written: ``urlunsplit`` would turn ``postgresql:///db?host=...`` (an empty host, which
    libpq reads as "the host parameter or the local socket") into ``postgresql:/db``."""
    base = url.split("?", 1)[0]
    return f"{base}?{query}" if query else base


class MaskedUrl(str):
    """A URL that shows itself masked in ``repr``: what pytest prints for a function's
    arguments in a traceback, and what ``{url!r}`` gives. ``str`` and string operations
    still give the URL itself (to connect with)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_url(self))
