"""Validation of ids before they become a URL path segment.

An id comes from an agent, which may have been talked into anything: `../users`, `x?y=`,
an encoded slash. Rather than percent-encoding and hoping every proxy decodes alike, only
ids made of RFC 3986 *unreserved* characters (`A-Z a-z 0-9 - . _ ~`) are accepted: they
mean the same thing encoded or not, everywhere. Genesys ids are UUIDs, well inside that set.
"""

from __future__ import annotations

import re

from iac_mcp.genesys.errors import InvalidIdError

MAX_ID_LENGTH = 128
_ALLOWED = re.compile(r"[A-Za-z0-9._~-]+")
_NAMED = {"/": "'/'", "\\": "'\\'", "?": "'?'", "#": "'#'", "%": "'%'"}


def validate_id(value: str, kind: str) -> str:
    """Return `value` if it is safe as a path segment; raise `InvalidIdError` otherwise."""
    if not isinstance(value, str) or not value:
        raise InvalidIdError(kind, "it is empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(kind, f"it is {len(value)} characters long, more than {MAX_ID_LENGTH}")
    if ".." in value or value == ".":
        raise InvalidIdError(kind, "it contains '..' or is '.', a relative path segment")
    if _ALLOWED.fullmatch(value):
        return value
    bad = next(ch for ch in value if not _ALLOWED.fullmatch(ch))
    if bad in _NAMED:
        shown = _NAMED[bad]
    elif bad.isspace():
        shown = "whitespace"
    elif not bad.isprintable():
        shown = "a control character"
    else:
        shown = repr(bad)
    raise InvalidIdError(kind, f"it contains {shown}; ids may only hold letters, digits and - . _ ~")
